"""The HUD web server: one read-only page, JSON views, and a WebSocket live feed.

The live feed follows the store's ``seq`` (the same order ``tail`` uses), so the
HUD shows what was persisted, whichever bus the workers run on. Every route only
reads the store; there is no route that changes anything.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, Response

from hud.fold import HudFold
from hud.views import beam_row, entanglement_graph

STATIC = Path(__file__).resolve().parent / "static"
POLL_SECONDS = 0.2
BATCH = 500
# A page that connects without ``after`` first gets this many of the latest events.
BACKLOG = 300


class HudState:
    """The store plus the fold of everything read from it so far (thread-safe)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.fold = HudFold()
        self._lock = threading.Lock()

    def refresh(self) -> HudFold:
        """Fold the events stored since the last call; returns the up-to-date fold."""
        with self._lock:
            while batch := self.store.events_with_seq(self.fold.after_seq, BATCH):
                for seq, envelope in batch:
                    self.fold.fold(seq, envelope)
            return self.fold


def same_origin(origin: str | None, host: str | None) -> bool:
    """A browser's WebSocket ``Origin`` must name the host it connects to (no cross-site reads).

    Clients that send no Origin (tools, tests) are not browsers acting for another site.
    """
    if origin is None:
        return True
    return host is not None and urlsplit(origin).netloc == host


def create_app(store: Any) -> FastAPI:
    """``store`` is an open BeamStore; the app only reads from it."""
    app = FastAPI(title="Beamline HUD", docs_url=None, redoc_url=None, openapi_url=None)
    state = HudState(store)

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file():
            raise HTTPException(404, "not found")
        return FileResponse(path)

    @app.get("/api/eids")
    def eids() -> dict[str, Any]:
        return {"eids": state.refresh().eids()}

    @app.get("/api/graph")
    def graph(run: str | None = None) -> dict[str, Any]:
        fold = state.refresh()
        return entanglement_graph(fold, run or fold.latest_run)

    @app.get("/api/stats")
    def summary() -> dict[str, Any]:
        return state.refresh().stats()

    @app.get("/api/replay/{eid}")
    def replay(eid: str, last: int | None = None) -> dict[str, Any]:
        if last is not None and last < 0:
            raise HTTPException(422, "last must be >= 0")
        ghost = store.ghost_replay_for_eid(eid, last=last)
        if not ghost.events:
            raise HTTPException(404, f"no events for EID {eid}")
        return {"eid": eid, "run": ghost.events[0].sheet_run_id, "members": ghost.members,
                "events": [beam_row(i, env) for i, env in enumerate(ghost.events)]}

    @app.websocket("/ws")
    async def live(socket: WebSocket) -> None:
        if not same_origin(socket.headers.get("origin"), socket.headers.get("host")):
            await socket.close(code=1008)
            return
        await socket.accept()
        # Without a pending receive a closed page (or server shutdown) would go unnoticed
        # until the next send, and an idle feed would keep the server from exiting.
        closed = asyncio.create_task(_until_closed(socket))
        try:
            after = await _start_seq(store, socket.query_params.get("after"))
            while not closed.done():
                batch = await asyncio.to_thread(store.events_with_seq, after, BATCH)
                if batch:
                    after = batch[-1][0]
                    await socket.send_json({"beams": [beam_row(seq, env) for seq, env in batch]})
                else:
                    await asyncio.wait({closed}, timeout=POLL_SECONDS)
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            closed.cancel()

    return app


async def _until_closed(socket: WebSocket) -> None:
    """Returns when the client disconnects; the feed never reads what the page sends."""
    try:
        while (await socket.receive())["type"] != "websocket.disconnect":
            pass
    except (WebSocketDisconnect, RuntimeError):
        return


async def _start_seq(store: Any, after: str | None) -> int:
    """The seq to follow from: the client's ``after``, else the last ``BACKLOG`` events."""
    if after is not None:
        try:
            return max(0, int(after))
        except ValueError:
            return 0
    latest = int(await asyncio.to_thread(store.max_seq))
    return max(0, latest - BACKLOG)
