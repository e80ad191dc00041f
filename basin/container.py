"""A container's basin: the Fréchet mean of its approved signatures, as a small JSON file.

A ``Basin`` is immutable; every change returns a new one. Its ``id`` is a content
hash of (container_id, coordinates, n) — never of timestamps or provenance — so
two instances holding the same basin agree on its id wherever they run.

The mean is the chordal Fréchet mean of basin.md (normalised mean of √p,
squared). Keeping the resultant length ‖mean √p‖ next to the point makes
``absorb`` exactly incremental: absorbing k signatures one by one equals the
batch mean of the k (to rounding). Reference basins (``frozen=True``, the
"Ocean") refuse every change.

File layout (``beamline.basin/1``, 2–4 KB): ``id``, ``container_id``, ``basin``
(64 floats), ``resultant``, ``frozen``, ``provenance`` {source, n, phi, kappa,
regime, timestamp, kernel_version} and ``sync`` {heads, head_state, seen} — the packet
bookkeeping of ``basin.sync`` (bounded by the number of producers).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, model_validator

from basin import geometry
from basin.telemetry import Regime, Telemetry, classify_regime
from contracts.registry import canonical_json

BASIN_FORMAT: Literal["beamline.basin/1"] = "beamline.basin/1"
SIGNATURE_DIM = 64


class FrozenBasinError(RuntimeError):
    """A reference basin was asked to move."""


class Provenance(BaseModel):
    """Where a basin came from and what it has absorbed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = ""
    n: int = Field(default=0, ge=0)
    phi: float = 0.0
    kappa: float = Field(default=0.0, ge=0.0)
    regime: Regime = "linear"
    timestamp: str = ""
    kernel_version: str = ""


class SyncMark(BaseModel):
    """The latest packet accepted from one producer (a version-vector entry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    packet_id: str
    n: int = Field(ge=0)
    created_at: str


class SyncInfo(BaseModel):
    """Merkle frontier and per-producer marks.

    ``heads``: packet ids this basin descends from. ``head_state``: the basin id
    right after the single head was exported or adopted — if the basin still has
    that id it has not changed since, and a packet built on that head may
    fast-forward it. ``seen``: latest accepted packet per producer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    heads: tuple[str, ...] = ()
    head_state: str | None = None
    seen: dict[str, SyncMark] = Field(default_factory=dict)


def basin_id(container_id: str, point: Sequence[float], n: int) -> str:
    """Content id: SHA-256 (first 32 hex) of the canonical JSON of coordinates, n and container."""
    blob = canonical_json({"basin": list(point), "container_id": container_id, "n": n})
    return hashlib.sha256(blob).hexdigest()[:32]


