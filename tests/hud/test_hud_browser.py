"""The HUD page in headless Chromium while a sheet runs: live beams, the entanglement
map, the stats panels and a GHX replay, as a user watching the page sees them.

Needs Debian's chromium at /usr/bin/chromium (``make browser``); Playwright drives it
(never ``playwright install``). The page opens on an empty store, then
``beamline run examples/hud_demo.codex`` (heat_and_waves plus one vetoed cell) runs
in a subprocess. A screenshot lands in ``test-artifacts/hud.png``; with
``BEAMLINE_UPDATE_SCREENSHOT=1`` also in ``docs/hud.png``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hud.server import create_app
from store.beam_store import BeamStore, open_store

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHEET = ROOT / "examples" / "hud_demo.codex"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]
RUN_TIMEOUT_S = 120
WAIT_MS = 30_000

if not CHROMIUM.exists():
    reason = f"HUD browser test skipped: {CHROMIUM} is missing (install Debian's chromium: `make browser`)"
    print(reason)
    pytest.skip(reason, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="HUD browser test skipped: playwright is not installed")


class HudServer:
    """The HUD app under uvicorn in a background thread, on a free 127.0.0.1 port."""

    def __init__(self, store: BeamStore) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(create_app(store), log_level="warning", ws="websockets-sansio", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> HudServer:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            self.thread.join(0.05)
        raise RuntimeError("the HUD server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'hud.db'}"


@pytest.fixture
def page(store_url: str) -> Iterator[tuple[Any, BeamStore]]:
    store = open_store(store_url, migrate=True)
    with HudServer(store) as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.set_default_timeout(WAIT_MS)
            tab.goto(f"http://127.0.0.1:{server.port}/")
            yield tab, store
            assert errors == [], f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()
            store.close()


def _beamline() -> str:
    beside = Path(sys.executable).with_name("beamline")
    return str(beside) if beside.exists() else shutil.which("beamline") or "beamline"


def _count(tab: Any, selector: str) -> int:
    return int(tab.locator(selector).count())


def _step_until(tab: Any, cell: str, limit: int) -> str:
    """Press ▶ until the replay's current step is an event of ``cell``; returns the step text."""
    for _ in range(limit):
        text = str(tab.locator("#replay-step").inner_text())
        if f" · {cell} · " in text:
            return text
        tab.click("#replay-next")
    raise AssertionError(f"no replay step of {cell} within {limit} steps")


def test_hud_shows_a_live_run_and_replays_an_eid(page: tuple[Any, BeamStore], store_url: str,
                                                 tmp_path: Path) -> None:
    tab, store = page
    tab.wait_for_function("document.querySelector('#status').textContent === 'live'")
    assert _count(tab, "#timeline tbody tr") == 0, "a fresh store has no beams"

    log = tmp_path / "run.log"
    with log.open("w") as output:
        # Output goes to a file: a full pipe must not stall the run while the test watches the page.
        run = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [_beamline(), "--store", store_url, "run", str(SHEET), "--json"],
            cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
        )
        try:
            # Beams arrive over the WebSocket while the sheet is still running.
            tab.wait_for_selector("#timeline tbody tr", timeout=RUN_TIMEOUT_S * 1000)
            first_rows_while_running = run.poll() is None
            run.wait(timeout=RUN_TIMEOUT_S)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert run.returncode == 0, log.read_text()[-2000:]
    assert first_rows_while_running, "the timeline only filled after the run had finished"

    # Every stored event reaches the timeline exactly once.
    stored = len(store.events())
    tab.wait_for_function(f"document.querySelectorAll('#timeline tbody tr').length === {stored}")
    seqs = tab.eval_on_selector_all("#timeline tbody tr td:first-child", "tds => tds.map(td => Number(td.textContent))")
    assert seqs == sorted({seq for seq, _ in store.events_with_seq(0)}, reverse=True)
    approved_cells = set(tab.eval_on_selector_all("#timeline tr.stage-approved", "rows => rows.map(r => r.dataset.cell)"))
    assert approved_cells == {"heat", "lap", "flux", "fringe", "step"}
    assert tab.eval_on_selector_all("#timeline tr.stage-vetoed", "rows => rows.map(r => r.dataset.cell)") == ["blowup"]

    # The entanglement map draws the heat ↔ lap pair and colours cells by verdict.
    tab.wait_for_selector("#graph line.link[data-source='heat'][data-target='lap']", state="attached")
    assert _count(tab, "#graph line.link") == 1
    tab.wait_for_selector("#graph circle.cell.vetoed[data-cell='blowup']", state="attached")
    assert _count(tab, "#graph circle.cell.approved") == 5

    # The stats panels fill from the same run.
    tab.wait_for_function("document.querySelector('#sqi-count').textContent === '6 scores'")
    bars = tab.eval_on_selector_all("#sqi rect.bar", "bars => bars.map(b => Number(b.dataset.count))")
    assert sum(bars) == 6 and bars[-1] == 5
    opcodes = tab.eval_on_selector_all("#opcodes tbody tr td:first-child", "tds => tds.map(td => td.textContent)")
    assert {"⟲", "Δ", "⊗", "interfere", "+"} <= set(opcodes)
    uses = tab.eval_on_selector_all("#precision tbody tr td.use", "tds => tds.map(td => td.textContent)")
    assert uses and set(uses) <= {"fp32", "bf16", "fp8", "int8"}
    veto = tab.locator("#vetoes li.veto").inner_text()
    assert "blowup" in veto and "cfl_unstable" in veto

    # GHX replay: pick the heat ↔ lap EID and step through it.
    eid = tab.eval_on_selector("#eid-select option[data-members='heat,lap']", "o => o.value")
    events = len(store.ghost_replay_for_eid(eid).events)
    tab.select_option("#eid-select", eid)
    tab.wait_for_function(f"document.querySelector('#replay-step').textContent.startsWith('step 1/{events} ')")
    first = tab.locator("#replay-step").inner_text()
    assert sorted(tab.eval_on_selector_all("#graph circle.cell.member", "cs => cs.map(c => c.dataset.cell)")) == [
        "heat", "lap"]
    assert _count(tab, "#graph line.link.active") == 1
    tab.click("#replay-next")
    assert tab.locator("#replay-step").inner_text() != first
    assert tab.locator("#replay-events li.current .n").inner_text() == "2"

    _step_until(tab, "heat", events)
    assert tab.eval_on_selector_all("#graph circle.cell.lit", "cs => cs.map(c => c.dataset.cell)") == ["heat"]
    _step_until(tab, "lap", events)
    assert tab.eval_on_selector_all("#graph circle.cell.lit", "cs => cs.map(c => c.dataset.cell)") == ["lap"]
    for _ in range(6):  # a few steps further, so the screenshot shows the replay mid-way
        tab.click("#replay-next")
    current = int(tab.locator("#replay-events li.current .n").inner_text())
    assert 1 < current <= events

    _save_screenshot(tab)


def _save_screenshot(tab: Any) -> None:
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    tab.screenshot(path=str(artifacts / "hud.png"), full_page=True)
    if os.environ.get("BEAMLINE_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(artifacts / "hud.png", ROOT / "docs" / "hud.png")
