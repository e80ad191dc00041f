"""Constellation: routing strategies, vicarious geodesic sync, frozen reference, state round trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from basin.constellation import Constellation
from basin.container import Basin
from basin.kernel import FisherRaoKernel
from basin.reader import BasinReader
from basin.routing import ROUTERS, InstanceView, Router, RouterState, register_router

BeamsFn = Callable[..., list[dict[str, Any]]]
VIEWS = [InstanceView("a", 0.62, 3), InstanceView("b", 0.31, 5), InstanceView("c", 0.48, 1), InstanceView("d", 0.31, 2)]


def test_strategies_pick_by_phi_with_deterministic_tie_breaks() -> None:
    state = RouterState()
    assert ROUTERS["phi_min"](VIEWS, state) == 3  # b and d tie on Φ; d handled fewer
    assert ROUTERS["phi_max"](VIEWS, state) == 0
    assert ROUTERS["balanced"](VIEWS, state) == 2  # 0.48 is nearest 0.5


def test_round_robin_cycles_and_router_state_round_trips() -> None:
    router = Router("round_robin")
    assert [router.choose(VIEWS) for _ in range(6)] == [0, 1, 2, 3, 0, 1]
    restored = Router.from_state(router.get_state())
    assert restored.choose(VIEWS) == 2


def test_custom_strategies_plug_in_by_name() -> None:
    register_router("last_for_test", lambda views, state: len(views) - 1)
    try:
        assert Router("last_for_test").choose(VIEWS) == 3
        with pytest.raises(ValueError, match="already registered"):
            register_router("last_for_test", lambda views, state: 0)
    finally:
        ROUTERS.pop("last_for_test")
    with pytest.raises(ValueError, match="unknown routing strategy"):
        Router("nope")


def make(kernel: FisherRaoKernel, make_basin: Callable[..., Basin], make_beams: BeamsFn, **kw: Any) -> Constellation:
    c = Constellation.create(3, "c", kernel=kernel, **kw)
    for k, fam in enumerate(("wave", "observable", "algebra")):  # start the basins apart
        c.instances[k].basin = make_basin("c", make_beams(100 + k, 3, fam), source=f"i{k}")
    return c


def test_observers_move_toward_the_active_basin_along_the_geodesic(
    kernel: FisherRaoKernel, make_basin: Callable[..., Basin], make_beams: BeamsFn
) -> None:
    c = make(kernel, make_basin, make_beams, sync_weight=0.1)
    for result in make_beams(7, 4):
        report = c.step(result)
        for k, (before, after) in enumerate(zip(report.distances_before, report.distances_after, strict=True)):
            if k == report.active:
                assert before == after == 0.0
            else:
                assert after == pytest.approx(0.9 * before, rel=1e-9)
    assert [r.handled for r in c.instances] == [2, 1, 1]


def test_reference_basin_stays_frozen(kernel: FisherRaoKernel, make_basin: Callable[..., Basin],
                                      make_beams: BeamsFn) -> None:
    ocean = make_basin("c", make_beams(50, 4)).model_copy(update={"frozen": True})
    c = make(kernel, make_basin, make_beams, reference=ocean, strategy="balanced")
    reports = [c.step(r) for r in make_beams(51, 5)]
    assert c.reference == ocean
    assert all(r.reference_distance is not None and r.reference_distance > 0 for r in reports)
    with pytest.raises(ValueError, match="frozen"):
        Constellation.create(2, "c", kernel=kernel, reference=ocean.model_copy(update={"frozen": False}))


def test_phi_routing_follows_each_instances_last_phi(kernel: FisherRaoKernel, make_basin: Callable[..., Basin],
                                                     make_beams: BeamsFn) -> None:
    c = make(kernel, make_basin, make_beams, strategy="phi_max")
    for result in make_beams(60, 6):
        expected = max(range(3), key=lambda k: (c.instances[k].phi, -c.instances[k].handled, -k))
        assert c.step(result).active == expected


def test_sync_weight_must_be_in_the_documented_range(kernel: FisherRaoKernel) -> None:
    for bad in (0.01, 0.3):
        with pytest.raises(ValueError, match="sync_weight"):
            Constellation.create(2, "c", kernel=kernel, sync_weight=bad)


def test_checkpoint_restores_basins_and_router(kernel: FisherRaoKernel, make_basin: Callable[..., Basin],
                                               make_beams: BeamsFn, tmp_path: Path) -> None:
    c = make(kernel, make_basin, make_beams, strategy="round_robin")
    for r in make_beams(70, 4):
        c.step(r)
    kernel.save(tmp_path / "constellation.pt", router_state=c.get_state())
    restored = FisherRaoKernel.load(tmp_path / "constellation.pt")
    fresh = Constellation.create(3, "c", kernel=restored.kernel)
    fresh.load_state(restored.router_state)
    assert [i.basin for i in fresh.instances] == [i.basin for i in c.instances]
    nxt = make_beams(71, 1)[0]
    assert fresh.step(nxt).active == c.step(nxt).active
    assert isinstance(fresh.instances[0].reader, BasinReader)
