"""Training runs through the train command in process (main): cross-domain fine-tuning (paper Table 9)
with its checkpoints, and what metrics.json records about what a run trained on. The session's world
(generated, 32 px)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from methods_fixtures import tiny_spec

from dra.cli import main
from dra.errors import DraError
from dra.methods.dra import DRA
from dra.run.checkpoint import CHECKPOINT
from dra.run.inputs import SubsetFiles
from dra.run.train import train_run


@pytest.fixture(scope="module")
def demo(world):
    """The world's two subsets: split (general, seed 0) and cached at 32 px."""
    return {subset: {"split": f.split, "manifest": f.manifest, "cache": f.cache}
            for subset, f in ((s, world.files(s)) for s in ("weave", "grain"))}


XDOMAIN = {"epochs": 2, "iterations": 2, "finetune_epochs": 1, "batch_normal": 8, "batch_anomaly": 4, "n_ref": 2,
           "lr_step": 1, "lr_gamma": 0.5, "test_batch": 64}


def xdomain_spec(**over):
    spec = tiny_spec("dra_xdomain", {**XDOMAIN, **over})
    spec["dataset"], spec["subset"] = "demo", "weave"
    return spec


def args(d, subset):
    return ["--split", str(d[subset]["split"]), "--manifest", str(d[subset]["manifest"]), "--cache",
            str(d[subset]["cache"])]


def files(d, subset):
    return SubsetFiles(d[subset]["split"], d[subset]["manifest"], d[subset]["cache"])


def run_xdomain(demo, out, spec, checkpoint_every=0):
    return train_run(spec, files(demo, "weave"), out, device="cpu", checkpoint_every=checkpoint_every,
                     target=files(demo, "grain"))


def test_crossdomain_trains_on_the_source_then_finetunes_on_target_normals_and_tests_the_target(demo, tmp_path):
    spec = xdomain_spec()
    out = tmp_path / "run"
    assert main(["train", "--spec", json.dumps(spec), *args(demo, "weave"), "--target-split",
                 str(demo["grain"]["split"]), "--target-manifest", str(demo["grain"]["manifest"]),
                 "--target-cache", str(demo["grain"]["cache"]), "--out", str(out), "--device", "cpu",
                 "--checkpoint-every", "0"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    grain = json.loads(demo["grain"]["split"].read_text())
    scores = pd.read_csv(out / "scores.csv")
    assert scores["id"].tolist() == grain["test"]  # the target's test set
    assert m["n_test"] == len(grain["test"]) and m["target_split"] == str(demo["grain"]["split"])
    train, finetune = m["phases"]
    assert (train["phase"], train["epochs"], train["iterations"], train["n_labeled"]) == ("train", 2, 4, 10)
    assert train["images_seen"] == 4 * (8 + 4 + 2)
    # fine-tuning: the target's normals, no labeled anomaly slots (pseudo anomalies and references stay)
    assert (finetune["phase"], finetune["epochs"], finetune["iterations"]) == ("finetune", 1, 2)
    assert finetune["n_labeled"] == 0
    assert finetune["n_train_normal"] == len(grain["train_normal"])
    assert finetune["images_seen"] == 2 * (8 + 2)
    assert (m["epochs"], m["iterations"], m["images_seen"]) == (3, 6, 4 * 14 + 2 * 10)
    # a fresh optimiser and schedule for the fine-tuning: its rate starts again
    assert m["lr_per_epoch"] == pytest.approx([1e-4, 5e-5, 1e-4])


@pytest.fixture(scope="module")
def uninterrupted(demo, tmp_path_factory):
    spec = xdomain_spec(ref_mode="fixed")  # fixed references: phase 2's setup draws them from the target
    out = tmp_path_factory.mktemp("whole")
    run_xdomain(demo, out, spec)
    return spec, pd.read_csv(out / "scores.csv")


class Killed(Exception):
    pass


@pytest.mark.parametrize("kill_at", [5, 6])  # 5: first step of the fine-tuning; 6: its second
def test_crossdomain_run_resumes_across_phases_to_the_same_scores(demo, uninterrupted, tmp_path, monkeypatch, kill_at):
    spec, whole = uninterrupted
    out = tmp_path / "run"
    calls = {"n": 0}
    real = DRA.loss

    def dying(self, data):
        calls["n"] += 1
        if calls["n"] == kill_at:
            raise Killed
        return real(self, data)

    monkeypatch.setattr(DRA, "loss", dying)
    with pytest.raises(Killed):
        run_xdomain(demo, out, spec, checkpoint_every=1)
    assert (out / CHECKPOINT).is_file() and not (out / "scores.csv").exists()
    monkeypatch.setattr(DRA, "loss", real)
    info = run_xdomain(demo, out, spec, checkpoint_every=1)
    assert info["resumed_from"] == ((0, 1, 2) if kill_at == 5 else (1, 0, 1))  # (phase, epoch, iteration)
    resumed = pd.read_csv(out / "scores.csv")
    assert resumed["id"].tolist() == whole["id"].tolist()
    np.testing.assert_array_equal(resumed["score"].to_numpy(), whole["score"].to_numpy())
    assert not (out / CHECKPOINT).exists()


def test_a_target_and_finetune_epochs_go_together(demo, tmp_path):
    plain = tiny_spec("dra", {k: v for k, v in XDOMAIN.items() if k != "finetune_epochs"})
    with pytest.raises(DraError, match="finetune_epochs"):
        run_xdomain(demo, tmp_path / "a", plain)
    with pytest.raises(DraError, match="finetune_epochs"):
        train_run(xdomain_spec(), files(demo, "weave"), tmp_path / "b", device="cpu")
    partial = ["train", "--spec", json.dumps(xdomain_spec()), *args(demo, "weave"), "--target-split",
               str(demo["grain"]["split"]), "--out", str(tmp_path / "c"), "--device", "cpu"]
    assert main(partial) == 1  # the three --target-* flags go together


def test_metrics_record_what_kdad_and_saoe_trained_on(demo, tmp_path):
    kdad = tiny_spec("kdad", {"epochs": 2, "iterations": "pass", "batch": 16}, shots=0)
    out = tmp_path / "kdad"
    assert main(["train", "--spec", json.dumps(kdad), *args(demo, "weave"), "--out", str(out), "--device", "cpu",
                 "--checkpoint-every", "0"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    per_epoch = math.ceil(m["n_train_normal"] / 16)
    assert (m["epochs"], m["iterations"], m["images_seen"]) == (2, 2 * per_epoch, 2 * per_epoch * 16)
    assert m["n_labeled"] == 0 and m["outliers"] is None and m["pseudo_source"] is None

    saoe = tiny_spec("saoe", {"epochs": 1, "iterations": 2, "batch_normal": 8, "batch_anomaly": 4, "batch_outlier": 4})
    out = tmp_path / "saoe"
    assert main(["train", "--spec", json.dumps(saoe), *args(demo, "weave"), "--external",
                 str(demo["grain"]["cache"]), "--out", str(out), "--device", "cpu", "--checkpoint-every", "0"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert (m["iterations"], m["images_seen"]) == (2, 2 * (8 + 4 + 4))
    assert m["outliers"] == "mvtecad" and m["pseudo_source"] == "cutmix"
    assert m["external"] == [str(demo["grain"]["cache"])]
