"""The HUD web server: one read-only page, JSON views, and a WebSocket live feed.

The live feed follows the store's ``seq`` (the same order ``tail`` uses), so the
HUD shows what was persisted, whichever bus the workers run on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse

from hud.views import beam_row, entanglement_graph, stats

STATIC = Path(__file__).resolve().parent / "static"
POLL_SECONDS = 0.2
BATCH = 500


def create_app(store: Any) -> FastAPI:
    """``store`` is an open BeamStore; the app only reads from it."""
    app = FastAPI(title="Beamline HUD", docs_url=None, redoc_url=None)

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file():
            raise HTTPException(404, "not found")
        return FileResponse(path)

    @app.get("/api/eids")
    def eids() -> dict[str, Any]:
        members = store.entanglement_map()
        return {"eids": [{"eid": eid, "members": cells} for eid, cells in sorted(members.items())]}

    @app.get("/api/graph")
    def graph() -> dict[str, Any]:
        return entanglement_graph(store.entanglement_map())

    @app.get("/api/stats")
    def summary() -> dict[str, Any]:
        return stats(store.iter_events())

    @app.get("/api/replay/{eid}")
    def replay(eid: str, last: int | None = None) -> dict[str, Any]:
        ghost = store.ghost_replay_for_eid(eid, last=last)
        if not ghost.events:
            raise HTTPException(404, f"no events for EID {eid}")
        return {"eid": eid, "members": ghost.members,
                "events": [beam_row(i, env) for i, env in enumerate(ghost.events)]}

    @app.websocket("/ws")
    async def live(socket: WebSocket) -> None:
        await socket.accept()
        after = int(socket.query_params.get("after", "0"))
        try:
            while True:
                batch = await asyncio.to_thread(store.events_with_seq, after, BATCH)
                if batch:
                    after = batch[-1][0]
                    await socket.send_json({"beams": [beam_row(seq, env) for seq, env in batch]})
                else:
                    await asyncio.sleep(POLL_SECONDS)
        except (WebSocketDisconnect, RuntimeError):
            return

    return app
