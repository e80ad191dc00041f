"""``beamline hud``: serve the HUD on 127.0.0.1 (read-only)."""

from __future__ import annotations

from typing import Annotated

import typer

from beamline.config import CONFIG


def hud(
    host: Annotated[str, typer.Option(help="Bind address (keep 127.0.0.1 unless you mean it).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
) -> None:
    """Serve the live HUD: timeline, entanglement map, costs, precision, SQI, vetoes, GHX replay."""
    import uvicorn

    from beamline.storeutil import open_configured_store
    from hud.server import create_app

    store = open_configured_store(CONFIG.store_url)
    typer.echo(f"HUD on http://{host}:{port}/ (store {CONFIG.store_url})")
    try:
        uvicorn.run(create_app(store), host=host, port=port, log_level="warning")
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    app.command("hud")(hud)
