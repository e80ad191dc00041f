"""``beamline basin show|export|import|keygen`` — basin files and signed packets on disk.

The commands are thin: they read files, call the pure functions of
``basin.sync`` / ``basin.packets`` and write files. Exit codes: 0 done (a
replayed packet is done too: a no-op), 1 packet rejected (reason printed, or
the ``BasinPacketRejected`` JSON with ``--json``), 2 unusable input. Nothing
here imports torch, and no key material is ever printed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import orjson
import typer

if TYPE_CHECKING:
    from basin.container import Basin

# Same value as basin.sync.DEFAULT_MAX_DRIFT (a test pins them together); repeated here so
# that `beamline --help` does not import the basin code (numpy, cryptography) to render it.
DEFAULT_MAX_DRIFT = 0.8

basin_app = typer.Typer(
    name="basin", help="Basin signatures: show files, export and import signed sync packets.", no_args_is_help=True
)

KeyDirOption = Annotated[
    Path | None, typer.Option("--key-dir", help="Key directory (default $BEAMLINE_KEY_DIR or ~/.config/beamline/keys).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def register(app: typer.Typer) -> None:
    """Attach the ``basin`` command group to the main CLI."""
    app.add_typer(basin_app, name="basin")


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _load_basin(path: Path) -> Basin:
    from basin.container import Basin

    try:
        return Basin.load(path)
    except FileNotFoundError:
        _fail(f"no basin file at {path}")
    except (ValueError, orjson.JSONDecodeError) as exc:
        _fail(f"{path} is not a valid basin file: {str(exc).splitlines()[0]}")


def _emit_json(data: Any) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode())


def _show_rows(path: Path, raw: bytes) -> tuple[str, list[tuple[str, str]], dict[str, Any]]:
    from basin.container import Basin
    from basin.packets import decode_packet, packet_summary

    data = orjson.loads(raw)
    if isinstance(data, dict) and "signature" in data:
        packet = decode_packet(raw)
        summary = packet_summary(packet)
        summary["bytes"] = len(raw)
        return "basin sync packet", [(k, str(v)) for k, v in summary.items()], summary
    basin = Basin.loads(raw)
    prov = basin.provenance
    stats = basin.stats()
    info: dict[str, Any] = {
        "id": basin.id, "container_id": basin.container_id, "frozen": basin.frozen, "bytes": len(raw),
        **prov.model_dump(), **stats,
        "heads": list(basin.sync.heads), "producers_seen": sorted(basin.sync.seen),
    }
    rows = [(k, f"{v:.6g}" if isinstance(v, float) else str(v)) for k, v in info.items()]
    return f"basin {path.name}", rows, info


@basin_app.command("show")
def show(path: Path, as_json: JsonOption = False) -> None:
    """Print a basin file's provenance and statistics (or a packet file's summary)."""
    from basin.packets import PacketError

    try:
        raw = path.read_bytes()
        title, rows, info = _show_rows(path, raw)
    except FileNotFoundError:
        _fail(f"no file at {path}")
    except PacketError as exc:
        _fail(f"{path}: {exc.reason}")
    except (ValueError, orjson.JSONDecodeError) as exc:
        _fail(f"{path} is neither a basin file nor a packet: {str(exc).splitlines()[0]}")
    if as_json:
        _emit_json(info)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in rows:
        table.add_row(key, value)
    Console().print(table)


@basin_app.command("keygen")
def keygen(name: str, key_dir: KeyDirOption = None) -> None:
    """Create an Ed25519 key pair NAME.key / NAME.pub in the key directory."""
    from basin.keys import KeyStore, KeyStoreError

    store = KeyStore(key_dir)
    try:
        key_id = store.generate(name)
    except KeyStoreError as exc:
        _fail(str(exc))
    typer.echo(f"key {name}: id {key_id}; share {store.directory / (name + '.pub')} with receivers")


@basin_app.command("export")
def export(
    basin_file: Path,
    out: Annotated[Path, typer.Option("--out", "-o", help="Packet file to write.")],
    key: Annotated[str, typer.Option("--key", help="Name of the signing key in the key directory.")],
    key_dir: KeyDirOption = None,
    producer: Annotated[str | None, typer.Option(help="Producer id (default: the basin's source, else the key name).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Write a signed packet of BASIN_FILE and record it as the basin's Merkle head."""
    from basin.keys import KeyStore, KeyStoreError
    from basin.packets import encode_packet, format_timestamp, packet_summary
    from basin.sync import export_packet

    basin = _load_basin(basin_file)
    try:
        signer = KeyStore(key_dir).signer(key)
    except KeyStoreError as exc:
        _fail(str(exc))
    producer_id = producer or basin.provenance.source or key
    packet, updated = export_packet(
        basin, signer=signer, producer_id=producer_id, created_at=format_timestamp(datetime.now(UTC))
    )
    data = encode_packet(packet)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    updated.save(basin_file)
    summary = packet_summary(packet) | {"bytes": len(data), "file": str(out)}
    if as_json:
        _emit_json(summary)
    else:
        typer.echo(f"exported packet {summary['id'][:16]} ({len(data)} bytes, n={packet.n}) to {out}")


@basin_app.command("import")
def import_packet(
    packet_file: Path,
    into: Annotated[Path, typer.Option("--into", help="Local basin file (created from the packet if missing).")],
    mode: Annotated[str, typer.Option(help="full | partial | observer")] = "partial",
    trust_dir: Annotated[
        Path | None, typer.Option("--trust-dir", help="Directory of trusted *.pub keys (default: the key directory).")
    ] = None,
    max_drift: Annotated[float, typer.Option(help="Reject packets farther than this (Fisher–Rao).")] = DEFAULT_MAX_DRIFT,
    as_json: JsonOption = False,
) -> None:
    """Verify PACKET_FILE against trusted keys and merge it into the basin file."""
    from basin.container import Basin
    from basin.keys import KeyStoreError, TrustStore, default_key_dir
    from basin.packets import PacketError, decode_packet
    from basin.sync import MERGE_MODES, MergeMode, merge_packet

    if mode not in MERGE_MODES:
        _fail(f"unknown mode {mode!r}; use one of {', '.join(MERGE_MODES)}")
    merge_mode: MergeMode = mode  # narrowed by the membership test above
    try:
        packet = decode_packet(packet_file.read_bytes())
    except FileNotFoundError:
        _fail(f"no packet file at {packet_file}")
    except PacketError as exc:
        _fail(f"{packet_file}: {exc.reason}")
    try:
        trust = TrustStore.from_directory(trust_dir or default_key_dir())
    except KeyStoreError as exc:
        _fail(str(exc))
    state = _load_basin(into) if into.exists() else Basin.empty(packet.container_id)
    merged, rejection = merge_packet(state, packet, merge_mode, trust=trust, max_drift=max_drift)
    if rejection is not None:
        if as_json:
            _emit_json({"type": rejection.TYPE, "payload": rejection.model_dump(mode="json")})
        else:
            typer.echo(f"rejected packet {rejection.packet_id[:16]}: {rejection.reason}", err=True)
        raise typer.Exit(1)
    outcome = "no-op (already applied)" if merged == state and into.exists() else f"merged ({merge_mode})"
    if merged != state or not into.exists():
        merged.save(into)
    if as_json:
        _emit_json({"outcome": outcome, "basin_id": merged.id, "n": merged.n, "file": str(into)})
    else:
        typer.echo(f"{outcome}: basin {merged.id} n={merged.n} in {into}")
