"""Running a sheet through every real stage in process (memory bus, SQLite store), as
``beamline run`` does, for SPE's end-to-end tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from beamline import flags as flag_config
from beamline.pipeline import enabled_stages, execute_embedded, submission
from contracts.envelope import Envelope
from store.beam_store import BeamStore, open_store

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "run-spe-e2e"


def sheet_flags(**overrides: Any) -> dict[str, Any]:
    """The repo's flags.toml, no environment, plus ``overrides``."""
    return {**flag_config.resolve(flags_file=ROOT / "flags.toml", environ={}), **overrides}


def run_sheet(
    source: str, db: Path, flags: dict[str, Any], *, stages: list[Any] | None = None, run_id: str = RUN_ID
) -> BeamStore:
    """Submit ``source`` and run it to quiescence; returns the open store (caller closes)."""
    store = open_store(f"sqlite:///{db}", migrate=True)
    submitted = submission(source, filename="spe_test.codex", flags=flags, flags_digest=flag_config.digest(flags),
                           run_id=run_id)
    asyncio.run(execute_embedded([submitted], store=store, flags=flags,
                                 stages=stages if stages is not None else enabled_stages()))
    return store


def beams(store: BeamStore, stage: str) -> dict[str, Envelope]:
    """cell id → its (last) beam of ``stage``."""
    return {str(env.cell_id): env for env in store.events(types=["BeamEvent"], stage=stage)}


def mutations(store: BeamStore) -> dict[str, Envelope]:
    """mutated cell id → its DNAMutation."""
    return {str(env.payload["mutated"]["cell_id"]): env for env in store.events(types=["DNAMutation"])}
