"""``⟲n x ← body`` as ``lax.fori_loop``, with the interpreter's semantics.

The first step is traced unrolled: it may legitimately change the state's kind
(∅ becomes a concrete field, a real state becomes complex, an fp32 input
becomes the plan's format). From then on the kind must stay fixed — the same
check the interpreter makes at every step — and the remaining n − 1 steps run
inside one ``fori_loop`` whose carry has a fixed shape and dtype. For the
cell's top-level evolve the loop also carries the previous state, so the last
step's size ‖x_n − x_{n−1}‖ (grid measure) is returned for the attractor check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from stages.codex.ast import Node
from stages.codex.interp_errors import InterpreterError
from stages.codex.interp_values import Field
from stages.qwave import jvalues as jv
from stages.qwave.jvalues import JValue, Scalar, Truth

if TYPE_CHECKING:
    from stages.qwave.lowering import Lowering


def run_evolve(lowering: Lowering, node: Node) -> JValue:
    import jax
    import jax.numpy as jnp

    if len(node.args) != 3:
        raise InterpreterError("evolve", f"takes (n, init, body), got {len(node.args)} operands")
    steps = jv.static_int("evolve", lowering.evaluate(node.args[0]))
    if steps < 0:
        raise InterpreterError("evolve", f"step count must be non-negative, got {steps}")
    name, body = str(node.value), node.args[2]
    tracking = node is lowering.root
    current = lowering.evaluate(node.args[1])
    if steps == 0:
        return current

    def step(state: JValue) -> JValue:
        lowering.scopes.append((name, state))
        try:
            return lowering.evaluate(body)
        finally:
            lowering.scopes.pop()

    following = step(current)
    check_same_kind(current, following)
    previous, current = current, following
    if steps > 1:
        template = current
        dtype = jnp.asarray(data_of(template)).dtype

        def loop_body(_: Any, carry: tuple[Any, Any]) -> tuple[Any, Any]:
            state = rewrap(template, carry[0])
            lowering.memos.append({})
            try:
                nxt = step(state)
            finally:
                lowering.memos.pop()
            if kind_of(nxt) != kind_of(template):
                raise InterpreterError("evolve", f"body turns a {jv.describe(state)} into a {jv.describe(nxt)}")
            data = jnp.asarray(data_of(nxt))
            if jnp.result_type(data.dtype, dtype) != dtype:
                raise InterpreterError("evolve", f"body changes the state's dtype from {dtype} to {data.dtype}")
            return data.astype(dtype), (carry[0] if tracking else carry[1])

        start = jnp.asarray(data_of(current), dtype=dtype)
        prior = jnp.asarray(data_of(previous), dtype=dtype) if tracking and same_shape(previous, current) else start
        final, before = jax.lax.fori_loop(0, steps - 1, loop_body, (start, prior))
        previous, current = rewrap(template, before), rewrap(template, final)
    if tracking:
        lowering.last_step = step_norm(previous, current, lowering)
    return current


def check_same_kind(before: JValue, after: JValue) -> None:
    """The interpreter's ``_check_same_kind``: a field stays a field of the same layout (∅ is free)."""
    if isinstance(before, Field) and isinstance(after, Field):
        if before.empty or after.empty or before.layout == after.layout:
            return
    elif isinstance(before, Field) == isinstance(after, Field) and type(before) is type(after):
        return
    raise InterpreterError("evolve", f"body turns a {jv.describe(before)} into a {jv.describe(after)}")


def kind_of(value: JValue) -> tuple[object, ...]:
    if isinstance(value, Field):
        return ("field", value.layout, value.empty, tuple(value.data.shape))
    return (type(value).__name__,)


def data_of(value: JValue) -> Any:
    if isinstance(value, Field | Scalar | Truth):
        return value.data
    raise InterpreterError("evolve", f"cannot evolve a {jv.describe(value)}")


def rewrap(template: JValue, data: Any) -> JValue:
    if isinstance(template, Field):
        return Field(data, template.layout, template.empty)
    if isinstance(template, Scalar):
        return Scalar(data)
    return Truth(data)


def same_shape(a: JValue, b: JValue) -> bool:
    return bool(np.shape(data_of(a)) == np.shape(data_of(b)))


def step_norm(before: JValue, after: JValue, lowering: Lowering) -> Any:
    """The interpreter's ``_step_norm``: grid-measure norm of the difference (|Δ| for numbers)."""
    jnp = lowering.jnp
    if isinstance(before, Field) or isinstance(after, Field):
        diff = jv.require_field("evolve", jv.elementwise("evolve", np.subtract, [after, before]))
        grid = lowering.grid
        return jnp.sqrt(jnp.sum(jnp.abs(diff.data.astype(jnp.complex64 if jnp.iscomplexobj(diff.data)
                                                          else jnp.float32)) ** 2) * grid.spacing**grid.rank)
    if isinstance(before, Truth) and isinstance(after, Truth):
        return jnp.where(jnp.asarray(before.data) == jnp.asarray(after.data), 0.0, 1.0)
    return jnp.abs(jnp.asarray(data_of(after)) - jnp.asarray(data_of(before)))
