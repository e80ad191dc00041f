# Beamline: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench schema browser clean

# Idempotent: re-installs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the HUD browser test (Playwright drives it; never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; the HUD browser test will be skipped with a reason"

demo: $(STAMP)
	$(PY) scripts/demo_photon_qwave_sqi.py

test: $(STAMP) browser
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q -p no:cacheprovider --durations=15

test-fast: $(STAMP)
	$(PY) -m pytest -q -x -m "not slow and not browser"

lint: $(STAMP)
	$(VENV)/bin/ruff check contracts stages bus store replay basin hud beamline scripts tests
	$(VENV)/bin/mypy

# Full sizes of quality.md (~30 min on 2 idle cores, P1/P9 dominate); `make bench BENCH_ARGS=--quick`: < 3 min.
bench: $(STAMP)
	$(PY) scripts/bench/run_all.py $(BENCH_ARGS)

schema: $(STAMP)
	$(VENV)/bin/beamline contracts schema

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache beamline.db*
