"""Container basins: incremental Fréchet mean, content id, file format, frozen references, drift."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from basin import geometry
from basin.container import Basin, FrozenBasinError
from basin.reader import BasinReader, drift, signature

STAMP = "2025-01-01T00:00:00.000000Z"
BeamsFn = Callable[..., list[dict[str, Any]]]
BasinFn = Callable[..., Basin]


def test_incremental_basin_equals_the_batch_frechet_mean(reader: BasinReader, make_beams: BeamsFn,
                                                         make_basin: BasinFn) -> None:
    results = make_beams(1, 12)
    incremental = make_basin("c", results)
    batch = Basin.from_signatures("c", [reader.signature(r) for r in results])
    np.testing.assert_allclose(incremental.vector(), batch.vector(), atol=1e-15)
    assert incremental.n == batch.n == 12
    assert incremental.resultant == pytest.approx(batch.resultant, abs=1e-15)


def test_basin_carries_running_telemetry(reader: BasinReader, make_beams: BeamsFn, make_basin: BasinFn) -> None:
    results = make_beams(2, 5)
    basin = make_basin("c", results)
    phis = [reader.telemetry(r).phi for r in results]
    kappas = [reader.telemetry(r).kappa for r in results]
    assert basin.provenance.phi == pytest.approx(np.mean(phis))
    assert basin.provenance.kappa == pytest.approx(np.mean(kappas))
    assert basin.provenance.kernel_version == reader.kernel_version


def test_basin_file_is_small_round_trips_and_has_provenance(tmp_path: Path, make_beams: BeamsFn,
                                                            make_basin: BasinFn) -> None:
    basin = make_basin("container-1", make_beams(3, 6), source="sqi-0")
    size = basin.save(tmp_path / "b.json")
    assert 2048 <= size <= 4096
    data = orjson.loads((tmp_path / "b.json").read_bytes())
    assert set(data["provenance"]) == {"source", "n", "phi", "kappa", "regime", "timestamp", "kernel_version"}
    assert data["id"] == basin.id and len(data["basin"]) == 64
    assert Basin.load(tmp_path / "b.json") == basin


def test_id_is_a_content_hash(make_beams: BeamsFn, make_basin: BasinFn) -> None:
    basin = make_basin("c", make_beams(4, 3))
    restamped = basin.model_copy(update={"provenance": basin.provenance.model_copy(update={"timestamp": "later"})})
    assert restamped.id == basin.id
    assert make_basin("other", make_beams(4, 3)).id != basin.id
    assert make_basin("c", make_beams(4, 4)).id != basin.id


def test_edited_basin_file_is_refused(tmp_path: Path, make_beams: BeamsFn, make_basin: BasinFn) -> None:
    basin = make_basin("c", make_beams(5, 3))
    data = basin.to_json()
    data["basin"][0], data["basin"][1] = data["basin"][1], data["basin"][0]
    (tmp_path / "b.json").write_bytes(orjson.dumps(data))
    with pytest.raises(ValueError, match="id does not match"):
        Basin.load(tmp_path / "b.json")


def test_frozen_reference_never_moves(make_beams: BeamsFn, reader: BasinReader) -> None:
    sigs = [reader.signature(r) for r in make_beams(6, 4)]
    ocean = Basin.from_signatures("c", sigs, frozen=True, source="ocean")
    out = reader.read(make_beams(7, 1)[0])
    with pytest.raises(FrozenBasinError):
        ocean.absorb(out.signature, out.telemetry, timestamp=STAMP)
    with pytest.raises(FrozenBasinError):
        ocean.moved_to(geometry.uniform(64))


def test_drift_is_zero_at_home_and_larger_for_unfamiliar_beams(reader: BasinReader, make_beams: BeamsFn,
                                                               make_basin: BasinFn) -> None:
    waves = make_basin("c", make_beams(8, 10, "wave"))
    sig = signature(make_beams(9, 1, "wave")[0])
    # A basin of one signature stores it after a round trip through √ (the sphere), which may move
    # it by an ulp, depending on the CPU's vector math: zero up to that rounding.
    assert drift(sig, Basin.from_signatures("c", [sig])) == pytest.approx(0.0, abs=1e-12)
    assert drift(sig, sig) == 0.0  # equal inputs: exactly zero
    familiar = [drift(reader.signature(r), waves) for r in make_beams(10, 8, "wave")]
    unfamiliar = [drift(reader.signature(r), waves) for r in make_beams(11, 8, "observable")]
    assert 0.0 < np.mean(familiar) < np.mean(unfamiliar) <= np.pi


def test_importing_basin_and_its_cli_does_not_import_torch() -> None:
    code = ("import sys, basin, basin.commands, basin.reader, basin.sync, basin.constellation, basin.checkpoint; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
