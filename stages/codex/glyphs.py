"""The surface syntax tables shared by the lexer, the parser and the printer.

One table per concern so that parsing and printing cannot drift apart: which
spellings (glyph or ASCII) a token has, how tightly each operator binds, and the
canonical glyph the printer writes for each opcode.
"""

from __future__ import annotations

from typing import Final

# Spellings the lexer turns into one canonical operator token, longest first.
ALIASES: Final[tuple[tuple[str, str], ...]] = (
    ("<=>", "⇔"),
    ("<->", "↔"),
    ("(+)", "⊕"),
    ("(-)", "⊖"),
    ("+/-", "±"),
    ("∇·", "∇·"),
    ("∇⋅", "∇·"),
    ("∇×", "∇×"),
    ("|>", "→"),
    ("->", "→"),
    ("<-", "←"),
    ("=>", "⇒"),
    ("<=", "<="),
    (">=", ">="),
    ("==", "="),
    ("!=", "≠"),
    ("~=", "≈"),
    ("**", "^"),
    ("≤", "<="),
    ("≥", ">="),
    ("⟹", "⇒"),
    ("⟺", "⇔"),
    ("⋅", "•"),
)
SINGLE_CHAR_OPS: Final[frozenset[str]] = frozenset("∇Δ□⧖¬^*/⊗•×+-⊕⊖→⟲←∅⊤⊥<>=≠≈±∧∨⇒⇔↔(),:")
# Characters that are glyphs even though str.isalpha() says they are letters.
GLYPH_LETTERS: Final[frozenset[str]] = frozenset("Δ")

# Binding powers, loosest first (codexlang.md "Operators (tightest first)", reversed).
BP_IFF, BP_IMPLIES, BP_OR, BP_AND, BP_NOT, BP_COMPARE = 1, 2, 3, 4, 5, 6
BP_EVOLVE, BP_PIPE, BP_SUPERPOSE, BP_ADD, BP_CROSS, BP_DOT, BP_OUTER, BP_MUL = 9, 10, 20, 30, 40, 50, 60, 70
BP_UMINUS, BP_POW, BP_PREFIX, BP_ATOM = 75, 80, 90, 100

# Infix token -> (opcode, binding power, right associative)
INFIX: Final[dict[str, tuple[str, int, bool]]] = {
    "⇔": ("iff", BP_IFF, False),
    "⇒": ("implies", BP_IMPLIES, True),
    "∨": ("or", BP_OR, False),
    "∧": ("and", BP_AND, False),
    "⊕": ("oplus", BP_SUPERPOSE, False),
    "⊖": ("ominus", BP_SUPERPOSE, False),
    "+": ("add", BP_ADD, False),
    "-": ("sub", BP_ADD, False),
    "×": ("cross", BP_CROSS, False),
    "•": ("dot", BP_DOT, False),
    "⊗": ("outer", BP_OUTER, False),
    "*": ("mul", BP_MUL, False),
    "/": ("truediv", BP_MUL, False),
    "^": ("pow", BP_POW, True),
}
COMPARE: Final[dict[str, str]] = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "=": "eq", "≠": "ne"}
# Words that act as infix operators when they follow an operand.
INFIX_WORDS: Final[dict[str, str]] = {"dot": "•", "cross": "×", "outer": "⊗", "and": "∧", "or": "∨"}

PREFIX_GLYPHS: Final[dict[str, str]] = {
    "∇": "grad",
    "∇·": "div",
    "∇×": "curl",
    "Δ": "lap",
    "□": "dalembert",
    "d/dt": "ddt",
    "¬": "neg",
}
PREFIX_WORDS: Final[frozenset[str]] = frozenset({"grad", "div", "curl", "lap", "dalembert", "ddt", "neg"})
# Tokens that may begin an operand (decides whether `lap` is an operator or a name).
OPERAND_START_OPS: Final[frozenset[str]] = frozenset({"(", "⧖", "⟲", "∅", "⊤", "⊥", *PREFIX_GLYPHS})

# Names a sheet may not define: they mean something else in every expression.
RESERVED_WORDS: Final[frozenset[str]] = frozenset(
    {"repeat", "empty", "true", "false", "and", "or", "not", "goal", "precision"}
)
PRECISIONS: Final[tuple[str, ...]] = ("fp32", "bf16", "fp8", "int8", "auto")

# Canonical printing: opcode -> glyph.
OP_GLYPH: Final[dict[str, str]] = {
    **{op: glyph for glyph, (op, _, _) in INFIX.items()},
    **{op: glyph for glyph, op in COMPARE.items()},
    **{op: glyph for glyph, op in PREFIX_GLYPHS.items()},
    "approx": "≈",
    "not": "¬",
    "delay": "⧖",
    "evolve": "⟲",
    "empty": "∅",
}
OP_BP: Final[dict[str, int]] = {
    **{op: bp for _, (op, bp, _) in INFIX.items()},
    **{op: BP_COMPARE for op in COMPARE.values()},
    "approx": BP_COMPARE,
}
RIGHT_ASSOC: Final[frozenset[str]] = frozenset(op for _, (op, _, right) in INFIX.items() if right)


def is_ident_start(ch: str) -> bool:
    return ch == "_" or (ch.isalpha() and ch not in GLYPH_LETTERS)


def is_ident_char(ch: str) -> bool:
    return ch == "_" or (ch.isalnum() and ch not in GLYPH_LETTERS)


def token_glyph(node_op: str, value: object = None) -> str:
    """The main glyph of a node, used as a beam's ``token`` (``⊕``, ``∇·``, ``interfere``…)."""
    if node_op in ("call", "ref", "attr"):
        return str(value)
    if node_op == "bool":
        return "⊤" if value else "⊥"
    return OP_GLYPH.get(node_op, node_op)
