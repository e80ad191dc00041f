"""Type inference over an expression tree: names, evolve scopes and calls around ``typerules``.

Two modes. The checker passes an error ``sink``: each error is recorded where it
happens and the node's type becomes ``unknown``, which silences everything built
on it, so one mistake yields one message. Without a sink the first error raises
(the cost model on expanded trees). With ``record`` the type of every node is kept
by ``id`` for the cost walk that follows.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import NoReturn

from stages.codex.ast import BUILTIN_NAMES, FUNCTIONS, OBSERVABLES, Node
from stages.codex.callrules import call_type
from stages.codex.errors import CodexError, CodexEvolveError, CodexNameError
from stages.codex.glyphs import PREFIX_WORDS
from stages.codex.typerules import RuleContext, fail, operator_type, snippet, start_span
from stages.codex.types import BOOL, NUMBER, SCALAR_FIELD, STR, UNKNOWN, ZERO_FIELD, FieldType

COORDINATE_RANK = {"x": 1, "y": 2, "z": 3}
NO_BINDINGS: Mapping[str, FieldType] = {}


class TypeInference:
    def __init__(
        self,
        ctx: RuleContext,
        names: Mapping[str, FieldType],
        *,
        sink: list[CodexError] | None = None,
        goal_scope: bool = False,
        silent: Collection[str] = (),
        suggestions: Collection[str] = (),
        lenient_refs: bool = False,
        allow_attr: bool = False,
        record: bool = False,
    ) -> None:
        self.ctx = ctx
        self.names = names
        self.sink = sink
        self.goal_scope = goal_scope
        self.silent = silent
        self.suggestions = suggestions
        self.lenient_refs = lenient_refs
        self.allow_attr = allow_attr
        self.types: dict[int, FieldType] | None = {} if record else None

    def infer(self, node: Node, bound: Mapping[str, FieldType] = NO_BINDINGS) -> FieldType:
        try:
            result = self._infer(node, bound)
        except CodexError as exc:
            if self.sink is None:
                raise
            self.sink.append(exc)
            result = UNKNOWN
        if self.types is not None:
            self.types[id(node)] = result
        return result

    def _infer(self, node: Node, bound: Mapping[str, FieldType]) -> FieldType:
        op = node.op
        if op == "num":
            return NUMBER
        if op == "bool":
            return BOOL
        if op == "str":
            return STR
        if op == "empty":
            return ZERO_FIELD
        if op == "ref":
            return self.ref(node, bound)
        if op == "attr":
            if self.allow_attr:
                return NUMBER
            fail(node, f"dotted names like {node.value} are only for SoulLaw policies",
                 "a sheet refers to lets and cells by plain name", code="policy-only")
        if op == "evolve":
            return self.evolve(node, bound)
        args = [self.infer(a, bound) for a in node.args]
        if op == "call":
            kw = {k: self.infer(v, bound) for k, v in node.kw}
            return call_type(node, args, kw, self.ctx)
        return operator_type(node, args, self.ctx)

    def ref(self, node: Node, bound: Mapping[str, FieldType]) -> FieldType:
        name = str(node.value)
        if name in bound:
            return bound[name]
        if name in self.names:
            return self.names[name]
        if name == "pi":
            return NUMBER
        grid = self.ctx.grid
        if name in COORDINATE_RANK:
            if grid.rank < COORDINATE_RANK[name]:
                fail(node, f"'{name}' needs a {COORDINATE_RANK[name]}-D grid; this grid is {grid.rank}-D",
                     code="unknown-name", error=CodexNameError)
            return SCALAR_FIELD
        if name == "t":
            if grid.time_steps is None:
                fail(node, "'t' needs a grid with a time axis", "add time T step DT to the grid statement",
                     code="unknown-name", error=CodexNameError)
            return FieldType("field", time=True)
        if self.goal_scope and name in OBSERVABLES:
            return BOOL if name == "finite" else NUMBER
        if name in self.silent:
            return UNKNOWN
        if self.lenient_refs:
            return SCALAR_FIELD
        self.unknown_name(node, name)

    def unknown_name(self, node: Node, name: str) -> NoReturn:
        if name in OBSERVABLES or name in FUNCTIONS:
            hint = f"bare {name} names the cell's own value only in a goal" if name in OBSERVABLES else None
            fail(node, f"'{name}' is a function; call it as {name}(…)", hint, code="unknown-name",
                 error=CodexNameError)
        if name in PREFIX_WORDS:
            fail(node, f"'{name}' needs an operand", f"write {name} u or {name}(u)", code="unknown-name",
                 error=CodexNameError)
        pool = sorted({*self.suggestions, *BUILTIN_NAMES})
        close = difflib.get_close_matches(name, pool, n=1)
        hint = f"did you mean {close[0]}?" if close else f"define it first: let {name} = …"
        fail(node, f"unknown name '{name}'", hint, code="unknown-name", error=CodexNameError)

    def evolve(self, node: Node, bound: Mapping[str, FieldType]) -> FieldType:
        if len(node.args) != 3:
            fail(node, f"evolve takes (n, init, body), got {len(node.args)} operands", at_operator=True,
                 error=CodexEvolveError, code="evolve")
        count, start, body = node.args
        var = str(node.value)
        count_type = self.infer(count, bound)
        if not count_type.unknown:
            steps = self.ctx.literal(count) if count_type.kind == "number" else None
            if steps is None or not steps.is_integer() or steps < 0:
                self.report(CodexEvolveError.at(start_span(count), f"the step count of ⟲ must be a whole number "
                            f"≥ 0 written in the sheet (or a param), got {snippet(count)}", code="evolve"))
        if start.op == "ref" and start.value == var and not self.resolvable(var, bound):
            fail(start, f"evolve variable '{var}' has no starting value",
                 f"define let {var} = … first, or write ⟲n ({var} = INIT) ← BODY", error=CodexEvolveError,
                 code="evolve")
        init = self.infer(start, bound)
        if init.unknown:
            self.infer(body, {**bound, var: UNKNOWN})
            return UNKNOWN
        if init.kind not in ("field", "number"):
            fail(start, f"⟲ steps a field or a number, got {init.describe()} ({snippet(start)})",
                 error=CodexEvolveError, code="evolve")
        result = self.infer(body, {**bound, var: init})
        if result.unknown:
            return UNKNOWN
        if not _same_layout(init, result):
            fail(body, f"the evolve body must keep {var}'s type: {var} is {init.describe()}, the body gives "
                       f"{result.describe()}", f"each step must give {init.describe()} again",
                 error=CodexEvolveError, code="evolve")
        if result.complex and not init.complex:
            # After the first step the variable is complex: infer the steady state.
            result = self.infer(body, {**bound, var: init.with_complex(True)})
        merged = init if result.zero else result
        return FieldType(merged.kind, merged.components, merged.time, init.complex or result.complex)

    def resolvable(self, name: str, bound: Mapping[str, FieldType]) -> bool:
        return name in bound or name in self.names or name in self.silent or self.lenient_refs

    def report(self, error: CodexError) -> None:
        if self.sink is None:
            raise error
        self.sink.append(error)


def _same_layout(a: FieldType, b: FieldType) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind != "field" or a.zero or b.zero:
        return True
    return a.components == b.components and a.time == b.time
