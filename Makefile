# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test test-fast app bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "livedocs-runner needs Python 3.11 or newer"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[app,dask,team,test]"
	touch $(STAMP)

setup: $(STAMP)  ## make .venv and install livedocs-runner with everything the demo and tests need

demo: setup  ## validate the demo configs, run their scenarios, say where the reports are, rerun one and verify it
	$(BIN)/livedocs validate configs/*.yaml
	$(BIN)/livedocs run configs/credit_risk.yaml --workers 2
	$(BIN)/livedocs run configs/pricing_whatif.yaml -s baseline -s summer_discount -s winter_rise --workers 2
	@if $(BIN)/jupyter kernelspec list 2>/dev/null | grep -q '^ *ir '; then $(BIN)/livedocs run configs/credit_risk_r.yaml --workers 2; \
	else echo "Note: skipping the R demo (configs/credit_risk_r.yaml): no R kernel 'ir' (apt-get install r-base-core r-cran-irkernel)."; fi
	$(BIN)/livedocs runs --limit 12
	@echo "Open any report listed above in a browser (the runs are kept in the project's .livedocs/)."
	@id=$$($(BIN)/livedocs runs --notebook credit_risk.ipynb --scenario baseline --status succeeded --limit 1 --json \
	  | $(BIN)/python -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])') && \
	echo "" && echo "Compliance: rerun the baseline run $$id exactly, and verify it reproduces:" && \
	$(BIN)/livedocs rerun $$id --verify && \
	echo "" && echo "... and the same model on another quarter's data (exit 1: it differs, and the diff says how):" && \
	{ $(BIN)/livedocs rerun $$id -p data_file=data/loans_2026Q2.csv --verify; test $$? -eq 1; }

test: setup  ## the whole suite: unit, real kernels, the app, one real browser
	$(BIN)/python -m pytest -q

test-fast: setup  ## unit tests only (no kernels, no browser)
	$(BIN)/python -m pytest -q -m "not kernel and not browser and not dask"

app: setup  ## start the web app on http://127.0.0.1:8501 (this machine only)
	$(BIN)/livedocs app

bench: setup  ## benchmarks against the plain papermill way
	$(BIN)/python benchmarks/run_overhead.py
	$(BIN)/python benchmarks/speed.py
	$(BIN)/python benchmarks/team_store.py

clean:
	rm -rf .livedocs build *.egg-info
