"""One run end to end through train_run (what `python -m dra train` calls), on the session's world:
determinism, the run folder's contents and progress lines, outputs only when complete. One
`python -m dra train` process, killed and started again (tier `workflow`), proves the command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from dra.cli import main
from dra.run.train import train_run


def spec(world, variant="dra", epochs=2, iterations=3, seed=1):
    """A few steps of small batches: the cost of a step here is ResNet-18's 11 M weights, whatever the batch."""
    small = {"batch_normal": 4, "batch_anomaly": 4, **({"n_ref": 2} if variant == "dra" else {})}
    return world.spec(variant, setting="hard-spot", seed=seed, epochs=epochs, iterations=iterations, **small)


def files(world):
    return world.files("weave", "hard-spot", seed=1)


@pytest.mark.parametrize("variant", ["dra", "devnet"])
def test_same_seed_gives_identical_scores(world, tmp_path, variant):
    s = spec(world, variant, epochs=2, iterations=1)  # an epoch boundary, where the schedule steps
    for name in ("a", "b"):
        train_run(s, files(world), tmp_path / name, device="cpu")
    a, b = (tmp_path / "a" / "scores.csv").read_bytes(), (tmp_path / "b" / "scores.csv").read_bytes()
    assert a == b
    train_run(dict(s, seed=2), files(world), tmp_path / "c", device="cpu")
    assert (tmp_path / "c" / "scores.csv").read_bytes() != a  # the seed matters


def test_run_folder_contents(world, tmp_path, capsys):
    s = spec(world, "dra")
    train_run(s, files(world), tmp_path / "r", device="cpu", progress=True)
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    for key in ("auroc", "aupr", "seconds", "images_per_second", "peak_memory_mb", "device", "git_commit",
                "config_digest", "versions", "epochs", "iterations", "images_seen"):
        assert key in m, key
    # what can change a run's bytes: the thread count and device type (and the torch version)
    assert isinstance(m["threads"], int) and m["threads"] >= 1 and m["device_type"] == "cpu" and m["torch"] == m["versions"]["torch"]
    # the demo's subset has masks: the localisation metrics are there
    assert 0 <= m["pixel_auroc"] <= 1 and 0 <= m["aupro"] <= 1
    # progress: epoch, iteration, loss, images/s and an ETA, a line at a time in a log
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if " images/s eta " in x]
    assert lines and lines[-1].startswith("epoch 2/2 iteration 3/3 loss "), err[-500:]
    assert 0 <= m["auroc"] <= 1 and m["images_per_second"] > 0 and m["peak_memory_mb"] > 0
    p = s["params"]
    assert m["iterations"] == 6 and m["images_seen"] == 6 * (p["batch_normal"] + p["batch_anomaly"] + p["n_ref"])
    header = (tmp_path / "r" / "scores.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["id", "label", "anomaly_class", "score"]
    assert {"head_seen", "head_pseudo", "head_composite", "head_normal"} <= set(header)
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_missing_cache_names_the_file(world, tmp_path, capsys):
    f = files(world)
    assert main(["train", "--spec", json.dumps(spec(world)), "--split", str(f.split), "--manifest", str(f.manifest),
                 "--cache", str(tmp_path / "nosuch.npy"), "--out", str(tmp_path / "o"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "nosuch.npy" in err and "python -m dra cache" in err
    assert not list((tmp_path / "o").glob("*.csv")) if (tmp_path / "o").exists() else True


@pytest.mark.workflow
def test_the_train_command_killed_mid_run_resumes_to_identical_scores(world, tmp_path):
    """`python -m dra train` as the workflow starts it: a straight run, and a run killed (SIGKILL, no
    chance to clean up) after a checkpoint and started again: the same bytes, the command's progress
    lines and its closing line."""
    s = spec(world, "dra", epochs=3, iterations=4)
    f = files(world)

    def cmd(out):
        return [sys.executable, "-m", "dra", "train", "--spec", json.dumps(s), "--split", str(f.split), "--manifest",
                str(f.manifest), "--cache", str(f.cache), "--out", str(out), "--device", "cpu", "--checkpoint-every", "1"]

    ref = subprocess.run(cmd(tmp_path / "straight"), capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    assert "epoch 3/3 iteration 4/4 loss " in ref.stderr and f"{tmp_path / 'straight'}: auroc " in ref.stdout

    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # a few more steps, so the kill lands mid-run rather than at a checkpoint boundary
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "checkpoint.pt").exists(), "the run finished before it could be killed"
    assert not (out / "scores.csv").exists() and not (out / "metrics.json").exists()

    again = subprocess.run(cmd(out), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["resumed_from"] is not None
    assert (out / "scores.csv").read_bytes() == (tmp_path / "straight" / "scores.csv").read_bytes()
    assert not (out / "checkpoint.pt").exists()
