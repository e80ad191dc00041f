"""Pratt parser for CodexLang expressions and predicates (one grammar serves both).

Binding powers are in ``glyphs``: prefix operators (∇ ∇· ∇× Δ □ d/dt ⧖ ¬) bind
tightest, then ^ (right), * /, ⊗, •, ×, + -, ⊕ ⊖, the pipe →, evolve bodies,
comparisons (non-chaining, ``≈ v ± tol``), not, ∧, ∨, ⇒ (right), ⇔.

Choices the grammar makes (documented for users in docs/codexlang.md):

* Operator words (``grad lap div``…) are operators only when an operand follows
  (``lap u``, ``lap(u)``); otherwise they are names, so a cell may be called ``lap``.
* ``¬`` is phase inversion, except when its operand is a comparison, a connective,
  ⊤/⊥, ``finite`` or a dotted field: then it is logical not. ``not`` is always logical.
* Unary ``-`` binds looser than ``^`` (``-x^2`` is ``-(x^2)``); ``-3`` is the literal −3.
* ``d/dt`` is the time derivative only when written without spaces; ``d / dt`` divides.
* ``a <-1`` in a predicate reads as ``a < -1`` (``<-`` only binds an evolve variable).
* Evolve: ``⟲n x ← E`` (init: x's binding) or ``⟲n (x = INIT) ← E`` (explicit start).
"""

from __future__ import annotations

from stages.codex.ast import Node, Scalar, Span
from stages.codex.errors import CodexSyntaxError
from stages.codex.glyphs import (
    BP_COMPARE,
    BP_EVOLVE,
    BP_NOT,
    BP_PIPE,
    BP_PREFIX,
    BP_UMINUS,
    COMPARE,
    INFIX,
    INFIX_WORDS,
    OPERAND_START_OPS,
    PREFIX_GLYPHS,
    PREFIX_WORDS,
)
from stages.codex.lexer import Token

MAX_NESTING = 64
MAX_TREE_DEPTH = 128
PREDICATE_OPS = frozenset(
    set(COMPARE.values()) | {"approx", "and", "or", "implies", "iff", "not", "bool", "attr"}
)
STOP_WORDS = frozenset({"goal", "precision", "not"})


