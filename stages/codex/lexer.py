"""Tokenizer for one line of CodexLang.

Statements are one per line, so the lexer works line by line: a bad character
spoils only its own statement and the parser can go on to report the errors of
the other lines. Columns are 1-based code-point offsets.

Token kinds: ``num`` (value int | float), ``name``, ``dotted`` (``score.qscore``),
``str``, ``dims`` (``64x64``: a grid size), ``op`` (value = canonical spelling,
see ``glyphs.ALIASES``) and ``end`` (end of line).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stages.codex.errors import CodexSyntaxError
from stages.codex.glyphs import ALIASES, SINGLE_CHAR_OPS, is_ident_char, is_ident_start

TokenValue = int | float | str | tuple[int, ...] | None
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"'}
# Multi-character spellings grouped by their first character (longest first), for a quick lookup.
ALIASES_BY_FIRST: dict[str, list[tuple[str, str]]] = {}
for _spelling, _canonical in ALIASES:
    ALIASES_BY_FIRST.setdefault(_spelling[0], []).append((_spelling, _canonical))
MAX_LINE_TOKENS = 20_000


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    value: TokenValue
    line: int
    col: int

    @property
    def number(self) -> int | float:
        """The value of a ``num`` token (0 for any other kind)."""
        return self.value if isinstance(self.value, int | float) else 0

    def describe(self) -> str:
        """How an error message names this token."""
        if self.kind == "end":
            return "end of line"
        if self.kind == "name":
            return f"name '{self.text}'"
        if self.kind == "num":
            return f"number {self.text}"
        if self.kind == "str":
            return "a string"
        return f"'{self.text}'"


class _LineLexer:
    def __init__(self, text: str, line: int, file: str) -> None:
        self.text = text
        self.line = line
        self.file = file
        self.pos = 0
        self.tokens: list[Token] = []

    def error(self, col: int, message: str, hint: str | None = None) -> CodexSyntaxError:
        return CodexSyntaxError(message, file=self.file, line=self.line, col=col, hint=hint, code="syntax")

    def add(self, kind: str, start: int, value: TokenValue) -> None:
        if len(self.tokens) >= MAX_LINE_TOKENS:
            raise self.error(start + 1, f"line has more than {MAX_LINE_TOKENS} tokens")
        self.tokens.append(Token(kind, self.text[start : self.pos], value, self.line, start + 1))

    def run(self) -> list[Token]:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "#":
                break
            if ch.isspace():
                self.pos += 1
            elif ch.isdigit() and ch.isascii() or (ch == "." and text[self.pos + 1 : self.pos + 2].isdigit()):
                self.number()
            elif ch == '"':
                self.string()
            elif text.startswith("d/dt", self.pos) and not is_ident_char(
                text[self.pos + 4 : self.pos + 5] or " "
            ):
                start = self.pos
                self.pos += 4
                self.add("op", start, "d/dt")
            elif is_ident_start(ch):
                self.identifier()
            else:
                self.operator(ch)
        self.tokens.append(Token("end", "", None, self.line, len(text) + 1))
        return self.tokens

    def number(self) -> None:
        text, start = self.text, self.pos
        digits_end = start
        while digits_end < len(text) and text[digits_end].isascii() and text[digits_end].isdigit():
            digits_end += 1
        if (
            digits_end > start
            and text[digits_end : digits_end + 1] == "x"
            and text[digits_end + 1 : digits_end + 2].isdigit()
        ):
            self.dims(start)
            return
        pos = digits_end
        is_float = False
        if text[pos : pos + 1] == ".":
            is_float = True
            pos += 1
            while pos < len(text) and text[pos].isascii() and text[pos].isdigit():
                pos += 1
        if text[pos : pos + 1] in ("e", "E"):
            exp = pos + 1
            if text[exp : exp + 1] in ("+", "-"):
                exp += 1
            if text[exp : exp + 1].isdigit() and text[exp].isascii():
                is_float = True
                pos = exp
                while pos < len(text) and text[pos].isascii() and text[pos].isdigit():
                    pos += 1
        self.pos = pos
        literal = text[start:pos]
        value: int | float
        try:
            value = float(literal) if is_float else int(literal)
        except ValueError:
            raise self.error(start + 1, f"number {literal[:20]}… is too long") from None
        if isinstance(value, float) and math.isinf(value):
            raise self.error(
                start + 1, f"number {literal} is too large", hint="numbers must fit a 64-bit float"
            )
        self.add("num", start, value)

    def dims(self, start: int) -> None:
        text = self.text
        sizes: list[int] = []
        pos = start
        while True:
            end = pos
            while end < len(text) and text[end].isascii() and text[end].isdigit():
                end += 1
            if end - pos > 9:
                raise self.error(pos + 1, "grid size is too large")
            sizes.append(int(text[pos:end]))
            pos = end
            if text[pos : pos + 1] == "x" and text[pos + 1 : pos + 2].isdigit() and text[pos + 1].isascii():
                pos += 1
                continue
            break
        self.pos = pos
        self.add("dims", start, tuple(sizes))

    def string(self) -> None:
        text, start = self.text, self.pos
        pos = start + 1
        chars: list[str] = []
        while pos < len(text):
            ch = text[pos]
            if ch == '"':
                self.pos = pos + 1
                self.add("str", start, "".join(chars))
                return
            if ch == "\\":
                escaped = ESCAPES.get(text[pos + 1 : pos + 2])
                if escaped is None:
                    raise self.error(pos + 1, "unknown escape in string", hint='use \\" \\\\ \\n \\r or \\t')
                chars.append(escaped)
                pos += 2
                continue
            chars.append(ch)
            pos += 1
        raise self.error(start + 1, "unterminated string", hint='close it with " on the same line')

    def identifier(self) -> None:
        text, start = self.text, self.pos
        pos = start + 1
        while pos < len(text) and is_ident_char(text[pos]):
            pos += 1
        dotted = False
        while text[pos : pos + 1] == "." and pos + 1 < len(text) and is_ident_start(text[pos + 1]):
            dotted = True
            pos += 2
            while pos < len(text) and is_ident_char(text[pos]):
                pos += 1
        self.pos = pos
        word = text[start:pos]
        self.add("dotted" if dotted else "name", start, word)

    def operator(self, ch: str) -> None:
        text, start = self.text, self.pos
        for spelling, canonical in ALIASES_BY_FIRST.get(ch, ()):
            if text.startswith(spelling, start):
                self.pos = start + len(spelling)
                self.add("op", start, canonical)
                return
        if ch in SINGLE_CHAR_OPS:
            self.pos = start + 1
            self.add("op", start, ch)
            return
        raise self.error(start + 1, f"unexpected character {_show(ch)}", hint=_char_hint(ch))


def _show(ch: str) -> str:
    return f"'{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"


def _char_hint(ch: str) -> str:
    hints = {
        "'": 'strings use double quotes: load("f.npy")',
        "·": "∇· is the divergence; the pointwise dot product is • (ASCII dot)",
        "[": "group with parentheses ( )",
        "{": "group with parentheses ( )",
        ";": "write one statement per line",
        "%": "there is no modulo operator",
        "|": "the pipe is written |> (or →)",
    }
    return hints.get(ch, "CodexLang's glyphs and their ASCII spellings are listed in docs/codexlang.md")


def tokenize_line(text: str, line: int = 1, file: str = "<sheet>") -> list[Token]:
    """Tokens of one source line, ending with an ``end`` token. Raises ``CodexSyntaxError``."""
    return _LineLexer(text, line, file).run()
