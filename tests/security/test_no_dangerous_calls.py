"""The package tree holds no code-execution, unpickling, shell or string-built-SQL calls.

quality.md (Security): no eval/exec/pickle anywhere, SQL only through bound parameters.
Python files are checked on their syntax tree rather than by text, so comments, docstrings
and methods that merely share a name (``model.eval()``, ``self.eval(node)``,
``re.compile``) never count, while a real call always does. The HUD's JavaScript is checked
by pattern. A hit fails naming ``file:line`` and the rule.

Rules (Python):
* ``eval``/``exec``/``compile`` called as builtins (bare name or ``builtins.X``);
* any import of a pickle-family module (pickle, _pickle, cPickle, cloudpickle, dill, shelve,
  marshal, joblib) and any name or attribute containing ``pickle`` (``pd.read_pickle`` …);
  the keyword ``allow_pickle`` is allowed only with the literal ``False``;
* ``yaml.load``/``yaml.load_all`` without ``Loader=SafeLoader|CSafeLoader|BaseLoader``, and
  ``yaml.unsafe_load*``/``yaml.full_load*``;
* a ``shell=`` keyword other than literal ``False``, ``os.system``, ``os.popen``;
* ``sqlalchemy.text`` or ``execute``/``executemany``/``executescript``/``exec_driver_sql`` given
  a string built at run time (f-string, ``%``, ``+``, ``.format``) from anything but literals
  and UPPER_CASE module constants (``f"PRAGMA busy_timeout={TIMEOUT_MS}"`` is fine: PRAGMAs
  take no bound parameters and a constant is not input);
* ``torch.load`` without ``weights_only=True``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCANNED_ROOTS = ("contracts", "stages", "bus", "store", "replay", "basin", "hud", "beamline", "scripts")
SKIPPED_DIRS = {"__pycache__", ".venv", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
THIS_FILE = Path(__file__).resolve()

CODE_BUILTINS = {"eval", "exec", "compile"}
PICKLE_MODULES = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "shelve", "marshal", "joblib"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader"}
UNSAFE_YAML_CALLS = {"unsafe_load", "unsafe_load_all", "full_load", "full_load_all"}
SQL_EXEC_METHODS = {"execute", "executemany", "executescript", "exec_driver_sql"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}"


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _is_literal(node: ast.AST | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


_CONSTANT_NAME = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


def _is_constant(node: ast.AST) -> bool:
    """A literal or a module constant by naming convention (``SQLITE_BUSY_TIMEOUT_MS``): not input."""
    return isinstance(node, ast.Constant) or (isinstance(node, ast.Name) and bool(_CONSTANT_NAME.match(node.id)))


def _is_placeholder(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == "?"


def _is_placeholder_list(node: ast.AST) -> bool:
    """``"," .join("?" * n)``, ``",".join("?" for _ in xs)``, ``",".join(["?"] * n)``: only bound
    parameter markers, however many — the values still travel as parameters."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and _is_constant(node.func.value) and len(node.args) == 1 and not node.keywords):
        return False
    (items,) = node.args
    if isinstance(items, ast.BinOp) and isinstance(items.op, ast.Mult):
        sides = (items.left, items.right)
        return any(_is_placeholder(side) or (isinstance(side, ast.List) and len(side.elts) == 1
                                             and _is_placeholder(side.elts[0])) for side in sides)
    return isinstance(items, ast.GeneratorExp | ast.ListComp) and _is_placeholder(items.elt)