class ExprParser:
    """Parses expressions from a token list (one statement's tokens, ending with ``end``)."""

    def __init__(self, tokens: list[Token], file: str = "<sheet>") -> None:
        self.tokens = tokens
        self.pos = 0
        self.file = file
        self.nesting = 0
        self.depths: dict[int, int] = {}

    # -- token helpers -------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.peek()
        if tok.kind != "end":
            self.pos += 1
        return tok

    def is_op(self, value: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "op" and tok.value == value

    def span(self, tok: Token) -> Span:
        return Span(tok.line, tok.col, self.file)

    def error(self, tok: Token, message: str, hint: str | None = None) -> CodexSyntaxError:
        return CodexSyntaxError(message, file=self.file, line=tok.line, col=tok.col, hint=hint, code="syntax")

    def expect(self, value: str, context: str, hint: str | None = None) -> Token:
        tok = self.peek()
        if tok.kind == "op" and tok.value == value:
            return self.advance()
        raise self.error(tok, f"expected '{value}' {context}, found {tok.describe()}", hint)

    def node(
        self,
        op: str,
        tok: Token,
        args: tuple[Node, ...] = (),
        value: Scalar = None,
        kw: tuple[tuple[str, Node], ...] = (),
    ) -> Node:
        """Build a node, refusing trees deeper than ``MAX_TREE_DEPTH`` (left-nested chains included)."""
        children = (*args, *(v for _, v in kw))
        depth = 1 + max((self.depths.get(id(c), 1) for c in children), default=0)
        if depth > MAX_TREE_DEPTH:
            raise self.error(
                tok,
                f"expression is nested too deeply (more than {MAX_TREE_DEPTH} levels)",
                hint="split it into lets",
            )
        made = Node(op, args, value, kw, self.span(tok))
        if children:
            self.depths[id(made)] = depth
        return made

    # -- Pratt core ----------------------------------------------------------------------
    def expression(self, rbp: int = 0) -> Node:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(
                self.peek(),
                f"expression is nested too deeply (more than {MAX_NESTING} levels)",
                hint="split it into lets",
            )
        try:
            left = self.prefix()
            while True:
                tok = self.peek()
                if tok.kind == "op" and tok.value == "←":
                    self.split_left_arrow()
                    tok = self.peek()
                infix = self.infix_token(tok)
                if infix is None:
                    break
                bp = (
                    BP_COMPARE
                    if infix in COMPARE or infix == "≈"
                    else (BP_PIPE if infix == "→" else INFIX[infix][1])
                )
                if bp <= rbp:
                    break
                self.advance()
                left = self.infix(left, tok, infix, bp)
            return left
        finally:
            self.nesting -= 1

    def split_left_arrow(self) -> None:
        """``a <-1`` outside an evolve header means ``a < -1``."""
        tok = self.peek()
        less = Token("op", "<", "<", tok.line, tok.col)
        minus = Token("op", "-", "-", tok.line, tok.col + 1)
        self.tokens[self.pos : self.pos + 1] = [less, minus]

    def infix_token(self, tok: Token) -> str | None:
        if tok.kind == "op" and isinstance(tok.value, str):
            if tok.value in INFIX or tok.value in COMPARE or tok.value in ("≈", "→"):
                return tok.value
            return None
        if tok.kind == "name" and tok.text in INFIX_WORDS:
            return INFIX_WORDS[tok.text]
        return None

    def infix(self, left: Node, tok: Token, infix: str, bp: int) -> Node:
        if infix == "→":
            return self.pipe(left, tok)
        if infix == "≈":
            value = self.expression(BP_COMPARE)
            if not self.is_op("±"):
                raise self.error(
                    self.peek(),
                    "expected '±' and a tolerance after '≈ value'",
                    hint="write x ≈ 4 ± 0.1 (ASCII: x ~= 4 +/- 0.1)",
                )
            self.advance()
            tol = self.expression(BP_COMPARE)
            self.refuse_chained_comparison()
            return self.node("approx", tok, (left, value, tol))
        if infix in COMPARE:
            right = self.expression(BP_COMPARE)
            self.refuse_chained_comparison()
            return self.node(COMPARE[infix], tok, (left, right))
        op, _, right_assoc = INFIX[infix]
        right = self.expression(bp - 1 if right_assoc else bp)
        return self.node(op, tok, (left, right))

    def refuse_chained_comparison(self) -> None:
        tok = self.peek()
        if tok.kind == "op" and (tok.value in COMPARE or tok.value == "≈"):
            raise self.error(tok, "comparisons don't chain", hint="write a < b ∧ b < c")

    # -- prefix forms ----------------------------------------------------------------------
    def prefix(self) -> Node:
        tok = self.advance()
        if tok.kind == "num":
            return self.node("num", tok, value=tok.number)
        if tok.kind == "str":
            return self.node("str", tok, value=str(tok.value))
        if tok.kind == "dotted":
            return self.node("attr", tok, value=tok.text)
        if tok.kind == "name":
            return self.word(tok)
        if tok.kind == "op":
            return self.prefix_op(tok)
        if tok.kind == "dims":
            raise self.error(
                tok, f"unexpected grid size {tok.text}", hint="products are written with *: 64 * 64"
            )
        raise self.error(tok, f"expected an expression, found {tok.describe()}")

    def prefix_op(self, tok: Token) -> Node:
        glyph = tok.value
        if glyph == "(":
            return self.parenthesised(tok)
        if glyph == "-":
            start = self.pos
            operand = self.expression(BP_UMINUS)
            if operand.op == "num" and self.pos == start + 1 and isinstance(operand.value, int | float):
                return self.node("num", tok, value=-operand.value)
            return self.node("neg", tok, (operand,))
        if glyph == "¬":
            operand = self.expression(BP_PREFIX)
            return self.node("not" if is_logical(operand) else "neg", tok, (operand,))
        if isinstance(glyph, str) and glyph in PREFIX_GLYPHS:
            return self.node(PREFIX_GLYPHS[glyph], tok, (self.expression(BP_PREFIX),))
        if glyph == "⧖":
            steps = self.delay_steps()
            return self.node("delay", tok, (self.expression(BP_PREFIX), steps))
        if glyph == "⟲":
            return self.evolve(tok)
        if glyph == "∅":
            return self.node("empty", tok)
        if glyph in ("⊤", "⊥"):
            return self.node("bool", tok, value=glyph == "⊤")
        hint = "a statement has one expression; is an operand missing?" if glyph in INFIX else None
        raise self.error(tok, f"expected an expression, found {tok.describe()}", hint)

    def word(self, tok: Token) -> Node:
        name = tok.text
        if name == "empty":
            return self.node("empty", tok)
        if name in ("true", "false"):
            return self.node("bool", tok, value=name == "true")
        if name == "not":
            return self.node("not", tok, (self.expression(BP_NOT),))
        if name == "repeat":
            return self.evolve(tok)
        if name in ("and", "or"):
            raise self.error(
                tok, f"expected an expression, found name '{name}'", hint=f"'{name}' joins two predicates"
            )
        if name in ("goal", "precision"):
            raise self.error(tok, f"expected an expression, found name '{name}'")
        opens_call = self.is_op("(")
        if name == "delay" and opens_call:
            args, kw = self.call_arguments(tok)
            if len(args) != 2 or kw:
                raise self.error(tok, "delay takes two arguments: delay(x, k)")
            return self.node("delay", tok, (args[0], args[1]))
        if name in ("dot", "cross", "outer") and opens_call:
            args, kw = self.call_arguments(tok)
            if len(args) != 2 or kw:
                raise self.error(tok, f"{name} takes two arguments: {name}(a, b)")
            return self.node(name, tok, (args[0], args[1]))
        if name in PREFIX_WORDS and _starts_operand(self.peek()):
            return self.node(name, tok, (self.expression(BP_PREFIX),))
        if opens_call:
            args, kw = self.call_arguments(tok)
            return self.node("call", tok, tuple(args), name, tuple(sorted(kw.items())))
        return self.node("ref", tok, value=name)

    def parenthesised(self, open_tok: Token) -> Node:
        if self.is_op(")"):
            self.advance()
            return self.node("tuple", open_tok)
        first = self.expression(0)
        if not self.is_op(","):
            self.close_paren(open_tok)
            return first
        items = [first]
        while self.is_op(","):
            self.advance()
            if self.is_op(")"):
                break
            items.append(self.expression(0))
        self.close_paren(open_tok)
        return self.node("tuple", open_tok, tuple(items))

    def close_paren(self, open_tok: Token) -> None:
        tok = self.peek()
        if tok.kind == "op" and tok.value == ")":
            self.advance()
            return
        raise self.error(
            tok,
            f"expected ')' to close the '(' at column {open_tok.col}, found {tok.describe()}",
            hint="an operator may be missing" if tok.kind in ("name", "num") else "add the missing ')'",
        )

    def call_arguments(self, name_tok: Token) -> tuple[list[Node], dict[str, Node]]:
        open_tok = self.expect("(", f"after {name_tok.text}")
        args: list[Node] = []
        kw: dict[str, Node] = {}
        while not self.is_op(")"):
            key_tok = self.peek()
            if key_tok.kind == "name" and self.is_op("=", 1):
                self.pos += 2
                if key_tok.text in kw:
                    raise self.error(key_tok, f"keyword argument '{key_tok.text}' given twice")
                kw[key_tok.text] = self.expression(0)
            else:
                if kw:
                    raise self.error(key_tok, "positional argument after keyword arguments")
                args.append(self.expression(0))
            if not self.is_op(","):
                break
            self.advance()
        self.close_paren(open_tok)
        return args, kw

    def delay_steps(self) -> Node:
        tok = self.advance()
        if tok.kind == "num":
            return self.node("num", tok, value=tok.number)
        if tok.kind == "op" and tok.value == "-" and self.peek().kind == "num":
            return self.node("num", tok, value=-self.advance().number)
        if tok.kind == "name":
            return self.node("ref", tok, value=tok.text)
        raise self.error(
            tok, f"expected a step count after ⧖, found {tok.describe()}", hint="write ⧖2 u or delay(u, 2)"
        )

    def evolve(self, tok: Token) -> Node:
        count_tok = self.advance()
        if count_tok.kind == "op" and count_tok.value == "-" and self.peek().kind == "num":
            count = self.node("num", count_tok, value=-self.advance().number)
        elif count_tok.kind == "num":
            count = self.node("num", count_tok, value=count_tok.number)
        elif count_tok.kind == "name":
            count = self.node("ref", count_tok, value=count_tok.text)
        else:
            raise self.error(
                count_tok,
                f"expected a step count after {tok.text}, found {count_tok.describe()}",
                hint="write ⟲200 u ← u + dt * Δu",
            )
        var_tok = self.advance()
        init: Node | None = None
        if var_tok.kind == "op" and var_tok.value == "(":
            var_tok = self.advance()
            if var_tok.kind != "name":
                raise self.error(var_tok, f"expected the evolved variable, found {var_tok.describe()}")
            self.expect("=", f"after ({var_tok.text}", hint="write ⟲n (u = INIT) ← BODY")
            init = self.expression(0)
            self.expect(")", "after the starting value")
        elif var_tok.kind != "name":
            raise self.error(
                var_tok,
                f"expected the evolved variable, found {var_tok.describe()}",
                hint="write ⟲200 u ← u + dt * Δu",
            )
        self.expect(
            "←", f"after the evolve variable {var_tok.text}", hint="ASCII: repeat 200 u <- u + dt * lap u"
        )
        body = self.expression(BP_EVOLVE)
        start = init if init is not None else self.node("ref", var_tok, value=var_tok.text)
        return self.node("evolve", tok, (count, start, body), var_tok.text)

    def pipe(self, left: Node, arrow: Token) -> Node:
        """``left → OP`` applies a prefix operator or function to ``left``."""
        tok = self.advance()
        if tok.kind == "op" and isinstance(tok.value, str) and tok.value in PREFIX_GLYPHS:
            op = PREFIX_GLYPHS[tok.value]
            if op == "neg" and is_logical(left):
                op = "not"
            return self.node(op, tok, (left,))
        if tok.kind == "op" and tok.value == "⧖":
            return self.node("delay", tok, (left, self.delay_steps()))
        if tok.kind == "name" and tok.text not in STOP_WORDS and tok.text not in INFIX_WORDS:
            if tok.text in PREFIX_WORDS and not self.is_op("("):
                return self.node(tok.text, tok, (left,))
            if self.is_op("("):
                args, kw = self.call_arguments(tok)
                if tok.text == "delay":
                    if len(args) != 1 or kw:
                        raise self.error(tok, "a piped delay takes one argument: u → delay(2)")
                    return self.node("delay", tok, (left, args[0]))
                return self.node("call", tok, (left, *args), tok.text, tuple(sorted(kw.items())))
            return self.node("call", tok, (left,), tok.text)
        raise self.error(
            tok,
            f"expected an operator or a function after '→', found {tok.describe()}",
            hint="u → Δ → norm means norm(Δu)",
        )


def is_logical(node: Node) -> bool:
    if node.op in PREDICATE_OPS:
        return True
    return node.op in ("ref", "call") and node.value == "finite"


def _starts_operand(tok: Token) -> bool:
    if tok.kind in ("num", "str", "dotted"):
        return True
    if tok.kind == "name":
        return tok.text not in INFIX_WORDS and tok.text not in STOP_WORDS
    return tok.kind == "op" and tok.value in OPERAND_START_OPS
