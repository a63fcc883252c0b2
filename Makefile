# `make demo`: the whole workflow on generated data. `make test`: the test suite.
# Both create .venv (pinned dependencies, package installed editable) when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo elpv test test-fast slurm-test dag clean-demo plan

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) all_tables --configfile config/demo.yaml
	@echo
	@echo "Tables: results/demo/tables/ (CSV, Markdown, LaTeX, HTML); figures: results/demo/plots/; runs: results/demo/runs.csv"
	@echo "Report: $(BIN)/snakemake --report results/demo/report.html --configfile config/demo.yaml"
	@ls results/demo/tables/*.md

# Real data on this CPU: every method of Tables 1 and 2 on ELPV (installed from PyPI), three seeds,
# then the HTML report (config/studies/elpv-cpu.yaml).
elpv: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) all_tables --configfile config/studies/elpv-cpu.yaml
	$(BIN)/snakemake --report results/elpv-cpu/report.html --configfile config/studies/elpv-cpu.yaml
	@echo "Report: results/elpv-cpu/report.html; tables: results/elpv-cpu/tables/"

# `make test`: the whole suite, including the end-to-end tests marked slow (the whole demo in a
# temporary copy, the precise-rerun dry runs after it, the report); `make test-fast` leaves those out.
test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not slow"

slurm-test: $(BIN)/.installed
	bash scripts/slurm_test.sh

# The paper protocol's DAG: its jobs per rule and the seconds Snakemake took to plan them.
dag: $(BIN)/.installed
	@t0=$$(date +%s.%N); $(BIN)/snakemake -n all_tables --quiet rules && \
	echo "planned in $$(echo "$$(date +%s.%N) $$t0" | awk '{printf "%.1f", $$1 - $$2}') s"

clean-demo:
	rm -rf results/demo data/demo

# What a study will do, on one screen, before it starts (python -m dra plan): runs per table, dataset
# and variant, what is done, what an edit reruns and why, downloads, what only a person can place.
#   make plan CONFIG=config/studies/elpv-cpu.yaml
CONFIG ?=
plan: $(BIN)/.installed
	$(BIN)/python -m dra plan $(if $(CONFIG),--configfile $(CONFIG))
