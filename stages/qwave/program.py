"""Splitting a normal form into a compilable structure and its free inputs.

After Codex expansion the only free names of a cell are the built-ins
``x y z t pi`` and initialiser calls (``gaussian(...)``, ``random(seed=3)``…).
Each distinct one becomes an input slot ``$k`` (a ``ref`` whose name cannot be
written in CodexLang); ``pi`` is folded to its number. The structure — the tree
with slots — is what gets compiled, and its content hash (``structure_key``) is
the cache key: two cells that differ only in their initialisers' arguments or
seed share one executable (a refinement of keying by ``normal_key``: equal
normal forms always have equal structures).

Slot values are computed by the reference interpreter, with its exact
definitions, in float64, then handed to JAX.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from contracts.registry import digest
from stages.codex.ast import INITIALISERS, Node
from stages.codex.grid import GridSpec
from stages.codex.interp_values import Field, Value
from stages.qwave.errors import QWaveError

SLOT_PREFIX = "$"
COORDINATES = frozenset({"x", "y", "z", "t"})


@dataclass(frozen=True, slots=True)
class Program:
    """A structure (normal form with input slots) plus the input expressions, slot k = inputs[k]."""

    structure: Node
    inputs: tuple[Node, ...]
    structure_key: str


def slot_name(index: int) -> str:
    return f"{SLOT_PREFIX}{index}"


def is_slot(node: Node) -> bool:
    return node.op == "ref" and isinstance(node.value, str) and node.value.startswith(SLOT_PREFIX)


def split_inputs(normal_form: Node) -> Program:
    """Replace built-in coordinates and initialisers by slots (first occurrence order, deduplicated)."""
    slots: dict[Node, int] = {}

    def visit(node: Node, bound: frozenset[str]) -> Node:
        if node.op == "ref" and node.value not in bound:
            if node.value == "pi":
                return Node("num", value=math.pi)
            if node.value in COORDINATES:
                return take(node)
            return node
        if node.op == "call" and node.value in INITIALISERS:
            inner = {str(n.value) for n in node.walk() if n.op == "ref"}
            if inner & bound:
                raise QWaveError(
                    f"initialiser {node.value}() depends on the evolve variable(s) {sorted(inner & bound)}",
                    code="unsupported_op", op=str(node.value),
                )
            return take(node)
        if node.op == "evolve" and len(node.args) == 3:
            steps, init, body = node.args
            inner_bound = bound | {str(node.value)}
            return node.replace(args=(visit(steps, bound), visit(init, bound), visit(body, inner_bound)))
        if not node.args and not node.kw:
            return node
        return node.replace(
            args=tuple(visit(a, bound) for a in node.args),
            kw=tuple((k, visit(v, bound)) for k, v in node.kw),
        )

    def take(node: Node) -> Node:
        clean = Node.from_json(node.to_json())  # drop spans so equal inputs share a slot
        index = slots.setdefault(clean, len(slots))
        return Node("ref", value=slot_name(index))

    structure = visit(normal_form, frozenset())
    return Program(structure, tuple(slots), digest(structure.to_json(), 32))


def evaluate_inputs(
    program: Program, grid: GridSpec, *, seed: int, data_dir: str | None = None
) -> list[Value]:
    """The slot values on ``grid`` from the reference interpreter (fields keep their layout)."""
    from stages.codex.interpreter import InterpreterError, evaluate_value

    values: list[Value] = []
    for node in program.inputs:
        try:
            value, _ = evaluate_value(node, grid, seed=seed, data_dir=data_dir)
        except InterpreterError as exc:
            raise QWaveError(f"input {node.value}: {exc}", code="bad_input", op=exc.op) from exc
        values.append(value)
    return values


def input_signature(values: list[Value]) -> tuple[tuple[object, ...], ...]:
    """Hashable description of the inputs (kind, shape, dtype kind, layout) for the compile key."""
    out: list[tuple[object, ...]] = []
    for value in values:
        if isinstance(value, Field):
            kind = "c" if value.data.dtype.kind == "c" else "f"
            out.append(("field", tuple(value.data.shape), kind, value.layout.time, value.layout.components,
                        value.empty))
        elif isinstance(value, bool):
            out.append(("bool",))
        elif isinstance(value, complex):
            out.append(("number", "c"))
        elif isinstance(value, float | int):
            out.append(("number", "f"))
        else:
            raise QWaveError(f"unsupported input value {type(value).__name__}", code="bad_input")
    return tuple(out)


def slot_bindings(values: list[Value]) -> Mapping[str, Value]:
    return {slot_name(i): v for i, v in enumerate(values)}
