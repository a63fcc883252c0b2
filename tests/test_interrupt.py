"""A run stopped by a signal (issue 22, items 5 and 7): it finishes the step in progress, writes its
checkpoint, stops with one line and exit status 75, and the rerun resumes to the scores of a run
never stopped; a second signal in the middle of a step writes nothing half-made. And what a run
says while it works: each phase as it starts, with its size; AHL's throughput named apart."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dra.methods import method_class
from dra.plan.config import deep_merge, run_spec
from dra.run.checkpoint import CHECKPOINT
from dra.run.interrupt import EXIT_INTERRUPTED, Interrupted
from dra.run.train import train_run

SIZE = 32  # the smallest the trunks take: these tests time stops, not accuracy


@pytest.fixture(autouse=True)
def sigint_as_at_a_terminal():
    """Python's own Ctrl-C handler, as an interactive session has it: a suite started in the
    background (CI, nohup ... &) inherits SIGINT ignored, which a run rightly leaves ignored."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@pytest.fixture(scope="module")
def files(world):
    return world.files("weave", "general", SIZE)


@pytest.fixture(scope="module")
def tiny_config(world):
    return world.cfg


def spec(cfg, variant="devnet", epochs=2, iterations=3, **params):
    small = {"batch_normal": 4, "batch_anomaly": 4, "test_batch": 64} if variant == "devnet" else {}
    over = {"methods": {variant: {"epochs": epochs, "iterations": iterations, **small, **params}},
            "datasets": {"demo": {"image_size": SIZE}}}
    return run_spec(deep_merge(cfg, over), variant, "demo", "weave", "general", 10, 0)


@pytest.fixture(scope="module")
def straight(files, tiny_config, tmp_path_factory):
    """A devnet run never stopped: its folder (scores.csv) and its trained model."""
    out = tmp_path_factory.mktemp("straight")
    with open(out / "log.txt", "w") as log, contextlib.redirect_stderr(log):
        train_run(spec(tiny_config), files, out / "run", device="cpu", model_out=out / "devnet.pt")
    return out


def stop_at(monkeypatch, variant: str, step: int, how: str) -> None:
    """The method's step number `step` (1-based) is interrupted: by a real SIGINT to this process
    arriving during it ('signal'), or by a KeyboardInterrupt raised in it ('raise')."""
    cls = method_class(variant)
    original, calls = cls.loss, {"n": 0}

    def loss(self, data):
        calls["n"] += 1
        if calls["n"] == step:
            if how == "signal":
                signal.raise_signal(signal.SIGINT)  # our handler runs here, in the middle of the step
            else:
                raise KeyboardInterrupt
        return original(self, data)

    monkeypatch.setattr(cls, "loss", loss)


def test_a_signal_mid_step_finishes_the_step_checkpoints_and_the_rerun_gives_the_same_scores(
        files, tiny_config, straight, tmp_path, monkeypatch, capsys):
    s = spec(tiny_config)
    with monkeypatch.context() as m:
        stop_at(m, "devnet", 4, "signal")
        with pytest.raises(Interrupted) as e:
            train_run(s, files, tmp_path / "stopped", device="cpu")
    message = str(e.value)
    assert "\n" not in message and message.startswith("interrupted (SIGINT) after step 4 of 6")
    assert (tmp_path / "stopped" / CHECKPOINT).is_file() and not (tmp_path / "stopped" / "metrics.json").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
    capsys.readouterr()
    info = train_run(s, files, tmp_path / "stopped", device="cpu")
    assert tuple(info["resumed_from"]) == (1, 1)
    assert "resumed from the checkpoint" in capsys.readouterr().err
    assert (tmp_path / "stopped" / "scores.csv").read_bytes() == (straight / "run" / "scores.csv").read_bytes()
    assert not (tmp_path / "stopped" / CHECKPOINT).exists()