def _is_string_expr(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    return isinstance(node, ast.BinOp) and (_is_string_expr(node.left) or _is_string_expr(node.right))


def _is_runtime_string(node: ast.AST) -> bool:
    """A string assembled at run time from non-constant values (the shape of injectable SQL)."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) and not _is_constant(part.value)
                   and not _is_placeholder_list(part.value) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add) and _is_string_expr(node):
        return any(
            _is_runtime_string(side) if _is_string_expr(side) else not _is_constant(side)
            for side in (node.left, node.right)
        )
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        receiver = node.func.value
        arguments = [*node.args, *(kw.value for kw in node.keywords)]
        return (isinstance(receiver, ast.Constant) and isinstance(receiver.value, str)
                and not all(_is_constant(a) for a in arguments))
    return False


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []
        # Local name -> the dotted thing it was imported as ("np" -> "numpy", "text" -> "sqlalchemy.text").
        self.aliases: dict[str, str] = {}

    def _hit(self, node: ast.AST, rule: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), rule))

    def _resolve(self, node: ast.AST) -> str | None:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        base = self.aliases.get(head, head)
        return f"{base}.{rest}" if rest else base

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in PICKLE_MODULES:
                self._hit(node, f"import of {alias.name}")
            self.aliases[(alias.asname or alias.name).split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if module.split(".")[0] in PICKLE_MODULES:
            self._hit(node, f"import from {module}")
        for alias in node.names:
            if "pickle" in alias.name.lower():
                self._hit(node, f"import of {alias.name}")
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if "pickle" in node.id.lower():
            self._hit(node, f"pickle use: {node.id}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if "pickle" in node.attr.lower():
            self._hit(node, f"pickle use: .{node.attr}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        target = self._resolve(func) or ""
        keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg is not None}

        if (isinstance(func, ast.Name) and func.id in CODE_BUILTINS and func.id not in self.aliases) or (
            target in {f"builtins.{name}" for name in CODE_BUILTINS}
        ):
            self._hit(node, f"builtin {target.rsplit('.', 1)[-1]}()")
        if "allow_pickle" in keywords and not _is_literal(keywords["allow_pickle"], False):
            self._hit(node, "allow_pickle not literally False")
        if "shell" in keywords and not _is_literal(keywords["shell"], False):
            self._hit(node, "shell= other than False")
        if target in {"os.system", "os.popen"}:
            self._hit(node, f"{target}() runs a shell")
        self._check_yaml(node, target, keywords)
        self._check_sql(node, func, target)
        if target in {"torch.load", "torch.serialization.load"} and not _is_literal(
            keywords.get("weights_only"), True
        ):
            self._hit(node, "torch.load without weights_only=True")
        self.generic_visit(node)

    def _check_yaml(self, node: ast.Call, target: str, keywords: dict[str | None, ast.expr]) -> None:
        if not target.startswith("yaml."):
            return
        name = target.split(".", 1)[1]
        if name in UNSAFE_YAML_CALLS:
            self._hit(node, f"{target}() constructs arbitrary objects")
        elif name in {"load", "load_all"}:
            loader = keywords.get("Loader")
            if loader is None and len(node.args) > 1:
                loader = node.args[1]
            loader_name = (self._resolve(loader) or "") if loader is not None else ""
            if loader_name.rsplit(".", 1)[-1] not in SAFE_YAML_LOADERS:
                self._hit(node, f"{target}() without a safe Loader")

    def _check_sql(self, node: ast.Call, func: ast.expr, target: str) -> None:
        is_text = target == "sqlalchemy.text" or target.startswith("sqlalchemy.") and target.endswith(".text")
        is_exec = isinstance(func, ast.Attribute) and func.attr in SQL_EXEC_METHODS
        if (is_text or is_exec) and node.args and _is_runtime_string(node.args[0]):
            self._hit(node, f"SQL string built at run time passed to {target or 'execute'}()")


JS_RULES = (
    (re.compile(r"(?<![\w.$])eval\s*\("), "eval() in JavaScript"),
    (re.compile(r"\bnew\s+Function\s*\("), "new Function() in JavaScript"),
    (re.compile(r"\bdocument\.write(?:ln)?\s*\("), "document.write() in JavaScript"),
    # Clearing with "" is fine; anything else injects markup built from event data.
    (re.compile(r"\.(?:inner|outer)HTML\s*\+?=(?!=)(?!\s*(?:\"\"|'')\s*;)"), "markup assigned to innerHTML"),
)


def scan_python(source: str, path: str) -> list[Finding]:
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        return [Finding(path, exc.lineno or 0, f"cannot parse: {exc.msg}")]
    scanner = _Scanner(path)
    scanner.visit(tree)
    return scanner.findings


def scan_javascript(source: str, path: str) -> list[Finding]:
    findings = []
    for number, line in enumerate(source.splitlines(), start=1):
        code = line.split("//", 1)[0] if "://" not in line else line
        if code.lstrip().startswith(("*", "/*")):
            continue
        findings += [Finding(path, number, rule) for pattern, rule in JS_RULES if pattern.search(code)]
    return findings


def _tree_files() -> list[Path]:
    files = []
    for root in SCANNED_ROOTS:
        for path in sorted((REPO / root).rglob("*")):
            if SKIPPED_DIRS.intersection(path.relative_to(REPO).parts) or path.resolve() == THIS_FILE:
                continue
            if path.is_file() and path.suffix in {".py", ".js", ".html"}:
                files.append(path)
    return files


def test_package_tree_has_no_dangerous_calls() -> None:
    files = _tree_files()
    assert len([f for f in files if f.suffix == ".py"]) > 50  # the walk really found the packages
    findings: list[Finding] = []
    for path in files:
        relative = str(path.relative_to(REPO))
        source = path.read_text(encoding="utf-8")
        findings += scan_python(source, relative) if path.suffix == ".py" else scan_javascript(source, relative)
    assert not findings, "dangerous calls found:\n" + "\n".join(str(f) for f in findings)


# --- the scanner itself: every rule fires on a real call and stays quiet on look-alikes ------------

DANGEROUS = [
    ("x = eval(user_text)", "builtin eval"),
    ("exec(code, {})", "builtin exec"),
    ("import builtins\nbuiltins.eval('1')", "builtin eval"),
    ("compile(src, '<s>', 'exec')", "builtin compile"),
    ("import pickle", "import of pickle"),
    ("import cloudpickle as cp", "import of cloudpickle"),
    ("from pickle import loads", "import from pickle"),
    ("import pandas as pd\npd.read_pickle('f')", "pickle use"),
    ("import numpy as np\nnp.load(p, allow_pickle=True)", "allow_pickle"),
    ("np.load(p, allow_pickle=flag)", "allow_pickle"),
    ("import yaml\nyaml.load(stream)", "without a safe Loader"),
    ("import yaml\nyaml.load(stream, Loader=yaml.Loader)", "without a safe Loader"),
    ("import yaml\nyaml.unsafe_load(stream)", "arbitrary objects"),
    ("import subprocess\nsubprocess.run(cmd, shell=True)", "shell="),
    ("import os\nos.system('ls ' + d)", "os.system"),
    ("from sqlalchemy import text\nq = text(f\"SELECT * FROM t WHERE id = {i}\")", "SQL string"),
    ("import sqlalchemy as sa\nq = sa.text('SELECT %s' % i)", "SQL string"),
    ("cursor.execute(f\"DELETE FROM t WHERE k = '{k}'\")", "SQL string"),
    ("conn.exec_driver_sql('SELECT {}'.format(n))", "SQL string"),
    ("cursor.execute('SELECT * FROM t WHERE a = ' + A + name)", "SQL string"),
    ("cursor.execute(f'PRAGMA busy_timeout={timeout}')", "SQL string"),
    ("cursor.execute(f\"SELECT * FROM t WHERE k IN ({','.join(keys)})\")", "SQL string"),
    ("cursor.execute(f\"SELECT * FROM t WHERE k IN ({','.join(repr(k) for k in keys)})\")", "SQL string"),
    ("import torch\nm = torch.load(path)", "weights_only"),
    ("import torch\nm = torch.load(path, weights_only=False)", "weights_only"),
    ("from torch import load\nm = load(path)", "weights_only"),
    ("not python (", "cannot parse"),
]

HARMLESS = [
    "model.eval()\nself.eval(node)\nlowering.eval(node.args[0])",
    "class Interp:\n    def eval(self, node):\n        return self.eval(node)",
    "import re\nPAT = re.compile(r'x')\nj = jax.jit(f).lower(x).compile()",
    "# eval(x) and pickle in a comment\nx = 1",
    '"""Docstring: never eval( or exec( or pickle, yaml.load( or shell=True."""',
    "import numpy as np\na = np.load(p, allow_pickle=False)\nb = np.load(p)",
    "import yaml\nyaml.safe_load(s)\nyaml.load(s, Loader=yaml.SafeLoader)\nyaml.load(s, yaml.CSafeLoader)",
    "import subprocess\nsubprocess.run(['ls', d], shell=False, check=True)",
    "from sqlalchemy import text\nq = text('SELECT * FROM t WHERE id = :id')\nconn.execute(q, {'id': i})",
    "label = self.text(f'{x}')\nmsg = f'execute {n}'\nconn.execute(text('SELECT 1'))",
    "cursor.execute(f'PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}')\ncursor.execute('PRAGMA x=' + _LIMIT)",
    "import torch\nm = torch.load(path, weights_only=True, map_location='cpu')",
    "c.execute(f\"SELECT a FROM t WHERE id IN ({','.join('?' * len(ids))})\", ids)",
    "c.execute(f'SELECT a FROM t WHERE k IN ({\", \".join(\"?\" for _ in KS)})', KS)",
]


@pytest.mark.parametrize("source, rule", DANGEROUS)
def test_scanner_flags_each_dangerous_pattern(source: str, rule: str) -> None:
    findings = scan_python(source, "sample.py")
    assert any(rule in f.rule for f in findings), findings
    assert all(f.line >= 1 for f in findings)


@pytest.mark.parametrize("source", HARMLESS)
def test_scanner_ignores_look_alikes(source: str) -> None:
    assert scan_python(source, "sample.py") == []


def test_scanner_reports_the_line_of_the_hit() -> None:
    findings = scan_python("a = 1\n\nb = eval(a)\n", "pkg/mod.py")
    assert [str(f) for f in findings] == ["pkg/mod.py:3: builtin eval()"]


def test_javascript_rules() -> None:
    bad = "const f = eval(s);\nconst g = new Function('a', body);\nel.innerHTML = row.name;\n"
    assert [f.line for f in scan_javascript(bad, "hud.js")] == [1, 2, 3]
    good = "// eval(x) in a comment\nel.innerHTML = \"\";\nnode.textContent = name;\nobj.evaluate(x);\nif (el.innerHTML === s) {}\n"
    assert scan_javascript(good, "hud.js") == []
