"""CodexLang errors: every failure of the lexer, parser and checker is a ``CodexError``.

An error knows where it happened (file, 1-based line and column, in code points)
and renders the way codexlang.md shows it::

    sheet.codex:7:19: type error: ∇· expects a vector field, got a scalar field (u)
        cell heat : u + ∇·u
                          ^
    hint: did you mean Δu (= ∇·∇u)?

``CodexErrors`` carries several errors at once: a sheet reports all its errors
together, sorted by position, not just the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stages.codex.ast import Span


class CodexError(Exception):
    """One CodexLang error. ``kind`` is the label in the rendered line, ``code`` a stable slug."""

    kind = "error"
    # Shown when a raise site has nothing more specific to say: every error carries a hint.
    default_hint = "see docs/codexlang.md"

    def __init__(
        self,
        message: str,
        *,
        file: str = "<sheet>",
        line: int = 1,
        col: int = 1,
        hint: str | None = None,
        code: str = "error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.hint = hint if hint is not None else self.default_hint
        self.code = code

    @classmethod
    def at(
        cls, span: Span | None, message: str, *, hint: str | None = None, code: str | None = None
    ) -> CodexError:
        """An error positioned at ``span`` (1:1 of an unnamed sheet when the node has no span)."""
        where = span or Span(1, 1)
        return cls(message, file=where.file, line=where.line, col=where.col, hint=hint, code=code or cls.kind)

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def __str__(self) -> str:
        return f"{self.location}: {self.kind}: {self.message}"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.col, self.message)

    def render(self, source_text: str | None = None) -> str:
        """The error line, the offending source line with a caret under the column, and the hint."""
        lines = [str(self)]
        source_line = _source_line(source_text, self.line)
        if source_line is not None:
            prefix = "".join(ch if ch == "\t" else " " for ch in source_line[: max(self.col - 1, 0)])
            lines.append("    " + source_line)
            lines.append("    " + prefix.ljust(max(self.col - 1, 0)) + "^")
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def to_item(self, source_text: str | None = None) -> dict[str, Any]:
        """The ``CodexErrorItem`` form used in ``StageError`` payloads."""
        return {
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "hint": self.hint,
            "code": self.code,
            "rendered": self.render(source_text),
        }

    def flatten(self) -> list[CodexError]:
        return [self]


class CodexSyntaxError(CodexError):
    kind = "syntax error"
    default_hint = "see the statement and operator tables in docs/codexlang.md"


class CodexNameError(CodexError):
    """Unknown, reserved or duplicate names."""

    kind = "name error"
    default_hint = "names are defined by param, let and cell statements"


class CodexCycleError(CodexError):
    kind = "cycle error"
    default_hint = "references between lets and cells must not loop"


class CodexTypeError(CodexError):
    """A shape/type mismatch at an operator or function."""

    kind = "type error"
    default_hint = "the operator table in docs/codexlang.md lists what each operator accepts"


class CodexGridError(CodexError):
    kind = "grid error"
    default_hint = "grid AxB[xC] [spacing H] [boundary periodic|neumann|dirichlet] [time T step DT]"


class CodexEvolveError(CodexError):
    kind = "evolve error"
    default_hint = "⟲n x ← BODY: n a whole number, x bound by a let or (x = START), BODY keeps x's type"


class CodexLimitError(CodexError):
    """A sheet that is valid but too large to ship (nesting depth, inlined size)."""

    kind = "limit error"
    default_hint = "split the work into smaller lets and cells"


class CodexErrors(CodexError):
    """Several errors of one sheet, sorted by position; positioned at the first one."""

    kind = "errors"

    def __init__(self, errors: Iterable[CodexError]) -> None:
        flat: list[CodexError] = []
        seen: set[tuple[str, int, int, str, str]] = set()
        for error in errors:
            for item in error.flatten():
                key = (item.file, item.line, item.col, item.kind, item.message)
                if key not in seen:
                    seen.add(key)
                    flat.append(item)
        if not flat:
            raise ValueError("CodexErrors needs at least one error")
        flat.sort(key=CodexError.sort_key)
        first = flat[0]
        count = len(flat)
        summary = first.message if count == 1 else f"{count} errors, first: {first.message}"
        super().__init__(
            summary, file=first.file, line=first.line, col=first.col, hint=first.hint, code=first.code
        )
        self.errors: list[CodexError] = flat

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)

    def render(self, source_text: str | None = None) -> str:
        return "\n".join(e.render(source_text) for e in self.errors)

    def flatten(self) -> list[CodexError]:
        return list(self.errors)


def raise_all(errors: list[CodexError]) -> None:
    """Raise nothing when ``errors`` is empty, else one ``CodexErrors`` holding them all."""
    if errors:
        raise CodexErrors(errors)


def _source_line(source_text: str | None, line: int) -> str | None:
    if source_text is None or line < 1:
        return None
    lines = source_lines(source_text)
    if line > len(lines):
        return None
    return lines[line - 1]


def source_lines(text: str) -> list[str]:
    """Lines exactly as the lexer numbers them: split on ``\\n`` only, a trailing ``\\r`` dropped."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