def test_an_interrupt_in_the_middle_of_a_step_writes_no_half_made_checkpoint(files, tiny_config, straight, tmp_path,
                                                                             monkeypatch):
    s = spec(tiny_config)
    with monkeypatch.context() as m:
        stop_at(m, "devnet", 3, "raise")  # a second Ctrl-C: the step's state is half changed
        with pytest.raises(Interrupted) as e:
            train_run(s, files, tmp_path / "none", device="cpu")
    assert "in the middle of training, after step 2 of 6" in str(e.value) and "a rerun starts over" in str(e.value)
    assert not (tmp_path / "none" / CHECKPOINT).exists()
    # with periodic checkpoints the last whole one stays, and the rerun resumes from it exactly
    with monkeypatch.context() as m:
        stop_at(m, "devnet", 3, "raise")
        with pytest.raises(Interrupted) as e:
            train_run(s, files, tmp_path / "kept", device="cpu", checkpoint_every=2)
    assert "from earlier stays" in str(e.value)
    info = train_run(s, files, tmp_path / "kept", device="cpu", checkpoint_every=2)
    assert tuple(info["resumed_from"]) == (0, 2)
    assert (tmp_path / "kept" / "scores.csv").read_bytes() == (straight / "run" / "scores.csv").read_bytes()


def test_each_phase_is_logged_as_it_starts_and_ahl_counts_feature_maps_not_images(files, tiny_config, straight,
                                                                                 tmp_path, capsys):
    err = (straight / "log.txt").read_text()
    assert "setup: devnet on " in err and "train: 2 epochs x 3 iterations, 6 of 6 steps to go" in err
    assert "scoring: " in err and " images/s eta " in err
    ahl = spec(tiny_config, "ahl_devnet", epochs=2, iterations=1, inner_steps=2, query_batches=2,
               texture_source="synthetic", batch_normal=4, batch_anomaly=4, batch_pseudo=4)
    info = train_run(ahl, files, tmp_path / "ahl", device="cpu", base_model=straight / "devnet.pt")
    err = capsys.readouterr().err
    n, m = info["n_train_normal"], info["n_labeled"]
    # the setup that ran silent for minutes on ELPV: its size as it starts, then how long it took
    assert f"AHL feature bank: {n + m + 3 * n:,} images through the frozen trunk" in err
    assert "AHL feature bank: done in" in err and "AHL k-means: " in err and "AHL episodes: " in err
    assert err.index("AHL feature bank") < err.index("AHL k-means") < err.index("train: 2 epochs")
    progress = [x for x in err.splitlines() if x.startswith("epoch ")]
    assert progress and all(" feature maps/s " in x and "images/s" not in x for x in progress)
    assert info["images_per_second"] is None and info["images_seen"] is None
    assert info["feature_maps_per_second"] > 0 and info["feature_maps_seen"] > 0
    metrics = json.loads((tmp_path / "ahl" / "metrics.json").read_text())
    assert "src/dra/methods/ahl/method.py" in metrics["code_files"]  # what a plan compares after an edit


@pytest.mark.workflow
def test_ctrl_c_to_python_m_dra_train_prints_one_line_exits_75_and_the_same_command_resumes(files, tiny_config,
                                                                                          tmp_path):
    s = spec(tiny_config, "devnet", epochs=3, iterations=3)

    def cmd(out):
        return [sys.executable, "-m", "dra", "train", "--spec", json.dumps(s), "--split", str(files.split),
                "--manifest", str(files.manifest), "--cache", str(files.cache), "--out", str(out), "--device", "cpu",
                "--checkpoint-every", "0"]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as the workflow runs them: the same threads, the same bytes
    straight = subprocess.run(cmd(tmp_path / "straight"), capture_output=True, text=True, env=env)
    assert straight.returncode == 0, straight.stderr[-2000:]
    out = tmp_path / "run"
    log = tmp_path / "log.txt"
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd(out), stdout=f, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.time() + 300
        while "epoch 1/3 iteration 2/3" not in log.read_text() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=300)
    text = log.read_text()
    assert rc == EXIT_INTERRUPTED, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"{out}: interrupted (SIGINT) after step ") and "checkpoint" in last, text
    assert (out / CHECKPOINT).is_file() and not (out / "metrics.json").exists()
    again = subprocess.run(cmd(out), capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed from the checkpoint" in again.stderr
    assert (out / "scores.csv").read_bytes() == (tmp_path / "straight" / "scores.csv").read_bytes()
