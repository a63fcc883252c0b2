"""The workflow talking to a newcomer, through a real Snakemake on the demo's generated data (issue 22):
a dry run that opens with the plan; a study whose DTD download fails offline, announced before it
starts with its size and the key that avoids it, a progress line per finished run, and a closing line
naming the failed download and the runs that hang on it; a Ctrl-C counted as an interruption and
resumed from the checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
pytestmark = pytest.mark.e2e  # each runs a small study of its own (interruptions need their own results)


def overlay(tmp_path: Path, **over) -> str:
    cfg = {"paths": {"data": str(tmp_path / "data"), "results": str(tmp_path / "res")}, "seeds": [0],
           "select": {"variants": ["devnet", "ahl_devnet"], "tables": ["table_ahl"], "shots": [10]}, **over}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def smk(*args, env=None, timeout=900):
    return subprocess.run([SNAKEMAKE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_an_offline_study_is_told_its_download_sees_progress_and_is_told_what_failed_and_why(tmp_path):
    study = overlay(tmp_path, methods={"ahl_devnet": {"texture_source": "dtd"}})  # the protocol's textures
    dry = smk("-n", "all_tables", "--configfile", "config/demo.yaml", study)
    assert dry.returncode == 0, dry.stderr[-2000:]
    out = dry.stdout  # where a dry run's job list goes: the plan stands before it
    plan = out[out.index("Plan (config/config.yaml + config/demo.yaml + "):out.index("Job stats")]
    assert out.count("Plan (") == 1 and len(plan.strip().splitlines()) < 20, plan
    assert "6 runs" in plan and "table_ahl 6" in plan and "dtd-r1.0.1.tar.gz (dtd, 600 MB) for 3 runs" in plan
    offline = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}
    r = smk("--cores", "2", "all_tables", "--configfile", "config/demo.yaml", study, env=offline)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    # before: the download, its size, its runs and the key that avoids it
    head = out[out.index("Downloads the workflow will start"):]
    assert head.splitlines()[1].startswith("- dtd-r1.0.1.tar.gz (dtd, 600 MB) for 3 runs: variants ahl_devnet on demo")
    assert "texture_source: synthetic" in head.splitlines()[1]
    # the failure shown once (Snakemake's failed log), not once per retry and again through a tee
    assert out.count("error: dtd: could not download") == 1, out[-4000:]
    # during: a line per finished run
    progress = [x for x in out.splitlines() if x.startswith("runs: ") and "this invocation" in x]
    assert progress and progress[-1].startswith("runs: 3/6 done"), progress
    assert any("3 cannot run (a job they need failed)" in x for x in progress)
    # after: the cause named, with what hangs on it and what to do
    closing = out[out.index("runs: 3 done"):]
    assert closing.startswith("runs: 3 done, 3 not run, of the 6 the configuration selects")
    assert "download_dtd failed (log: " in closing and "3 runs depend on it (ahl_devnet on demo)" in closing
    assert "without it: set `texture_source: synthetic`" in closing


def _wait_for(path: Path, text: str, proc, seconds: float) -> None:
    deadline = time.time() + seconds
    while proc.poll() is None and time.time() < deadline:
        if path.is_file() and text in path.read_text():
            return
        time.sleep(0.1)


def test_ctrl_c_is_counted_as_an_interruption_and_the_rerun_resumes_from_the_checkpoint(tmp_path):
    study = overlay(tmp_path, select={"variants": ["devnet"], "tables": ["table1_general"], "shots": [10]},
                    methods={"devnet": {"epochs": 6, "iterations": 3, "batch_normal": 8, "batch_anomaly": 8}})
    log = tmp_path / "res" / "logs" / "train" / "devnet" / "demo" / "weave" / "general" / "10shot" / "seed0.log"
    with open(tmp_path / "console.txt", "w") as console:
        # Ctrl-C at a terminal signals the whole foreground process group: Snakemake and its jobs
        proc = subprocess.Popen([SNAKEMAKE, "--cores", "2", "all_tables", "--configfile", "config/demo.yaml", study],
                                cwd=ROOT, stdout=console, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        _wait_for(log, "epoch 1/6 iteration 2/3", proc, 600)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=600)
    out = (tmp_path / "console.txt").read_text()
    assert "Traceback" not in log.read_text() and "interrupted (SIGINT) after step" in log.read_text()
    run = tmp_path / "res" / "runs" / "devnet" / "demo" / "weave" / "general" / "10shot" / "seed0"
    assert (run / "checkpoint.pt").is_file()
    closing = [x for x in out.splitlines() if x.startswith("runs: ") and "configuration selects" in x]
    assert closing and "1 interrupted" in closing[-1] and "failed" not in closing[-1], out[-3000:]
    again = smk("--cores", "2", "all_tables", "--configfile", "config/demo.yaml", study)
    assert again.returncode == 0, again.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["resumed_from"] is not None and not (run / "checkpoint.pt").exists()
    assert "runs: 1 done, 0 not run, of the 1 the configuration selects" in again.stderr, again.stderr[-2000:]


def test_runs_that_end_whole_after_snakemake_alone_is_stopped_are_kept_not_trained_again(tmp_path):
    study = overlay(tmp_path, select={"variants": ["devnet"], "tables": ["table1_general"], "shots": [10]},
                    methods={"devnet": {"epochs": 4, "iterations": 3, "batch_normal": 8, "batch_anomaly": 8}})
    log = tmp_path / "res" / "logs" / "train" / "devnet" / "demo" / "weave" / "general" / "10shot" / "seed0.log"
    with open(tmp_path / "console.txt", "w") as console:
        proc = subprocess.Popen([SNAKEMAKE, "--cores", "2", "all_tables", "--configfile", "config/demo.yaml", study],
                                cwd=ROOT, stdout=console, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        _wait_for(log, "epoch 1/4", proc, 600)
        proc.send_signal(signal.SIGINT)  # Snakemake alone: its running job goes on to the end
        proc.wait(timeout=600)
    run = tmp_path / "res" / "runs" / "devnet" / "demo" / "weave" / "general" / "10shot" / "seed0"
    assert (run / "metrics.json").is_file(), (tmp_path / "console.txt").read_text()[-3000:]
    dry = smk("-n", "all_tables", "--configfile", "config/demo.yaml", study)
    assert "rule train:" not in dry.stdout, "a whole run, marked incomplete by the stop, would be trained again"
