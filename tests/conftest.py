"""Shared fixtures, and the three tiers of the suite (markers registered in pyproject.toml, checked
with --strict-markers):

- unmarked: unit and contract tests, in process: `make test`, the README's test command (minutes).
  A test that trains on files uses the session's `world`; on tensors, methods_fixtures.easy_data.
- `workflow`: a test that starts Snakemake or parses the Snakefile (dry runs, lint and format,
  profiles, the paper protocol's DAG) or starts a pipeline process (`python -m dra train`, scripts/):
  `make test-workflow`. Helpers: snake.py.
- `e2e`: whole-pipeline runs, on the one copy of the project where the micro demo ran (the session's
  `micro`): `make test-e2e`. A test that asks for `micro` without the marker stops the collection.
"""

from __future__ import annotations

import os
from pathlib import Path

# One thread for torch here and in every process a test starts (Snakemake's jobs, `python -m dra`):
# the machines that run the suite share their few cores, where OpenMP's spinning threads slow a
# tiny run down many times over; one thread is also the fastest at these sizes. Set before torch loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

from snake import Micro, copy_project
from world import World

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    unmarked = [item.nodeid for item in items if "micro" in item.fixturenames and not item.get_closest_marker("e2e")]
    if unmarked:
        raise pytest.UsageError(f"these tests run the micro demo but are not marked e2e: {unmarked}")


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    """The generated dataset, prepared once; splits and caches made on first use (world.py)."""
    return World(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="session")
def micro(tmp_path_factory) -> Micro:
    """The project copied once and the micro demo run in it once, end to end (16 runs)."""
    m = Micro(copy_project(tmp_path_factory.mktemp("micro") / "project"))
    m.smk("--cores", "2", "all_tables")
    return m
