"""Typed feature flags: defaults < flags.toml < BEAMLINE_* env < runtime FlagChanged < CLI.

Flag names are the TOML keys (``QWAVE_EXEC_ON``, ``COST_THRESHOLD``); stage toggles
are addressed as ``stage.<id>``. Each name has one declared type, and a value of
another type — or an unknown name — is a ``FlagError`` naming the flag.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

STAGE_IDS = ("codex", "photon", "qwave", "sqi", "spe")


@dataclass(frozen=True)
class FlagSpec:
    name: str
    kind: type
    default: Any
    section: str
    help: str
    positive: bool = False  # a number that must be > 0 (a divisor or a time budget)


SPECS: dict[str, FlagSpec] = {
    s.name: s
    for s in (
        FlagSpec("PHASE9_ENABLED", bool, False, "flags", "prediction forks: up to 3 equivalent forms, SQI keeps the best"),
        FlagSpec("PHASE10_ENABLED", bool, True, "flags", "vector beams (vmapped batches) and precision profiling"),
        FlagSpec("QWAVE_EXEC_ON", bool, True, "flags", "offload cells over COST_THRESHOLD to QWave (JAX)"),
        FlagSpec("QKD_ON", bool, False, "flags", "HMAC authentication of every event with per-EID keys"),
        FlagSpec("SPE_AUTO_FUSE", bool, False, "flags", "reinject SPE candidates into Photon"),
        FlagSpec("COST_THRESHOLD", float, 2.0e5, "thresholds", "estimated FLOPs at which a cell goes to QWave",
                 positive=True),
        FlagSpec("SPE_MAX_GENERATIONS", int, 3, "thresholds", "depth cap of the auto-fuse loop"),
        FlagSpec("QWAVE_BACKLOG_LIMIT", int, 10_000, "thresholds", "QWave backlog above which heavy cells are deferred"),
        FlagSpec("QWAVE_BACKOFF_S", float, 0.5, "thresholds", "first retry delay of a deferred cell (doubles, max 60 s)"),
        FlagSpec("PHASE9_FORK_MIN_QSCORE", float, 0.6, "thresholds", "forks scoring below this are pruned"),
        FlagSpec("SOULLAW_POLICY", str, "", "sqi", "SoulLaw policy file (empty: the repo's soullaw.toml)"),
        FlagSpec("SOULLAW_BUDGET_MS", float, 250.0, "sqi", "time budget of one SoulLaw decision (fail closed)",
                 positive=True),
        FlagSpec("SQI_W_GOAL", float, 1.0, "sqi", "qscore weight of goal_match_score"),
        FlagSpec("SQI_W_REWRITE", float, 1.0, "sqi", "qscore weight of rewrite_success_prob"),
        FlagSpec("SQI_W_DRIFT", float, 1.0, "sqi", "qscore weight of 1 - drift/pi"),
        FlagSpec("SQI_W_STABILITY", float, 1.0, "sqi", "qscore weight of stability"),
        *(FlagSpec(f"stage.{sid}", bool, True, "stages", f"run the {sid} stage") for sid in STAGE_IDS),
    )
}


class FlagError(ValueError):
    """An unknown flag name or a value of the wrong type."""


def coerce(name: str, value: Any) -> Any:
    """Check/convert ``value`` to the flag's declared type; strings are parsed (env, CLI)."""
    spec = SPECS.get(name)
    if spec is None:
        known = ", ".join(sorted(SPECS))
        raise FlagError(f"unknown flag {name!r} (known: {known})")
    if spec.kind is str:
        if isinstance(value, str):
            return value
        raise FlagError(f"flag {name} expects a string, got {value!r}")
    if isinstance(value, str):
        return _checked_sign(spec, _parse_text(spec, value))
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        raise FlagError(f"flag {name} expects true/false, got {value!r}")
    if spec.kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise FlagError(f"flag {name} expects an integer, got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _checked_sign(spec, float(value))
    raise FlagError(f"flag {name} expects a number, got {value!r}")


def _checked_sign(spec: FlagSpec, value: Any) -> Any:
    # COST_THRESHOLD is the unit of Codex's cost total: 0 would fail every sheet, not offload everything.
    if spec.positive and not value > 0:
        raise FlagError(f"flag {spec.name} must be greater than 0, got {value!r}")
    return value


def _parse_text(spec: FlagSpec, text: str) -> Any:
    raw = text.strip()
    if spec.kind is bool:
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise FlagError(f"flag {spec.name} expects true/false, got {text!r}")
    try:
        return int(raw) if spec.kind is int else float(raw)
    except ValueError:
        kind = "an integer" if spec.kind is int else "a number"
        raise FlagError(f"flag {spec.name} expects {kind}, got {text!r}") from None


def defaults() -> dict[str, Any]:
    return {name: spec.default for name, spec in SPECS.items()}


def from_toml(path: Path) -> dict[str, Any]:
    """Flags set in a flags.toml file (sections flags / thresholds / sqi / stages)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise FlagError(f"{path}: invalid TOML: {exc}") from None
    found: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise FlagError(f"{path}: top-level key {section!r} must be a [section]")
        for key, value in table.items():
            name = f"stage.{key}" if section == "stages" else key
            if name not in SPECS:
                raise FlagError(f"{path}: unknown flag {name!r} in [{section}]")
            found[name] = coerce(name, value)
    return found


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """``BEAMLINE_QWAVE_EXEC_ON=0``; stage toggles as ``BEAMLINE_STAGE_SQI=false``."""
    found: dict[str, Any] = {}
    for name in SPECS:
        env_name = "BEAMLINE_" + name.replace(".", "_").upper()
        if env_name in environ:
            found[name] = coerce(name, environ[env_name])
    return found


def parse_assignments(pairs: Iterable[str]) -> dict[str, Any]:
    """CLI ``--flag NAME=VALUE`` pairs."""
    found: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise FlagError(f"--flag expects NAME=VALUE, got {pair!r}")
        found[name.strip()] = coerce(name.strip(), value)
    return found


def resolve(
    *,
    flags_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    runtime: Mapping[str, Any] | None = None,
    cli: Iterable[str] = (),
) -> dict[str, Any]:
    """The flags in force, layered by precedence."""
    merged = defaults()
    path = flags_file if flags_file is not None else Path("flags.toml")
    if path.exists():
        merged.update(from_toml(path))
    elif flags_file is not None:
        raise FlagError(f"flags file {flags_file} does not exist")
    merged.update(from_env(os.environ if environ is None else environ))
    for name, value in (runtime or {}).items():
        merged[name] = coerce(name, value)
    merged.update(parse_assignments(cli))
    return merged


def digest(flags: Mapping[str, Any]) -> str:
    """Stable digest of the flags in force (sorted canonical JSON, sha256, 16 hex)."""
    blob = orjson.dumps(dict(flags), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]
