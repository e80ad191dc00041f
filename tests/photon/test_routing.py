"""Routing: heavy cells to QWave when it is on, the rest symbolic; deferral under a QWave backlog."""

from __future__ import annotations

from stages.photon.routing import BACKOFF_MAX_S, MAX_DEFERRALS, backoff_seconds, decide_route

FLAGS = {"QWAVE_EXEC_ON": True, "COST_THRESHOLD": 1000.0, "QWAVE_BACKLOG_LIMIT": 10}


def test_heavy_cells_go_to_qwave_light_ones_stay_symbolic() -> None:
    assert decide_route(1000.0, FLAGS).route == "qwave"
    assert decide_route(999.0, FLAGS).route == "symbolic"
    assert decide_route(1000.0, FLAGS).threshold == 1000.0


def test_qwave_off_keeps_everything_symbolic() -> None:
    decision = decide_route(1e12, {**FLAGS, "QWAVE_EXEC_ON": False})
    assert decision.route == "symbolic" and not decision.deferred


def test_defaults_apply_when_flags_are_missing() -> None:
    assert decide_route(2.0e5, {}).route == "qwave"
    assert decide_route(1.9e5, {}).threshold == 2.0e5


def test_backlog_over_the_limit_defers_heavy_cells_with_growing_back_off() -> None:
    first = decide_route(5000.0, FLAGS, backlog=11)
    third = decide_route(5000.0, FLAGS, backlog=11, attempt=2)
    assert first.deferred and first.route == "qwave"
    assert first.retry_after_s is not None and third.retry_after_s is not None
    assert third.retry_after_s == 4 * first.retry_after_s
    assert first.to_json()["backlog"] == 11 and first.to_json()["backlog_limit"] == 10


def test_backlog_never_defers_light_cells_or_cells_at_the_limit() -> None:
    assert not decide_route(10.0, FLAGS, backlog=10**6).deferred
    assert not decide_route(5000.0, FLAGS, backlog=10).deferred


def test_an_unknown_backlog_never_defers_and_deferral_is_bounded() -> None:
    assert not decide_route(5000.0, FLAGS, backlog=None).deferred
    assert decide_route(5000.0, FLAGS, backlog=11, attempt=MAX_DEFERRALS - 1).deferred
    last = decide_route(5000.0, FLAGS, backlog=11, attempt=MAX_DEFERRALS)
    assert not last.deferred and last.route == "qwave"


def test_the_first_back_off_is_a_flag() -> None:
    decision = decide_route(5000.0, {**FLAGS, "QWAVE_BACKOFF_S": 0.01}, backlog=11, attempt=3)
    assert decision.retry_after_s == 0.08


def test_back_off_is_capped() -> None:
    assert backoff_seconds(0) < backoff_seconds(1) < backoff_seconds(2)
    assert backoff_seconds(50) == BACKOFF_MAX_S
