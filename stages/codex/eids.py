"""Entanglement ids: one per group of cells linked with ↔ (a lone cell is its own group).

EID = ``eid::<sheet_run_id>::<blake2b-16 hex of the sorted member ids joined by ",">``
(a 16-byte BLAKE2b digest, 32 hex digits) — deterministic across processes, never
Python's salted ``hash()``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def eid_for(sheet_run_id: str, members: Iterable[str]) -> str:
    joined = ",".join(sorted(members)).encode()
    return f"eid::{sheet_run_id}::{hashlib.blake2b(joined, digest_size=16).hexdigest()}"


def entanglement_groups(cell_ids: Sequence[str], links: Iterable[Sequence[str]]) -> list[tuple[str, ...]]:
    """Union of overlapping ↔ statements; every cell in exactly one group.

    Groups come in the order of their first member in ``cell_ids``; members are sorted.
    Names in ``links`` that are not in ``cell_ids`` are ignored (the checker reports them).
    """
    parent = {cell: cell for cell in cell_ids}

    def root(cell: str) -> str:
        while parent[cell] != cell:
            parent[cell] = parent[parent[cell]]
            cell = parent[cell]
        return cell

    for link in links:
        members = [m for m in link if m in parent]
        for other in members[1:]:
            a, b = root(members[0]), root(other)
            if a != b:
                parent[b] = a
    groups: dict[str, list[str]] = {}
    for cell in cell_ids:
        groups.setdefault(root(cell), []).append(cell)
    return [tuple(sorted(members)) for members in groups.values()]
