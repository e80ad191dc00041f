"""``beamline basin keygen|export|import|show`` on files, through Typer's runner."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from basin.commands import register
from basin.container import Basin

BeamsFn = Callable[..., list[dict[str, Any]]]
BasinFn = Callable[..., Basin]

app = typer.Typer()
register(app)


@app.callback()
def _root() -> None:
    """Stand-in for the beamline root command."""


runner = CliRunner()


def invoke(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def setup(tmp_path: Path, make_basin: BasinFn, make_beams: BeamsFn) -> dict[str, Path]:
    keys = tmp_path / "keys"
    assert invoke("basin", "keygen", "worker-a", "--key-dir", keys).exit_code == 0
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    make_basin("c", make_beams(1, 5), source="worker-a").save(a)
    make_basin("c", make_beams(2, 5), source="worker-b").save(b)
    return {"keys": keys, "a": a, "b": b, "tmp": tmp_path}


def test_keygen_writes_a_private_key_only_its_owner_can_read(setup: dict[str, Path]) -> None:
    private = setup["keys"] / "worker-a.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert (setup["keys"] / "worker-a.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    again = invoke("basin", "keygen", "worker-a", "--key-dir", setup["keys"])
    assert again.exit_code == 2 and "already exists" in again.output


def test_export_import_show_round_trip(setup: dict[str, Path]) -> None:
    packet = setup["tmp"] / "a.packet.json"
    out = invoke("basin", "export", setup["a"], "--out", packet, "--key", "worker-a", "--key-dir", setup["keys"],
                 "--json")
    assert out.exit_code == 0, out.output
    summary = orjson.loads(out.output)
    assert summary["producer_id"] == "worker-a" and summary["bytes"] == len(packet.read_bytes())
    assert Basin.load(setup["a"]).sync.heads == (summary["id"],)  # the export is the basin's new head
    assert "BEGIN" not in out.output  # no key material in output

    before = Basin.load(setup["b"])
    imported = invoke("basin", "import", packet, "--into", setup["b"], "--mode", "partial",
                      "--trust-dir", setup["keys"], "--json")
    assert imported.exit_code == 0, imported.output
    result = orjson.loads(imported.output)
    after = Basin.load(setup["b"])
    assert result["basin_id"] == after.id != before.id and after.n == 10

    replay = invoke("basin", "import", packet, "--into", setup["b"], "--trust-dir", setup["keys"])
    assert replay.exit_code == 0 and "no-op" in replay.output
    assert Basin.load(setup["b"]) == after

    shown = invoke("basin", "show", setup["b"], "--json")
    info = orjson.loads(shown.output)
    assert info["id"] == after.id and info["n"] == 10 and info["producers_seen"] == ["worker-a"]
    assert {"source", "phi", "kappa", "regime", "timestamp", "kernel_version", "entropy_nats"} <= set(info)
    table = invoke("basin", "show", setup["b"])
    assert table.exit_code == 0 and after.id in table.output
    assert invoke("basin", "show", packet).exit_code == 0


def test_late_instance_imports_into_a_new_file_with_full_mode(setup: dict[str, Path]) -> None:
    packet = setup["tmp"] / "p.json"
    invoke("basin", "export", setup["a"], "--out", packet, "--key", "worker-a", "--key-dir", setup["keys"])
    late = setup["tmp"] / "late" / "basin.json"
    late.parent.mkdir()
    out = invoke("basin", "import", packet, "--into", late, "--mode", "full", "--trust-dir", setup["keys"])
    assert out.exit_code == 0, out.output
    assert Basin.load(late).id == Basin.load(setup["a"]).id


def test_untrusted_and_tampered_packets_are_rejected_with_a_reason(setup: dict[str, Path]) -> None:
    packet = setup["tmp"] / "p.json"
    invoke("basin", "export", setup["a"], "--out", packet, "--key", "worker-a", "--key-dir", setup["keys"])
    nobody = setup["tmp"] / "empty-trust"
    nobody.mkdir()
    out = invoke("basin", "import", packet, "--into", setup["b"], "--trust-dir", nobody, "--json")
    assert out.exit_code == 1
    event = orjson.loads(out.stdout)
    assert event["type"] == "BasinPacketRejected" and event["payload"]["reason"].startswith("untrusted_key")

    raw = packet.read_bytes()
    tampered = setup["tmp"] / "t.json"
    tampered.write_bytes(raw.replace(b'"n":5', b'"n":9'))
    out = invoke("basin", "import", tampered, "--into", setup["b"], "--trust-dir", setup["keys"])
    assert out.exit_code == 1 and "bad_signature" in out.output
    broken = setup["tmp"] / "broken.json"
    broken.write_bytes(raw[:-5])
    out = invoke("basin", "import", broken, "--into", setup["b"], "--trust-dir", setup["keys"])
    assert out.exit_code == 2 and "malformed" in out.output
    assert Basin.load(setup["b"]).n == 5  # nothing merged


def test_bad_mode_and_missing_files_are_one_line_errors(setup: dict[str, Path]) -> None:
    out = invoke("basin", "import", setup["a"], "--into", setup["b"], "--mode", "merge-everything")
    assert out.exit_code == 2 and "unknown mode" in out.output
    out = invoke("basin", "show", setup["tmp"] / "missing.json")
    assert out.exit_code == 2 and "no file" in out.output
    out = invoke("basin", "export", setup["a"], "--out", setup["tmp"] / "x", "--key", "nope", "--key-dir", setup["keys"])
    assert out.exit_code == 2 and "no key" in out.output


def test_cli_default_max_drift_matches_the_sync_default() -> None:
    from basin import commands, sync

    assert commands.DEFAULT_MAX_DRIFT == sync.DEFAULT_MAX_DRIFT
