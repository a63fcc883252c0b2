"""Pretrained weights on offline compute nodes: a training run never downloads; it reads torchvision's
cache, which `python -m dra weights` (`snakemake weights`, a local rule) fills on an online machine."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dra.cli import main
from dra.plan.config import deep_merge, run_spec
from dra.plan.weights import IMAGENET_FILES, imagenet_path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty torchvision cache, and any attempt to reach the network fails the test."""
    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # torch.hub.get_dir() then follows TORCH_HOME

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return home


@pytest.fixture(scope="module")
def run_inputs(demo_data, tmp_path_factory):
    """Split and image cache of the generated weave subset, made with the stage commands."""
    base = tmp_path_factory.mktemp("weights_run")
    manifest = demo_data["weave"]
    split, cache = base / "split.json", base / "48.npy"
    assert main(["split", "--manifest", str(manifest), "--setting", "general", "--seed", "0",
                 "--dataset", "demo", "--subset", "weave", "--out", str(split)]) == 0
    assert main(["cache", "--manifest", str(manifest), "--size", "48", "--out", str(cache)]) == 0
    return {"manifest": manifest, "split": split, "cache": cache}


def train_args(tiny_config, run_inputs, out: Path, weights: str) -> list[str]:
    cfg = deep_merge(tiny_config, {"weights": weights})
    spec = run_spec(cfg, "dra", "demo", "weave", "general", 10, 0)
    return ["train", "--spec", json.dumps(spec), "--split", str(run_inputs["split"]),
            "--manifest", str(run_inputs["manifest"]), "--cache", str(run_inputs["cache"]),
            "--out", str(out), "--device", "cpu", "--checkpoint-every", "0"]


def test_imagenet_run_with_an_empty_cache_fails_at_start_up_naming_the_command(
        offline, tiny_config, run_inputs, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_args(tiny_config, run_inputs, out, "imagenet")) == 1
    err = capsys.readouterr().err
    assert "python -m dra weights --arch resnet18" in err
    assert "snakemake --cores 1 weights" in err
    assert str(imagenet_path("resnet18")) in err and str(offline) in err
    # it stopped before training: no result, no checkpoint
    assert not (out / "scores.csv").exists() and not (out / "metrics.json").exists()
    assert not (out / "checkpoint.pt").exists()


def test_imagenet_run_reads_a_filled_cache_without_network(offline, tiny_config, run_inputs, tmp_path):
    from torchvision.models import resnet18

    path = imagenet_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(resnet18().state_dict(), path)  # stands in for torchvision's file
    out = tmp_path / "run"
    assert main(train_args(tiny_config, run_inputs, out, "imagenet")) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["spec"]["weights"] == "imagenet"


def test_weights_command_fills_the_cache_once(offline, monkeypatch, capsys):
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        Path(dst).write_bytes(b"weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    assert main(["weights", "--arch", "resnet18"]) == 0
    assert calls == [(IMAGENET_FILES["resnet18"], "f37072fd")]
    assert imagenet_path("resnet18").read_bytes() == b"weights"
    assert imagenet_path("resnet18").parent == offline / "hub" / "checkpoints"
    assert "downloaded" in capsys.readouterr().out
    assert main(["weights", "--arch", "resnet18"]) == 0  # already there: no second download
    assert len(calls) == 1 and "already there" in capsys.readouterr().out
    assert main(["weights"]) == 0  # default: every architecture
    assert [c[0] for c in calls[1:]] == [IMAGENET_FILES["vgg16"]]


def test_weights_command_without_internet_says_what_to_do(offline, monkeypatch, capsys):
    def unreachable(url, dst, hash_prefix=None, progress=True):  # as urllib's URLError, an OSError
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    assert main(["weights", "--arch", "vgg16"]) == 1
    err = capsys.readouterr().err
    assert "needs internet" in err and str(imagenet_path("vgg16")) in err
    assert not imagenet_path("vgg16").exists()


def test_weights_rule_is_a_local_target(tmp_path):
    """`snakemake weights` plans the one local job (the real download needs internet)."""
    r = subprocess.run([str(BIN / "snakemake"), "-n", "weights", "--nolock", "--configfile", "config/demo.yaml"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rule weights:" in r.stdout and "weights        1" in r.stdout
    rule = (ROOT / "workflow" / "rules" / "weights.smk").read_text()
    assert "localrule: True" in rule
