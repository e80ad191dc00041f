"""Process-wide CLI options (set once by the root callback, read by commands)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_STORE = "sqlite:///beamline.db"


@dataclass
class CliConfig:
    debug: bool = False
    bus: str = "memory"
    store_url: str = field(default_factory=lambda: os.environ.get("BEAMLINE_STORE", DEFAULT_STORE))
    flags_file: Path | None = None
    cli_flags: list[str] = field(default_factory=list)


CONFIG = CliConfig()
