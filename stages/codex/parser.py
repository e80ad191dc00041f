"""CodexLang front end: ``parse_sheet`` (statements), ``parse_expr`` and ``parse_predicate``.

Statements are one per line (codexlang.md "Statements"). A line that fails to
parse is reported and skipped; the other lines are still parsed, so a sheet
reports every syntax error at once. Any input, however malformed, raises only
``CodexError`` subclasses.
"""

from __future__ import annotations

import math

from stages.codex.ast import BUILTIN_NAMES, FUNCTIONS, Node, Span
from stages.codex.errors import (
    CodexError,
    CodexGridError,
    CodexNameError,
    CodexSyntaxError,
    raise_all,
    source_lines,
)
from stages.codex.exprparser import PREDICATE_OPS, ExprParser
from stages.codex.glyphs import PRECISIONS, RESERVED_WORDS
from stages.codex.grid import BOUNDARIES, Boundary, GridSpec
from stages.codex.lexer import Token, tokenize_line
from stages.codex.sheet import Cell, Definition, DefinitionKind, Sheet

__all__ = ["as_text", "parse_expr", "parse_predicate", "parse_sheet", "parse_sheet_partial"]

MAX_GRID_POINTS_PER_AXIS = 1 << 20


def as_text(source: str | bytes, filename: str) -> str:
    """Source text; bytes must be UTF-8 (a bad byte is a ``CodexSyntaxError`` at its position)."""
    if isinstance(source, str):
        return source
    try:
        return bytes(source).decode("utf-8")
    except UnicodeDecodeError as exc:
        before = bytes(source[: exc.start]).decode("utf-8")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        raise CodexSyntaxError(f"the sheet is not valid UTF-8 (byte 0x{source[exc.start]:02x})", file=filename,
                               line=line, col=col, hint="save the file as UTF-8", code="encoding") from None


def parse_expr(text: str | bytes, filename: str = "<expr>") -> Node:
    """One expression (may span lines). Raises ``CodexSyntaxError`` on malformed input."""
    text = as_text(text, filename)
    parser = ExprParser(_tokens_of(text, filename), filename)
    node = parser.expression(0)
    _expect_end(parser, "after the expression")
    return node


def parse_predicate(text: str | bytes, filename: str = "<predicate>") -> Node:
    """A predicate (goal or SoulLaw rule): a comparison, connective, ⊤/⊥, name or dotted field."""
    node = parse_expr(text, filename)
    if node.op not in PREDICATE_OPS and node.op not in ("ref", "call"):
        span = node.span or Span(1, 1, filename)
        raise CodexSyntaxError.at(
            span,
            "expected a predicate (a comparison such as energy < 1, or ⊤/⊥)",
            hint="compare the value with something: norm(u) < 1",
        )
    return node


def parse_sheet(text: str | bytes, filename: str = "<sheet>") -> Sheet:
    """Parse a whole sheet; raises ``CodexErrors`` listing every syntax/duplicate error."""
    sheet, errors = parse_sheet_partial(text, filename)
    raise_all(errors)
    return sheet


def parse_sheet_partial(text: str | bytes, filename: str = "<sheet>") -> tuple[Sheet, list[CodexError]]:
    """The sheet made of every statement that parsed, plus the errors of those that did not."""
    text = as_text(text, filename)
    builder = _SheetBuilder(text, filename)
    for number, line in enumerate(source_lines(text), start=1):
        builder.line(number, line)
    return builder.finish(), builder.errors


def _tokens_of(text: str, filename: str) -> list[Token]:
    tokens: list[Token] = []
    lines = source_lines(text)
    for number, line in enumerate(lines, start=1):
        tokens.extend(t for t in tokenize_line(line, number, filename) if t.kind != "end")
    tokens.append(Token("end", "", None, len(lines), len(lines[-1]) + 1))
    return tokens


def _expect_end(parser: ExprParser, context: str) -> None:
    tok = parser.peek()
    if tok.kind == "end":
        return
    hint = "is an operator missing? (e.g. 2 * x)" if tok.kind in ("name", "num", "str") else None
    raise parser.error(tok, f"unexpected {tok.describe()} {context}", hint)


