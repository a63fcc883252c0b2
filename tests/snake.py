"""Starting Snakemake from a test (tiers `workflow` and `e2e` only: conftest refuses the fixtures that
use this in an unmarked test) and reading what a dry run planned."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")
COPY = ("src", "workflow", "config", "profiles", "pyproject.toml")  # what a copy of the project needs


def smk(*args, cwd=ROOT, check=True, env=None, timeout=1800) -> subprocess.CompletedProcess:
    """Snakemake with these arguments; with `check`, a failure shows the end of its output."""
    r = subprocess.run([SNAKEMAKE, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       env=None if env is None else {**os.environ, **env})
    if check and r.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(map(str, args))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def planned(output: str) -> dict[str, list[dict]]:
    """rule -> wildcards of each planned job, from a dry run's output."""
    jobs: dict[str, list[dict]] = {}
    rule = None
    for line in output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if m:
            rule = m.group(1)
            jobs.setdefault(rule, []).append({})
        elif rule and line.strip().startswith("wildcards:"):
            pairs = line.strip()[len("wildcards:"):].split(",")
            jobs[rule][-1] = dict(p.strip().split("=", 1) for p in pairs)
    return jobs


def trained(jobs: dict[str, list[dict]]) -> list[dict]:
    """The training jobs of a plan (a run whose model a later step reads is a `train_keep_model` job)."""
    return jobs.get("train", []) + jobs.get("train_keep_model", [])


def copy_project(dest: Path) -> Path:
    """What Snakemake needs of the project, copied to `dest` (no caches, no results)."""
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def write_yaml(path: Path, content: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content))
    return str(path)


def paths_overlay(tmp_path: Path, **extra) -> str:
    """An overlay that sends data and results under tmp_path (a dry run of the real project touches
    nothing of it), with any other keys."""
    return write_yaml(tmp_path / "paths.yaml", {"paths": {"data": str(tmp_path / "data"),
                                                          "results": str(tmp_path / "res")}, **extra})


class Micro:
    """A copy of the project in which the micro demo ran once (config/demo.yaml + config/micro.yaml),
    its data and results in folders whose names hold a space. conftest's session fixture `micro`
    makes it; each end-to-end test overlays its own configuration on it (dry runs, a few jobs)."""

    def __init__(self, base: Path):
        self.base = base
        self.data, self.results = base / "micro data", base / "micro results"
        spaces = write_yaml(base / "config" / "spaces.yaml", {"paths": {"data": self.data.name,
                                                                        "results": self.results.name}})
        self.configs = ["config/demo.yaml", "config/micro.yaml", str(Path(spaces).relative_to(base))]

    def smk(self, *args, configs=(), config=(), **kw) -> subprocess.CompletedProcess:
        """Snakemake in the copy with the micro demo's configuration, then `configs` (files) over it and
        `config` (--config KEY=VALUE items)."""
        return smk(*args, "--configfile", *self.configs, *configs, *(("--config", *config) if config else ()),
                   cwd=self.base, **kw)

    def overlay(self, name: str, content: dict) -> str:
        """A configuration file in the copy's config/ (its path relative to the copy)."""
        return str(Path(write_yaml(self.base / "config" / name, content)).relative_to(self.base))

    def plan(self, *targets, configs=()) -> dict[str, list[dict]]:
        return planned(self.smk("-n", *(targets or ("all_tables",)), configs=configs).stdout)

    def plan_after_edit(self, module: str, comment: str) -> dict[str, list[dict]]:
        """What a dry run plans after a comment is appended to src/dra/`module`; then the file is restored,
        its modification time too (a newer source file would replan what lists it as an input)."""
        path = self.base / "src" / "dra" / module
        original, stat = path.read_text(), path.stat()
        try:
            path.write_text(original + f"\n# {comment}\n")
            return self.plan()
        finally:
            path.write_text(original)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