class Basin(BaseModel):
    """An immutable container basin; see the module docstring for the file layout."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    format: Literal["beamline.basin/1"] = BASIN_FORMAT
    container_id: str = Field(min_length=1)
    point: tuple[float, ...] = Field(alias="basin")
    resultant: float = Field(default=0.0, ge=0.0)
    frozen: bool = False
    provenance: Provenance = Field(default_factory=Provenance)
    sync: SyncInfo = Field(default_factory=SyncInfo)

    @model_validator(mode="before")
    @classmethod
    def _check_stored_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "id" in data:
            data = dict(data)
            stored = data.pop("id")
            prov = data.get("provenance") or {}
            n = prov.get("n", 0) if isinstance(prov, dict) else getattr(prov, "n", 0)
            point = data.get("basin", data.get("point", ()))
            if stored != basin_id(str(data.get("container_id")), list(point), int(n)):
                raise ValueError("basin file id does not match its content (edited or corrupted)")
        return data

    @model_validator(mode="after")
    def _check_point(self) -> Basin:
        if len(self.point) != SIGNATURE_DIM:
            raise ValueError(f"a basin has {SIGNATURE_DIM} coordinates, got {len(self.point)}")
        geometry.as_simplex(self.point)
        return self

    # ---- construction ---------------------------------------------------------------------------

    @classmethod
    def empty(cls, container_id: str, *, source: str = "", kernel_version: str = "", timestamp: str = "") -> Basin:
        """A basin that has absorbed nothing: the simplex centre with n = 0."""
        return cls(
            container_id=container_id,
            basin=tuple(geometry.uniform(SIGNATURE_DIM).tolist()),
            provenance=Provenance(source=source, kernel_version=kernel_version, timestamp=timestamp),
        )

    @classmethod
    def from_signatures(
        cls,
        container_id: str,
        signatures: Sequence[ArrayLike],
        *,
        phi: float = 0.0,
        kappa: float = 0.0,
        source: str = "",
        kernel_version: str = "",
        timestamp: str = "",
        frozen: bool = False,
    ) -> Basin:
        """The batch Fréchet mean of ``signatures`` (e.g. to build a frozen reference basin)."""
        point, resultant = geometry.root_mean(signatures)
        return cls(
            container_id=container_id,
            basin=tuple(point.tolist()),
            resultant=resultant,
            frozen=frozen,
            provenance=Provenance(
                source=source, n=len(signatures), phi=phi, kappa=kappa, regime=classify_regime(phi),
                timestamp=timestamp, kernel_version=kernel_version,
            ),
        )

    # ---- derived --------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return basin_id(self.container_id, self.point, self.provenance.n)

    @property
    def n(self) -> int:
        return self.provenance.n

    def vector(self) -> np.ndarray:
        return np.asarray(self.point, dtype=np.float64)

    def stats(self) -> dict[str, float]:
        """Summary numbers for humans: entropy, peak coordinate, distance from the simplex centre."""
        p = self.vector()
        return {
            "entropy_nats": geometry.entropy(p),
            "max_coordinate": float(p.max()),
            "distance_from_uniform": geometry.fisher_rao(p, geometry.uniform(p.size)),
            "resultant": self.resultant,
        }

    # ---- updates --------------------------------------------------------------------------------

    def _ensure_movable(self) -> None:
        if self.frozen:
            raise FrozenBasinError(f"basin {self.id} of {self.container_id} is a frozen reference")

    def absorb(self, signature: ArrayLike, telemetry: Telemetry, *, timestamp: str, source: str | None = None) -> Basin:
        """Add one approved signature (incremental Fréchet mean; Φ and κ as running means)."""
        self._ensure_movable()
        n = self.n
        point, resultant = geometry.absorb_root_mean(self.point, self.resultant, n, signature)
        phi = (n * self.provenance.phi + telemetry.phi) / (n + 1)
        kappa = (n * self.provenance.kappa + telemetry.kappa) / (n + 1)
        prov = self.provenance.model_copy(update={
            "n": n + 1, "phi": phi, "kappa": kappa, "timestamp": timestamp,
            "regime": classify_regime(phi, self.provenance.regime if n else None),
            "source": source if source is not None else self.provenance.source,
        })
        return self.model_copy(update={"point": tuple(point.tolist()), "resultant": resultant, "provenance": prov})

    def moved_to(self, point: ArrayLike, **provenance: Any) -> Basin:
        """A copy at ``point`` with provenance fields replaced (used by sync and vicarious updates)."""
        self._ensure_movable()
        p = geometry.as_simplex(point)
        update: dict[str, Any] = {"point": tuple(p.tolist()), "provenance": self.provenance.model_copy(update=provenance)}
        return self.model_copy(update=update)

    # ---- files ----------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True)
        data["basin"] = list(self.point)
        data["id"] = self.id
        return data

    def dumps(self) -> bytes:
        """Indented, key-sorted JSON (one coordinate per line: diffable, 2–4 KB)."""
        return orjson.dumps(self.to_json(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)

    @classmethod
    def loads(cls, raw: bytes | str) -> Basin:
        return cls.model_validate(orjson.loads(raw))

    def save(self, path: str | Path) -> int:
        """Write atomically (temp file + rename); returns the size in bytes."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = self.dumps()
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(data)

    @classmethod
    def load(cls, path: str | Path) -> Basin:
        return cls.loads(Path(path).read_bytes())
