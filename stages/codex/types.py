"""Static types of CodexLang values: what a value is, and the array shape it will have.

A ``FieldType`` is one of

* ``field``   — an array on the grid, layout ``[T,] *grid [, C]``: ``time`` says whether
  the leading time axis is present, ``components`` the size of the trailing
  component axis (None: a scalar field), ``complex`` the dtype;
* ``number``  — a Python float (or complex);
* ``bool``    — a truth value (predicates, ``finite``);
* ``samples`` — the ``length`` flat indices drawn by ``sample(ψ, n)`` (shape ``[n]``);
* ``tuple`` / ``str`` — only as function arguments (``k=(4, 0)``, ``load("f.npy")``);
* ``unknown`` — the type of something already reported as an error; it silences
  follow-up errors instead of cascading.

``zero`` marks ∅, which adopts the layout of whatever it is combined with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from stages.codex.grid import GridSpec

Kind = Literal["field", "number", "bool", "samples", "tuple", "str", "unknown"]


@dataclass(frozen=True, slots=True)
class FieldType:
    kind: Kind
    components: int | None = None
    time: bool = False
    complex: bool = False
    zero: bool = False
    length: int | None = None

    @property
    def is_field(self) -> bool:
        return self.kind == "field"

    @property
    def is_numeric(self) -> bool:
        """A number or a field: what arithmetic accepts."""
        return self.kind in ("field", "number")

    @property
    def unknown(self) -> bool:
        return self.kind == "unknown"

    def with_complex(self, value: bool) -> FieldType:
        return replace(self, complex=value)

    def describe(self) -> str:
        """Human name with an article, for messages: 'a scalar field', 'a complex number'…"""
        cx = "complex " if self.complex else ""
        if self.kind == "field":
            if self.zero:
                return "the zero field ∅"
            base = "scalar field" if self.components is None else "vector field"
            return "a " + cx + base
        if self.kind == "number":
            return "a " + cx + "number"
        names = {"bool": "a truth value", "samples": "a list of samples", "tuple": "a tuple",
                 "str": "a string", "unknown": "an unknown value"}
        return names[self.kind]

    def shape(self, grid: GridSpec) -> tuple[int, ...]:
        """Array shape of the value on ``grid`` (``()`` for numbers and truth values)."""
        if self.kind == "field":
            time = (grid.time_steps,) if self.time and grid.time_steps is not None else ()
            comps = (self.components,) if self.components is not None else ()
            return (*time, *grid.shape, *comps)
        if self.kind == "samples":
            return (self.length or 0,)
        return ()

    def elements(self, grid: GridSpec) -> int:
        """Number of scalar entries of the value (1 for numbers and truth values)."""
        count = 1
        for n in self.shape(grid):
            count *= n
        return count

    def to_json(self) -> dict[str, Any]:
        """The ``type`` of an ingest beam: kind field|number|bool, components, time, complex."""
        kind = "field" if self.kind == "samples" else self.kind
        if kind not in ("field", "number", "bool"):
            raise ValueError(f"a {self.kind} is not a cell value")
        return {"kind": kind, "components": self.components, "time": self.time, "complex": self.complex}

    @staticmethod
    def from_json(data: dict[str, Any]) -> FieldType:
        return FieldType(kind=data["kind"], components=data.get("components"), time=bool(data.get("time")),
                         complex=bool(data.get("complex")))


NUMBER = FieldType("number")
BOOL = FieldType("bool")
UNKNOWN = FieldType("unknown")
STR = FieldType("str")
SCALAR_FIELD = FieldType("field")
ZERO_FIELD = FieldType("field", zero=True)


def vector(components: int, *, time: bool = False, complex_: bool = False) -> FieldType:
    return FieldType("field", components=components, time=time, complex=complex_)
