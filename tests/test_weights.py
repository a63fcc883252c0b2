"""Pretrained weights on offline compute nodes: a training run never downloads; it reads torchvision's
cache, which `python -m dra weights` (`snakemake weights`, a local rule: test_workflow.py's dry run of the
paper protocol plans it) fills on an online machine."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch

from dra.cli import main
from dra.plan.weights import IMAGENET_FILES, imagenet_path


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


def train_args(world, out: Path, weights: str) -> list[str]:
    spec = world.spec("dra", epochs=1, iterations=1, batch_normal=4, batch_anomaly=4, n_ref=2)
    return ["train", "--spec", json.dumps({**spec, "weights": weights}), *world.args(), "--out", str(out),
            "--device", "cpu", "--checkpoint-every", "0"]


def test_imagenet_run_with_an_empty_cache_fails_at_start_up_naming_the_command(
        offline, world, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_args(world, out, "imagenet")) == 1
    err = capsys.readouterr().err
    assert "python -m dra weights --arch resnet18" in err
    assert "snakemake --cores 1 weights" in err
    assert str(imagenet_path("resnet18")) in err and str(offline) in err
    # it stopped before training: no result, no checkpoint
    assert not (out / "scores.csv").exists() and not (out / "metrics.json").exists()
    assert not (out / "checkpoint.pt").exists()


def test_imagenet_run_reads_a_filled_cache_without_network(offline, world, tmp_path):
    from torchvision.models import resnet18

    path = imagenet_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(resnet18().state_dict(), path)  # stands in for torchvision's file
    out = tmp_path / "run"
    assert main(train_args(world, out, "imagenet")) == 0
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
