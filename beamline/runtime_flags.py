"""Runtime flag changes: FlagChanged events recorded in the store and published on beamline.control."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from contracts.envelope import utc_now
from contracts.payloads import FlagChanged
from contracts.registry import make_event


def _sqlite_missing(store_url: str) -> bool:
    prefix = "sqlite:///"
    return store_url.startswith(prefix) and not Path(store_url[len(prefix):]).exists()


def recorded_overrides(store_url: str) -> dict[str, Any]:
    """The latest recorded value of every flag changed at runtime (oldest first, so later wins)."""
    if _sqlite_missing(store_url):
        return {}
    from store.beam_store import open_store

    store = open_store(store_url)
    try:
        overrides: dict[str, Any] = {}
        for env in store.events(types=["FlagChanged"]):
            overrides[str(env.payload["name"])] = env.payload["value"]
        return overrides
    finally:
        store.close()


def flag_changed_event(name: str, value: Any, previous: Any, source: str = "cli") -> Any:
    run_id = f"control-{uuid.uuid4().hex[:12]}"
    return make_event(
        FlagChanged(name=name, value=value, previous=previous, source=source),
        stage_id="control",
        index=0,
        sheet_run_id=run_id,
        container_id="default",
        occurred_at=utc_now(),
    )


def publish_flag_change(store_url: str, bus_name: str, name: str, value: Any, previous: Any) -> None:
    """Record the change in the store; on Kafka also publish it so running workers apply it live."""
    from store.beam_store import open_store

    envelope = flag_changed_event(name, value, previous)
    store = open_store(store_url, migrate=True)
    try:
        store.persist_beam_events([envelope])
    finally:
        store.close()
    if bus_name != "memory":
        import asyncio

        from bus.publish import publish_envelopes

        asyncio.run(publish_envelopes(bus_name, [envelope]))
