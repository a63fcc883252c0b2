# `make demo`: the whole workflow on generated data. `make test`: the unit and contract tests (minutes);
# `make test-workflow` and `make test-e2e` run Snakemake beside them (tests/conftest.py: the tiers).
# Each creates .venv (pinned dependencies, package installed editable) when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo elpv test test-workflow test-e2e slurm-test dag clean-demo plan

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

# The test tiers (markers registered in pyproject.toml): `make test`, unit and contract tests in process,
# the README's test command; `make test-workflow`, every test that starts Snakemake (dry runs, lint,
# profiles, the paper protocol's DAG) or a training process; `make test-e2e`, the whole pipeline on the
# micro demo (config/micro.yaml) in one temporary copy of the project. PYTEST_ARGS adds options
# (.ci/run: --durations=15).
PYTEST = $(BIN)/python -m pytest -q $(PYTEST_ARGS)

test: $(BIN)/.installed
	$(PYTEST) -m "not workflow and not e2e"

test-workflow: $(BIN)/.installed
	$(PYTEST) -m workflow

test-e2e: $(BIN)/.installed
	$(PYTEST) -m e2e

slurm-test: $(BIN)/.installed
	bash scripts/slurm_test.sh

# The paper protocol's DAG: its jobs per rule and the seconds Snakemake took to plan them.
dag: $(BIN)/.installed
	@t0=$$(date +%s.%N); $(BIN)/snakemake -n all_tables --quiet rules && \
	echo "planned in $$(echo "$$(date +%s.%N) $$t0" | awk '{printf "%.1f", $$1 - $$2}') s"

clean-demo:
	rm -rf results/demo results/micro data/demo

# What a study will do, on one screen, before it starts (python -m dra plan): runs per table, dataset
# and variant, what is done, what an edit reruns and why, downloads, what only a person can place.
#   make plan CONFIG=config/studies/elpv-cpu.yaml
CONFIG ?=
plan: $(BIN)/.installed
	$(BIN)/python -m dra plan $(if $(CONFIG),--configfile $(CONFIG))
