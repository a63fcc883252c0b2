"""What the workflow says before, during and after a study (issue 22), in process: the pre-flight names
every download with its size, its runs and the key that does without it; the plan fits a screen and
names the files and keys whose edit reruns a run; an explicitly selected empty table is skipped with a
note; the CPU preset; the progress line and its ETA; the closing lines naming every cause."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from conftest import ROOT
from dra.cli import main
from dra.errors import DraError
from dra.plan.config import deep_merge, load_config, run_spec
from dra.plan.configcheck import check_config, coerce
from dra.plan.console import Console, Failure, closing_lines
from dra.plan.matrix import all_runs, empty_selected, runs_by_artefact
from dra.plan.overview import RunState, overview, run_states
from dra.plan.preflight import download_advice, selection_downloads
from dra.plan.runkey import RUN_LOG, Run, run_file
from dra.plan.sources import file_digests, train_modules

CONFIG = ROOT / "config" / "config.yaml"


def config(*files, **over) -> dict:
    cfg = load_config(CONFIG, *[ROOT / f for f in files])
    return check_config(coerce(deep_merge(cfg, over)))


def ahl_study(tmp_path, **over) -> dict:
    """The issue's study: DRA, DevNet and both AHL variants on ELPV, the protocol's DTD textures."""
    return config("config/studies/elpv-cpu.yaml", paths={"data": str(tmp_path / "d"), "results": str(tmp_path / "r")},
                  select={"datasets": ["elpv"], "variants": ["dra", "devnet", "ahl_dra", "ahl_devnet"],
                          "tables": ["table_ahl"], "shots": [10]}, seeds=[0], **over)


# --- before: the pre-flight and the plan ------------------------------------------------------------


def test_the_preflight_names_dtds_download_its_size_its_runs_and_the_key_that_avoids_it(tmp_path):
    cfg = ahl_study(tmp_path)
    runs = all_runs(cfg)
    found = {d.dataset: d for d in selection_downloads(cfg, runs)}
    assert set(found) == {"dtd", "elpv"}
    dtd = found["dtd"]
    assert [f.name for f in dtd.files] == ["dtd-r1.0.1.tar.gz"]
    assert {r.variant for r in dtd.runs} == {"ahl_dra", "ahl_devnet"} and len(dtd.runs) == 6  # 3 rows x 2
    text = dtd.text()
    assert "(dtd, 600 MB) for 6 runs" in text and "texture_source: synthetic" in text
    assert "leave elpv out of select.datasets" in found["elpv"].text() and "91 MB" in found["elpv"].text()
    # the key given, the download is gone
    off = ahl_study(tmp_path, methods={"ahl_dra": {"texture_source": "synthetic"},
                                       "ahl_devnet": {"texture_source": "synthetic"}})
    assert "dtd" not in {d.dataset for d in selection_downloads(off, all_runs(off))}
    assert "texture_source: synthetic" in download_advice(cfg, "dtd", dtd.runs)


def test_python_m_dra_datasets_names_the_downloads_and_lists_a_dataset_of_ones_own(tmp_path, capsys):
    raw = tmp_path / "bottles"
    for sub in ("front", "side"):
        (raw / sub / "train" / "good").mkdir(parents=True)
    over = tmp_path / "mine.yaml"
    over.write_text(json.dumps({
        "paths": {"data": str(tmp_path / "d"), "results": str(tmp_path / "r")},
        "datasets": {"bottles": {"layout": "mvtec", "raw": str(raw), "image_size": 32}},
        "select": {"datasets": ["bottles", "elpv"], "variants": ["ahl_devnet", "devnet"], "tables": ["table_ahl"]}}))
    assert main(["datasets", "--configfile", str(CONFIG), "--configfile", str(over)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("bottles "))
    assert "raw present (your folder)" in row and "your own" in row and str(raw) in row
    assert "dtd-r1.0.1.tar.gz (dtd, 600 MB)" in out and "texture_source: synthetic" in out
    assert "They need nothing that is missing" not in out  # the downloads are something


def test_an_explicitly_selected_table_left_empty_is_skipped_with_a_note_why(tmp_path):
    raw = tmp_path / "bottles"
    for sub in ("front", "side"):
        (raw / sub / "train" / "good").mkdir(parents=True)
    cfg = config(paths={"data": str(tmp_path / "d"), "results": str(tmp_path / "r")}, weights="none",
                 datasets={"bottles": {"layout": "mvtec", "raw": str(raw), "image_size": 32}},
                 select={"datasets": ["bottles"], "tables": ["table1_general", "table2_hard"]})
    by = runs_by_artefact(cfg)  # the README's example: no error
    assert list(by) == ["table1_general"]
    notes = empty_selected(cfg, by)
    assert len(notes) == 1 and "table2_hard has no cells" in notes[0] and "bottles lists no hard classes" in notes[0]
    with pytest.raises(DraError, match="none of the tables"):
        runs_by_artefact(deep_merge(cfg, {"select": {"tables": ["table2_hard"]}}))


def _done(cfg: dict, run: Run, code_files: dict | None = None, spec: dict | None = None) -> Path:
    """A run folder as a finished run leaves it (what the plan reads: the spec and the code's digests)."""
    results = cfg["paths"]["results"]
    path = Path(run_file(run, results, "metrics"))
    path.parent.mkdir(parents=True, exist_ok=True)
    s = spec if spec is not None else run_spec(cfg, *run.words().values())
    files = code_files if code_files is not None else file_digests(*train_modules(s["method"]))
    path.write_text(json.dumps({"spec": s, "code_files": files, "seconds": 3.0}))
    return path


def test_the_plan_fits_a_screen_and_names_the_edits_that_rerun_runs(tmp_path):
    cfg = config("config/studies/elpv-cpu.yaml", paths={"data": str(tmp_path / "d"), "results": str(tmp_path / "r")})
    by = runs_by_artefact(cfg)
    runs = sorted({r for rs in by.values() for r in rs})
    devnet = [r for r in runs if r.variant == "devnet"]
    dra = [r for r in runs if r.variant == "dra"]
    _done(cfg, devnet[0])
    edited = dict(file_digests(*train_modules("devnet")), **{"src/dra/methods/devnet.py": "0" * 16})
    _done(cfg, devnet[1], code_files=edited)
    spec = run_spec(cfg, *dra[0].words().values())
    _done(cfg, dra[0], spec=deep_merge(spec, {"params": {"iterations": 20}}))
    stopped = Path(dra[1].dir(cfg["paths"]["results"]))
    stopped.mkdir(parents=True)
    (stopped / "checkpoint.pt").write_bytes(b"x")
    log = Path(RUN_LOG.format(results=cfg["paths"]["results"], **dra[2].words()))
    log.parent.mkdir(parents=True)
    log.write_text("Traceback ...\nRuntimeError: boom\n")
    states = run_states(cfg, runs)
    assert [states[r].state for r in (devnet[0], devnet[1], dra[0], dra[1], dra[2])] == \
           ["done", "rerun", "rerun", "interrupted", "failed"]
    lines = overview(cfg, by, "config/studies/elpv-cpu.yaml")
    text = "\n".join(lines)
    assert lines[0] == f"Plan (config/studies/elpv-cpu.yaml): 99 runs, results in {tmp_path / 'r'}/"
    assert lines[1] == "  1 done, 2 rerun, 1 interrupted, 1 failed, 94 to run"
    assert "table1_general 33 (1 done)" in text and "elpv 99 (1 done)" in text and "devnet 18 (1 done)" in text
    assert "code: src/dra/methods/devnet.py changed since they ran" in text  # a file, not a digest
    assert "configuration: params.iterations changed since they ran" in text
    assert "1 run interrupted; 1 with a checkpoint the rerun resumes from" in text and "failed before" in text
    assert "elpv_dataset-1.0.0.post1-py3-none-any.whl (elpv, 91 MB) for 99 runs" in text
    assert len(lines) <= 25 and all(len(x) <= 130 for x in lines), text
    # the whole protocol (3,800 runs) still fits a screen
    whole = overview(config(paths={"data": str(tmp_path / "d"), "results": str(tmp_path / "r")}),
                     runs_by_artefact(config()), "config/config.yaml")
    assert len(whole) <= 40, "\n".join(whole)


def test_a_done_run_whose_data_changed_or_went_is_a_rerun_naming_the_file(tmp_path):
    """Snakemake reruns a run whose split, manifest or cache is newer than its outputs, or missing (it is
    rebuilt first): the plan says so instead of 'done'."""
    import os

    from dra.plan.config import run_data_files

    cfg = config("config/studies/elpv-cpu.yaml", paths={"data": str(tmp_path / "d"), "results": str(tmp_path / "r")})
    run = next(r for r in all_runs(cfg) if r.variant == "saoe")  # draws from an external pool too
    spec = run_spec(cfg, *run.words().values())
    files = run_data_files(cfg, spec)
    assert files["cache"] == f"{tmp_path}/d/cache/elpv/elpv/64.npy" and len(files["external"]) == 2
    listed = [files["split"], files["manifest"], files["cache"], *files["external"]]
    for f in listed:
        Path(f).parent.mkdir(parents=True, exist_ok=True)
        Path(f).write_bytes(b"x")
        os.utime(f, (1_000_000, 1_000_000))
    metrics = _done(cfg, run)
    metrics.with_name("scores.csv").write_text("path,label,score\n")
    assert run_states(cfg, [run])[run] == RunState("done")
    os.utime(files["cache"])  # rebuilt after the run
    state = run_states(cfg, [run])[run]
    assert state.state == "rerun" and state.why == f"data: {files['cache']} (newer than the run)"
    os.utime(files["cache"], (1_000_000, 1_000_000))
    os.remove(files["external"][1])
    assert run_states(cfg, [run])[run].why == f"data: {files['external'][1]} (missing)"


def test_a_log_ending_in_an_interruption_counts_as_interrupted_not_failed(tmp_path):
    cfg = config("config/studies/elpv-cpu.yaml", paths={"data": str(tmp_path / "d"), "results": str(tmp_path / "r")})
    run = all_runs(cfg)[0]
    log = Path(RUN_LOG.format(results=cfg["paths"]["results"], **run.words()))
    log.parent.mkdir(parents=True)
    log.write_text(f"setup: ...\n{run.dir('x')}: interrupted (SIGINT) before training started; a rerun starts over\n")
    assert run_states(cfg, [run])[run].state == "interrupted"


def test_the_cpu_preset_sets_every_key_a_cpu_study_needs(tmp_path):
    cfg = config("config/presets/cpu.yaml", paths={"data": str(tmp_path / "d"), "results": str(tmp_path / "r")},
                 select={"datasets": ["elpv", "mvtecad"], "tables": ["table1_general", "table_ahl"]})
    assert cfg["weights"] == "none" and cfg["device"] == "cpu" and cfg["budget"] == 0.1
    runs = all_runs(cfg)
    assert {r.variant for r in runs} >= {"dra", "devnet", "kdad", "ahl_dra", "ahl_devnet"}
    for v, d in {(r.variant, r.dataset) for r in runs}:
        s = run_spec(cfg, v, d, "x", "general", 10, 0)
        assert s["image_size"] == 64, (v, d)
        p = s["params"]
        if v.startswith("ahl_"):
            assert p["inner_steps"] <= 4 and p["query_batches"] <= 2 and p["texture_source"] == "synthetic"
        elif v != "kdad":
            assert p["iterations"] <= 3, v
    assert cfg["resources"]["train"]["default"]["gpu"] == 0
    assert "dtd" not in {d.dataset for d in selection_downloads(cfg, runs)}


# --- during and after: the console ------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def record(event: str, **fields) -> logging.LogRecord:
    r = logging.LogRecord("snakemake", logging.INFO, "", 0, fields.pop("msg", ""), None, None)
    r.event = event
    for k, v in fields.items():
        setattr(r, k, v)
    return r


def wildcards(r: Run) -> dict:
    return {k: str(v) for k, v in r.words().items()}


def test_a_progress_line_per_finished_run_with_an_eta_from_their_durations(tmp_path):
    results = str(tmp_path / "r")
    runs = [Run("dra", "elpv", "elpv", "general", 10, s) for s in range(4)] + \
           [Run("kdad", "elpv", "elpv", "general", 0, s) for s in range(2)]
    out, clock = io.StringIO(), Clock()
    console = Console(runs, results, planned=lambda: runs[1:], out=out, clock=clock)
    _done({"paths": {"results": results}}, runs[0], code_files={}, spec={"x": 1})  # done before this invocation
    for i, r in enumerate(runs[1:], start=1):
        console.filter(record("job_info", jobid=i, rule_name="train", wildcards=wildcards(r)))
    # two dra runs finish after 10 s each, side by side
    clock.t = 10.0
    for i in (1, 2):
        path = Path(run_file(runs[i], results, "metrics"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"seconds": 10.0}))
        console.filter(record("job_finished", job_id=i))
    line = out.getvalue().strip().splitlines()[-1]
    # 3 runs left (one dra at 10 s, two kdad at the mean 10 s) / 2 in parallel = 15 s
    assert line == "runs: 3/6 done; this invocation 2/5, ETA 0m15s", line
    console.filter(record("job_error", jobid=3, rule_name="train", log=["x.log"]))
    assert "1 failed" in out.getvalue().strip().splitlines()[-1]
    assert console.filter(record("job_finished", job_id=99))  # a record is never dropped


