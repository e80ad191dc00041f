"""The static type of ``load("f.npy")``, read from the file's header alone (never its data).

The path rules are the interpreter's (``interp_init.load``): a relative ``.npy``
path inside the configured data directory, no ``..``, no escaping through links.
Object arrays are refused (they would need pickle). The layout is matched to the
grid in the interpreter's order: grid, [T]+grid, grid+[C], [T]+grid+[C].
"""

from __future__ import annotations

import os

from numpy.lib import format as npy_format

from stages.codex.ast import Node
from stages.codex.grid import GridSpec
from stages.codex.typerules import fail
from stages.codex.types import FieldType


def npy_field_type(node: Node, name: str, grid: GridSpec, data_dir: str | None) -> FieldType:
    path = _resolve(node, name, data_dir)
    try:
        with open(path, "rb") as handle:
            version = npy_format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(handle)
            elif version in ((2, 0), (3, 0)):
                shape, _, dtype = npy_format.read_array_header_2_0(handle)
            else:
                fail(node, f"load: {name!r} has an unsupported .npy version {version}", code="load")
    except (ValueError, OSError, SyntaxError) as exc:
        fail(node, f"load: cannot read the header of {name!r}: {exc}", code="load")
    if dtype.hasobject or dtype.kind not in "biufc":
        fail(node, f"load: {name!r} holds {dtype} values, not numbers", code="load")
    return _layout(node, name, tuple(int(n) for n in shape), grid, dtype.kind == "c")


def _resolve(node: Node, name: str, data_dir: str | None) -> str:
    if data_dir is None:
        fail(node, "load() needs a configured data directory", "pass --data-dir DIR (files are read only from there)",
             code="load")
    if not name.endswith(".npy"):
        fail(node, f"load: only .npy files can be loaded, got {name!r}", code="load")
    if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
        fail(node, f"load: path {name!r} must be relative to the data directory, without '..'", code="load")
    root = os.path.realpath(data_dir)
    path = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, path]) != root:
        fail(node, f"load: path {name!r} leaves the data directory", code="load")
    if not os.path.isfile(path):
        fail(node, f"load: no such file {name!r} in the data directory", code="load")
    return path


def _layout(node: Node, name: str, shape: tuple[int, ...], grid: GridSpec, is_complex: bool) -> FieldType:
    g, steps = tuple(grid.shape), grid.time_steps
    if shape == g:
        return FieldType("field", complex=is_complex)
    if steps is not None and shape == (steps, *g):
        return FieldType("field", time=True, complex=is_complex)
    if len(shape) == len(g) + 1 and shape[:-1] == g:
        return FieldType("field", components=shape[-1], complex=is_complex)
    if steps is not None and len(shape) == len(g) + 2 and shape[:-1] == (steps, *g):
        return FieldType("field", components=shape[-1], time=True, complex=is_complex)
    fail(node, f"load: {name!r} has shape {shape}, which does not fit the grid {g}", code="load")
