"""The collector setting a pipeline run uses, and that it is put back afterwards."""

from __future__ import annotations

import gc

from bus.pipeline import PIPELINE_GC_THRESHOLD, pipeline_gc


def test_the_threshold_is_raised_while_pipelines_run_and_restored_by_the_last_one() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        assert gc.get_freeze_count() == 0
        with pipeline_gc():
            assert gc.get_threshold() == (PIPELINE_GC_THRESHOLD, 10, 10)
            assert gc.get_freeze_count() > 0  # what existed before the run is left out of collections
            with pipeline_gc():  # a second pipeline in the same process
                assert gc.get_threshold()[0] == PIPELINE_GC_THRESHOLD
            assert gc.get_threshold()[0] == PIPELINE_GC_THRESHOLD  # the first one still runs
        assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0
        gc.set_threshold(50_000, 5, 5)  # a process that set more keeps it
        with pipeline_gc():
            assert gc.get_threshold() == (50_000, 5, 5)
        assert gc.get_threshold() == (50_000, 5, 5)
        gc.freeze()  # a process that froze objects itself: its freeze is left as it is
        frozen = gc.get_freeze_count()
        with pipeline_gc():
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