class _SheetBuilder:
    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.file = filename
        self.errors: list[CodexError] = []
        self.name: str | None = None
        self.name_span: Span | None = None
        self.grid = GridSpec()
        self.grid_span: Span | None = None
        self.params: dict[str, float] = {}
        self.lets: dict[str, Node] = {}
        self.cells: list[Cell] = []
        self.entanglements: list[list[str]] = []
        self.entanglement_spans: list[list[Span]] = []
        self.definitions: dict[str, Definition] = {}
        self.broken: set[str] = set()

    def finish(self) -> Sheet:
        return Sheet(
            name=self.name,
            grid=self.grid,
            params=self.params,
            lets=self.lets,
            cells=self.cells,
            entanglements=self.entanglements,
            source=self.text,
            filename=self.file,
            definitions=self.definitions,
            entanglement_spans=self.entanglement_spans,
            grid_span=self.grid_span,
            broken=frozenset(self.broken),
        )

    def span(self, tok: Token) -> Span:
        return Span(tok.line, tok.col, self.file)

    def line(self, number: int, text: str) -> None:
        try:
            tokens = tokenize_line(text, number, self.file)
        except CodexError as exc:
            self.errors.append(exc)
            self.mark_broken(text.split())
            return
        if tokens[0].kind == "end":
            return
        try:
            self.statement(tokens)
        except CodexError as exc:
            self.errors.append(exc)
            self.mark_broken([t.text for t in tokens[:2]])

    def mark_broken(self, words: list[str]) -> None:
        """Remember the name a failed let/cell/param line meant to define."""
        if len(words) >= 2 and words[0] in ("let", "cell", "param"):
            name = words[1]
            end = 0
            while end < len(name) and (name[end] == "_" or name[end].isalnum()):
                end += 1
            if end:
                self.broken.add(name[:end])

    def statement(self, tokens: list[Token]) -> None:
        parser = ExprParser(tokens, self.file)
        head = tokens[0]
        if head.kind == "name" and parser.is_op("↔", 1):
            self.entangle(parser)
            return
        keyword = head.text if head.kind == "name" else ""
        handler = {
            "sheet": self.sheet_name,
            "grid": self.grid_statement,
            "param": self.param,
            "let": self.let,
            "cell": self.cell,
        }.get(keyword)
        if handler is None:
            hint = "did you mean cell NAME : EXPR?" if parser.is_op(":", 1) else None
            if parser.is_op("=", 1):
                hint = f"did you mean let {head.text} = …?"
            raise parser.error(
                head,
                f"expected a statement (sheet, grid, param, let, cell or a ↔ b), found {head.describe()}",
                hint,
            )
        parser.advance()
        handler(parser)

    def define(self, parser: ExprParser, kind: DefinitionKind) -> Token:
        tok = parser.advance()
        if tok.kind != "name":
            raise parser.error(tok, f"expected a name after '{kind}', found {tok.describe()}")
        name = tok.text
        reason = _reserved_reason(name)
        if reason:
            self.broken.add(name)
            raise CodexNameError.at(
                self.span(tok),
                f"'{name}' {reason} and cannot be redefined",
                hint=f"choose another name, e.g. {name}_1",
                code="reserved-name",
            )
        previous = self.definitions.get(name)
        if previous is not None:
            raise CodexNameError.at(
                self.span(tok),
                f"duplicate name '{name}': already defined as a {previous.kind} at "
                f"{previous.span.file}:{previous.span.line}:{previous.span.col}",
                hint="params, lets and cells share one namespace; rename one of them",
                code="duplicate",
            )
        self.definitions[name] = Definition(kind, self.span(tok))
        return tok

    def sheet_name(self, parser: ExprParser) -> None:
        tok = parser.advance()
        if tok.kind != "name":
            raise parser.error(tok, f"expected the sheet's name, found {tok.describe()}")
        if self.name_span is not None:
            raise parser.error(tok, f"the sheet is already named '{self.name}' (line {self.name_span.line})")
        _expect_end(parser, "after the sheet name")
        self.name, self.name_span = tok.text, self.span(tok)

    def param(self, parser: ExprParser) -> None:
        tok = self.define(parser, "param")
        parser.expect("=", f"after param {tok.text}", hint=f"write param {tok.text} = 0.01")
        sign = 1
        if parser.is_op("-"):
            parser.advance()
            sign = -1
        value_tok = parser.advance()
        if value_tok.kind != "num" or not isinstance(value_tok.value, int | float):
            self.broken.add(tok.text)
            raise parser.error(
                value_tok,
                f"a param is a number, found {value_tok.describe()}",
                hint=f"use let {tok.text} = … for expressions",
            )
        _expect_end(parser, f"after the value of param {tok.text}")
        self.params[tok.text] = sign * value_tok.value

    def let(self, parser: ExprParser) -> None:
        tok = self.define(parser, "let")
        try:
            parser.expect("=", f"after let {tok.text}", hint=f"lets are written let {tok.text} = EXPR")
            expr = parser.expression(0)
            _expect_end(parser, "after the expression")
        except CodexError:
            self.broken.add(tok.text)
            raise
        self.lets[tok.text] = expr

    def cell(self, parser: ExprParser) -> None:
        tok = self.define(parser, "cell")
        try:
            parser.expect(
                ":", f"after the cell id {tok.text}", hint=f"cells are written cell {tok.text} : EXPR"
            )
            expr = parser.expression(0)
            goal, precision = self.cell_options(parser)
        except CodexError:
            self.broken.add(tok.text)
            raise
        self.cells.append(Cell(tok.text, expr, goal, precision, self.span(tok)))

    def cell_options(self, parser: ExprParser) -> tuple[Node | None, str | None]:
        goal: Node | None = None
        precision: str | None = None
        while True:
            tok = parser.peek()
            if tok.kind == "end":
                return goal, precision
            if tok.kind == "name" and tok.text == "goal" and goal is None:
                parser.advance()
                parser.expect(":", "after goal", hint="write goal: energy < 1")
                goal = parser.expression(0)
            elif tok.kind == "name" and tok.text == "precision" and precision is None:
                parser.advance()
                value = parser.advance()
                if value.kind != "name" or value.text not in PRECISIONS:
                    raise parser.error(
                        value, f"unknown precision {value.describe()}", hint="one of " + ", ".join(PRECISIONS)
                    )
                precision = value.text
            else:
                _expect_end(parser, "after the expression")

    def entangle(self, parser: ExprParser) -> None:
        names: list[str] = []
        spans: list[Span] = []
        while True:
            tok = parser.advance()
            if tok.kind != "name":
                raise parser.error(tok, f"expected a cell id, found {tok.describe()}", hint="write a ↔ b ↔ c")
            names.append(tok.text)
            spans.append(self.span(tok))
            if not parser.is_op("↔"):
                break
            parser.advance()
        _expect_end(parser, "in the entanglement")
        self.entanglements.append(names)
        self.entanglement_spans.append(spans)

    def grid_statement(self, parser: ExprParser) -> None:
        head = parser.tokens[0]
        if self.grid_span is not None:
            raise CodexGridError.at(
                self.span(head),
                f"the grid is already set on line {self.grid_span.line}",
                hint="a sheet has one grid statement",
                code="grid",
            )
        size = parser.advance()
        if size.kind == "dims" and isinstance(size.value, tuple):
            shape: tuple[int, ...] = size.value
        elif size.kind == "num" and isinstance(size.value, int):
            shape = (size.value,)
        else:
            raise CodexGridError.at(
                self.span(size), f"expected the grid size (e.g. 64x64), found {size.describe()}", code="grid"
            )
        if not 1 <= len(shape) <= 3:
            raise CodexGridError.at(self.span(size), f"a grid has 1 to 3 axes, got {len(shape)}", code="grid")
        if any(not 1 <= n <= MAX_GRID_POINTS_PER_AXIS for n in shape):
            raise CodexGridError.at(
                self.span(size),
                f"grid axes need 1 to {MAX_GRID_POINTS_PER_AXIS} points, got {size.text}",
                code="grid",
            )
        numbers, boundary = self.grid_options(parser)
        steps, dt = numbers.get("time"), numbers.get("step")
        if (steps is None) != (dt is None):
            raise CodexGridError.at(self.span(head), "a time axis needs both 'time T' and 'step DT'",
                                    hint="e.g. grid 64 time 32 step 0.01", code="grid")
        self.grid = GridSpec(shape=shape, spacing=float(numbers.get("spacing", 1.0 / shape[0])), boundary=boundary,
                             time_steps=int(steps) if steps is not None else None,
                             dt=float(dt) if dt is not None else None)
        self.grid_span = self.span(head)

    def grid_options(self, parser: ExprParser) -> tuple[dict[str, int | float], Boundary]:
        """``spacing H`` ``boundary B`` ``time T`` ``step DT`` in any order, each at most once."""
        numbers: dict[str, int | float] = {}
        boundary: Boundary | None = None
        while True:
            tok = parser.advance()
            if tok.kind == "end":
                return numbers, boundary or "periodic"
            word = tok.text if tok.kind == "name" else ""
            if word not in ("spacing", "boundary", "time", "step"):
                raise CodexGridError.at(self.span(tok), f"unexpected {tok.describe()} in the grid statement",
                                        hint="grid AxB [spacing H] [boundary periodic|neumann|dirichlet] "
                                             "[time T step DT]", code="grid")
            if word in numbers or (word == "boundary" and boundary is not None):
                raise CodexGridError.at(self.span(tok), f"'{word}' is given twice", code="grid")
            value = parser.advance()
            if word == "boundary":
                boundary = _boundary(value)
                if boundary is None:
                    raise CodexGridError.at(self.span(value), f"unknown boundary {value.describe()}",
                                            hint="one of " + ", ".join(BOUNDARIES), code="grid")
                continue
            number = value.number
            if value.kind != "num" or not math.isfinite(number) or number <= 0:
                raise CodexGridError.at(self.span(value), f"'{word}' needs a positive number, found {value.describe()}",
                                        code="grid")
            if word == "time" and not isinstance(number, int):
                raise CodexGridError.at(self.span(value), "'time' needs a whole number of steps", code="grid")
            numbers[word] = number


def _boundary(tok: Token) -> Boundary | None:
    for name in ("periodic", "neumann", "dirichlet"):
        if tok.kind == "name" and tok.text == name:
            return name
    return None


def _reserved_reason(name: str) -> str | None:
    if name in BUILTIN_NAMES:
        return "is a built-in name"
    if name in FUNCTIONS:
        return "is a built-in function"
    if name in RESERVED_WORDS:
        return "is a keyword"
    return None