def test_the_closing_lines_name_each_failed_job_and_the_runs_that_hang_on_it(tmp_path):
    results = str(tmp_path / "r")
    base = [Run("devnet", "elpv", "elpv", "general", 10, s) for s in range(2)]
    ahl = [r.with_variant("ahl_devnet") for r in base] + [r.with_variant("ahl_dra") for r in base]
    others = [Run("dra", "elpv", "elpv", "hard-mono", 10, 0)]
    runs = base + ahl + others
    _done({"paths": {"results": results}}, base[0], code_files={}, spec={})
    Path(base[1].dir(results)).mkdir(parents=True)
    (Path(base[1].dir(results)) / "checkpoint.pt").write_bytes(b"x")  # interrupted
    failures = [Failure("download_dtd", 7, {}, ["data/logs/download/dtd.log"]),
                Failure("download_dtd", 7, {}, ["data/logs/download/dtd.log"])]
    console = Console(runs, results, planned=lambda: runs)
    for f in failures:  # a retried job's failures are one cause
        console.filter(record("job_error", jobid=f.jobid, rule_name=f.rule, log=f.log))
    lines = closing_lines(runs, results, console.failures, lambda jobid: ahl if jobid == 7 else [], set(runs),
                          keep_going=False, advice=lambda f, hanging: "without it: set `texture_source: synthetic`")
    assert lines[0] == ("runs: 1 done, 1 interrupted (a rerun resumes each from its checkpoint, where it wrote one), "
                        "5 not run, of the 7 the configuration selects")
    assert lines[1] == ("  download_dtd failed (log: data/logs/download/dtd.log): 4 runs depend on it (ahl_devnet, "
                        "ahl_dra on elpv); without it: set `texture_source: synthetic`")
    assert lines[2].startswith("  1 run not started: Snakemake starts no new job after a failure; --keep-going")
    assert len(lines) == 3
    stopped = closing_lines(runs, results, [], lambda jobid: [], set(runs), keep_going=True, stopped=True)
    assert "stopped on request" in stopped[1] and "the workflow was stopped" in stopped[2]


def test_a_dry_run_opens_with_the_plan_once(tmp_path):
    out = io.StringIO()
    console = Console([], str(tmp_path), planned=lambda: [], dryrun=lambda: True, plan=lambda: ["Plan: x"], out=out)
    for _ in range(2):  # Snakemake logs its job stats twice in a dry run
        console.filter(record("run_info"))
    assert out.getvalue() == "Plan: x\n\n"


def test_only_a_job_started_here_without_error_counts_as_ended_whole(tmp_path):
    run = Run("devnet", "elpv", "elpv", "general", 10, 0)
    console = Console([run], str(tmp_path), planned=lambda: [run], out=io.StringIO())
    console.filter(record("job_info", jobid=1, rule_name="train", wildcards=wildcards(run)))
    console.filter(record("job_info", jobid=2, rule_name="train", wildcards=wildcards(run.with_variant("dra"))))
    console.filter(record("job_error", jobid=2, rule_name="train", log=[]))
    # a job not started in this session may hold an earlier run's outputs, stale after an edit
    assert [console.started_here(j) for j in (1, 2, 3)] == [True, False, False]
