"""A run end to end through the CLI: determinism, kill-and-resume, outputs only when complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dra.plan.config import deep_merge, run_spec
from dra.data.cache import build_cache
from dra.data.splits import write_split

SIZE = 48


@pytest.fixture(scope="module")
def run_inputs(demo_data, tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    manifest = demo_data["weave"]
    write_split(manifest, "hard-spot", "spot", 1, base / "split.json", "demo", "weave")
    build_cache(manifest, SIZE, base / f"{SIZE}.npy")
    return base


def spec(cfg, variant="dra", epochs=2, iterations=3):
    cfg = deep_merge(cfg, {"methods": {m: {"epochs": epochs, "iterations": iterations} for m in cfg["methods"]}})
    return run_spec(cfg, variant, "demo", "weave", "hard-spot", 10, 1)


def train_cmd(base: Path, s: dict, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dra", "train", "--spec", json.dumps(s), "--split", str(base / "split.json"),
            "--manifest", str(base.parent / "dummy"), "--cache", str(base / f"{SIZE}.npy"), "--out", str(out),
            "--device", "cpu", *extra]


def train(run_inputs, demo_data, s, out, *extra):
    cmd = train_cmd(run_inputs, s, out, *extra)
    cmd[cmd.index("--manifest") + 1] = str(demo_data["weave"])
    return subprocess.run(cmd, capture_output=True, text=True)


@pytest.mark.parametrize("variant", ["dra", "devnet"])
def test_same_seed_gives_identical_scores(run_inputs, demo_data, tiny_config, tmp_path, variant):
    s = spec(tiny_config, variant)
    for name in ("a", "b"):
        r = train(run_inputs, demo_data, s, tmp_path / name)
        assert r.returncode == 0, r.stderr
    a, b = (tmp_path / "a" / "scores.csv").read_bytes(), (tmp_path / "b" / "scores.csv").read_bytes()
    assert a == b
    other = dict(s, seed=2)
    assert train(run_inputs, demo_data, other, tmp_path / "c").returncode == 0
    assert (tmp_path / "c" / "scores.csv").read_bytes() != a  # the seed matters


def test_run_folder_contents(run_inputs, demo_data, tiny_config, tmp_path):
    s = spec(tiny_config, "dra")
    r = train(run_inputs, demo_data, s, tmp_path / "r")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    for key in ("auroc", "aupr", "seconds", "images_per_second", "peak_memory_mb", "device", "git_commit",
                "config_digest", "versions", "epochs", "iterations", "images_seen"):
        assert key in m, key
    # what can change a run's bytes: the thread count and device type (and the torch version)
    assert isinstance(m["threads"], int) and m["threads"] >= 1 and m["device_type"] == "cpu" and m["torch"] == m["versions"]["torch"]
    # the demo's subset has masks: the localisation metrics are there
    assert 0 <= m["pixel_auroc"] <= 1 and 0 <= m["aupro"] <= 1
    # progress: epoch, iteration, loss, images/s and an ETA, a line at a time in a log
    lines = [x for x in r.stderr.splitlines() if " images/s eta " in x]
    assert lines and lines[-1].startswith("epoch 2/2 iteration 3/3 loss "), r.stderr[-500:]
    assert 0 <= m["auroc"] <= 1 and m["images_per_second"] > 0 and m["peak_memory_mb"] > 0
    p = s["params"]
    assert m["iterations"] == 6 and m["images_seen"] == 6 * (p["batch_normal"] + p["batch_anomaly"] + p["n_ref"])
    header = (tmp_path / "r" / "scores.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["id", "label", "anomaly_class", "score"]
    assert {"head_seen", "head_pseudo", "head_composite", "head_normal"} <= set(header)
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_killed_run_resumes_to_identical_scores(run_inputs, demo_data, tiny_config, tmp_path):
    s = spec(tiny_config, "dra", epochs=3, iterations=4)
    ref = train(run_inputs, demo_data, s, tmp_path / "straight")
    assert ref.returncode == 0, ref.stderr

    out = tmp_path / "killed"
    cmd = train_cmd(run_inputs, s, out, "--checkpoint-every", "1")
    cmd[cmd.index("--manifest") + 1] = str(demo_data["weave"])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # a few more steps, so the kill lands mid-run rather than at a checkpoint boundary
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "checkpoint.pt").exists(), "the run finished before it could be killed"
    assert not (out / "scores.csv").exists() and not (out / "metrics.json").exists()

    again = train(run_inputs, demo_data, s, out, "--checkpoint-every", "1")
    assert again.returncode == 0, again.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["resumed_from"] is not None
    assert (out / "scores.csv").read_bytes() == (tmp_path / "straight" / "scores.csv").read_bytes()
    assert not (out / "checkpoint.pt").exists()


def test_bad_spec_is_a_clean_error(run_inputs, demo_data, tmp_path):
    r = subprocess.run([sys.executable, "-m", "dra", "train", "--spec", "{not json", "--split", "x", "--manifest", "y",
                        "--cache", "z", "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 1 and "--spec: not valid JSON" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "scores.csv").exists()


def test_missing_cache_names_the_file(run_inputs, demo_data, tiny_config, tmp_path):
    s = spec(tiny_config)
    cmd = train_cmd(run_inputs, s, tmp_path / "o")
    cmd[cmd.index("--manifest") + 1] = str(demo_data["weave"])
    cmd[cmd.index("--cache") + 1] = str(tmp_path / "nosuch.npy")
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1 and "nosuch.npy" in r.stderr and "python -m dra cache" in r.stderr
    assert not list((tmp_path / "o").glob("*.csv")) if (tmp_path / "o").exists() else True
