"""Speed without changing results: the benchmark command, bf16 autocast (CPU here, GPU where there
is one), the batched pseudo anomalies against the one-image torchvision recipe, and the GPU check
script in its CPU-sized mode."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import copy

import pytest
import torch
import augment_reference
from methods_fixtures import easy_data, tiny_spec
from sklearn.metrics import roc_auc_score
from torchvision.transforms.v2 import functional as TF

from dra.nets import augment
from dra.cli import main
from dra.plan.config import is_unsupervised, load_config
from dra.plan.methods import STANDALONE as METHODS  # AHL builds on a trained run: not benchmarked alone
from dra.run.train import train_run
from dra.run.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
SIZE = 48
CPU = torch.device("cpu")


# --- the benchmark command ----------------------------------------------------------------------

def test_bench_prints_a_row_per_method_with_speed_and_memory_for_both_modes(tmp_path, capsys):
    out = tmp_path / "bench.csv"
    assert main(["bench", "--size", "32", "--device", "cpu", "--warmup", "0", "--steps", "1",
                 "--run-iterations", "0", "--workdir", str(tmp_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = printed[printed.index(" method "):].splitlines()
    assert [line.split()[0] for line in table[1:1 + len(METHODS)]] == list(METHODS)
    df = pd.read_csv(out)
    assert df["method"].tolist() == list(METHODS)
    for col in ("images_per_step", "data_images_per_s", "model_images_per_s", "ratio", "data_peak_mb",
                "model_peak_mb"):
        assert (df[col] > 0).all(), col
    assert df["run_seconds"].isna().all()  # --run-iterations 0: no short run (the GPU check's test has one)
    np.testing.assert_allclose(df["ratio"], df["data_images_per_s"] / df["model_images_per_s"], rtol=1e-4)
    assert (df["size"] == 32).all() and (df["amp"] == "off").all() and (df["steps"] == 1).all()
    assert not list(tmp_path.glob("dra-bench-*"))  # its generated data is gone


def test_bench_rejects_unknown_methods(capsys):
    assert main(["bench", "--methods", "dra,nope", "--size", "32"]) == 1
    assert "nope" in capsys.readouterr().err


@pytest.mark.parametrize("variant", [*METHODS, "dra_nondis"])  # every method, and DRA's other head
def test_the_replayed_batch_gives_the_training_loss(variant):
    """loss(data) is batch_loss(make_batch(data)), draw for draw: the benchmark's model-only mode
    runs the training step's own network and loss on a batch made by the training step's own code."""
    shots = 0 if is_unsupervised(load_config(), variant) else 10
    data = easy_data(n_normal=16, labeled=shots > 0)
    spec = tiny_spec(variant, {"batch_normal": 4, "batch_anomaly": 2, "batch_outlier": 2, "batch": 4, "n_ref": 2},
                     shots=shots)
    model = Trainer(spec, data, Path("unused"), CPU).model
    model.eval()  # no dropout (MINNS): its draws come from torch's global generator
    state, samplers = model.gen.get_state(), copy.deepcopy(model.sampler_state())
    loss = model.loss(data)
    after = model.gen.get_state()
    model.gen.set_state(state)
    model.load_sampler_state(samplers)
    replayed = model.batch_loss(model.make_batch(data))
    assert torch.equal(model.gen.get_state(), after)
    assert torch.equal(loss, replayed)


def test_dra_references_and_queries_share_one_backbone_pass_per_scale():
    data = easy_data(n_normal=16)
    spec = tiny_spec("dra", {"batch_normal": 4, "batch_anomaly": 2, "n_ref": 3})
    model = Trainer(spec, data, Path("unused"), CPU).model.train()
    passes = []
    hook = model.trunk.register_forward_pre_hook(lambda m, args: passes.append(tuple(args[0].shape)))
    model.loss(data)
    hook.remove()
    assert spec["params"]["scales"] == 2
    assert [(n, s) for n, _, s, _ in passes] == [(3 + 4 + 2, 32), (3 + 4 + 2, 16)]


# --- bf16 autocast ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(world):
    """The world's weave subset at 48 px (at 32, ResNet's half scale ends in 1x1 maps, see below):
    spec(variant, ...) makes a run's spec at a tiny budget, run(spec, out, ...) trains it."""
    files = world.files("weave", size=SIZE)

    def spec(variant="dra", epochs=2, iterations=2, **params):
        return world.spec(variant, seed=1, size=SIZE, epochs=epochs, iterations=iterations, **params)

    def run(s, out, **kw):
        return train_run(s, files, out, **kw)

    return SimpleNamespace(spec=spec, run=run)


def test_cpu_amp_off_is_the_default_path_and_bf16_trains_and_scores(demo, tmp_path):
    s = demo.spec("dra", epochs=1, iterations=2, batch_normal=8, batch_anomaly=4, n_ref=2)
    default = demo.run(s, tmp_path / "default", device="cpu")
    off = demo.run(s, tmp_path / "off", device="cpu", amp="off")
    assert default["amp"] == off["amp"] == "off"
    assert (tmp_path / "default" / "scores.csv").read_bytes() == (tmp_path / "off" / "scores.csv").read_bytes()
    bf16 = demo.run(s, tmp_path / "bf16", device="cpu", amp="bf16")
    assert bf16["amp"] == "bf16" and np.isfinite(pd.read_csv(tmp_path / "bf16" / "scores.csv")["score"]).all()


@pytest.mark.parametrize("variant", ["dra", "devnet"])
def test_cpu_bf16_scores_agree_with_float32(variant):
    """One network trained until it ranks the easy anomalies, scored in float32 and under CPU bf16
    autocast: AUROC within 0.01."""
    data = easy_data(n_normal=32, size=SIZE)
    s = tiny_spec(variant, {"epochs": 2, "iterations": 4, "batch_normal": 8, "batch_anomaly": 8,
                            **({"n_ref": 2} if variant == "dra" else {})}, size=SIZE)
    trainer = Trainer(s, data, Path("unused"), CPU)
    trainer.fit()
    state = trainer.gen.get_state()  # DRA draws its references while scoring: the same ones both times
    full, _ = trainer.score()
    trainer.amp = True
    trainer.gen.set_state(state)
    half, _ = trainer.score()
    auroc = [roc_auc_score(data.test_labels, x["score"]) for x in (full, half)]
    assert auroc[0] > 0.8 and abs(auroc[0] - auroc[1]) <= 0.01, auroc
    assert np.corrcoef(full["score"], half["score"])[0, 1] > 0.99


@pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(),
                    reason="this CPU has no native bf16 (oneDNN emulates it, and a whole bf16 run takes about "
                           "ten minutes); the scoring and per-method autocast tests run the same code path here")
@pytest.mark.parametrize("variant", ["devnet"])
def test_cpu_bf16_run_agrees_with_float32_run(variant):
    """Whole runs (training and scoring), one in float32 and one under CPU bf16 autocast, long enough to
    learn the easy task: AUROC within 0.01. (train_run's own --amp wiring: the test above.)"""
    data = easy_data(n_normal=32, size=SIZE)
    s = tiny_spec(variant, {"epochs": 2, "iterations": 5, "batch_normal": 16, "batch_anomaly": 16, "lr": 1.0e-3},
                  size=SIZE)
    auroc = []
    for amp in (False, True):
        trainer = Trainer(s, data, Path("unused"), CPU, amp=amp)
        trainer.fit()
        auroc.append(roc_auc_score(data.test_labels, trainer.score()[0]["score"]))
    assert auroc[0] > 0.8 and abs(auroc[0] - auroc[1]) <= 0.01, auroc


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: bf16 on a GPU is compared where there "
                    "is one; the CPU tests above run the same autocast code path")
@pytest.mark.parametrize("variant", ["dra", "devnet"])
def test_gpu_bf16_run_agrees_with_float32_run(demo, tmp_path, variant):
    s = demo.spec(variant, epochs=2, iterations=12)
    a = demo.run(s, tmp_path / "off", device="cuda", amp="off")
    b = demo.run(s, tmp_path / "bf16", device="cuda", amp="bf16")
    assert b["amp"] == "bf16" and a["amp"] == "off"
    assert abs(a["auroc"] - b["auroc"]) <= 0.01, (a["auroc"], b["auroc"])


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_scores_in_float32_under_bf16_autocast(method):
    """Under autocast the convolutions run in bf16; the scores (top-K means, heads) and the loss stay
    float32.

    At 64 px, not the fixtures' 32: a 32 px image's half scale reaches ResNet's last stage as a 1x1 map,
    and on this CPU the bf16 weight gradient of a padded 3x3 stride-2 convolution of a 1x1 input
    (oneDNN, torch 2.14.1) is NaN in about 1 call of 5 with finite inputs and output gradients; of a
    2x2 or 4x4 input, 0 of 300. The protocol's sizes (224, 448 px) and GPUs never see a 1x1 map."""
    shots = 0 if is_unsupervised(load_config(), method) else 10
    data = easy_data(n_normal=16, n_test=4, labeled=shots > 0, size=64)
    spec = tiny_spec(method, {"batch_normal": 4, "batch_anomaly": 2, "batch_outlier": 2, "batch": 4, "n_ref": 2},
                     shots=shots, size=64)
    trainer = Trainer(spec, data, Path("unused"), CPU, amp=True)
    trainer.model.train()
    with trainer.autocast():
        loss = trainer.model.loss(data)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    trainer.step()
    trainer.model.eval()
    with torch.no_grad(), trainer.autocast():
        out = trainer.model.score(data.test[torch.arange(8)], data)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in out.values()), \
        {k: v.dtype for k, v in out.items()}


def test_rotation_is_exact_under_autocast():
    x = torch.rand(3, 3, 96, 96)
    angles = torch.tensor([17.0, -90.0, 133.0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = augment.rotate(x, angles)
    assert inside.dtype == torch.float32 and torch.equal(inside, augment.rotate(x, angles))


# --- batched pseudo anomalies: the one-image torchvision recipe, for many images at once ---------

JITTER = {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1}
PARAMS = {"cutmix_area": [0.02, 0.15], "cutmix_aspect": [0.3, 3.3333333], "scar_width": [2, 16],
          "scar_length": [10, 25], "scar_rotation": [-45, 45], "jitter": JITTER}


def reference_pseudo(kind: str, img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The one-image recipe written out with torchvision's own functions (the code before batching):
    CutMix cuts a patch, jitters it, pastes it; CP-Scar also rotates it with its mask."""
    _, h, w = img.shape
    if kind == "cpmix":
        kind = "cutmix" if augment.uniform(gen, 0, 1) < 0.5 else "cpscar"
    if kind == "cutmix":
        ph, pw = augment.cutmix_box(gen, h, w, tuple(PARAMS["cutmix_area"]), tuple(PARAMS["cutmix_aspect"]))
    else:
        pw = min(int(augment.uniform(gen, 2, 17)), w - 1)
        ph = min(int(augment.uniform(gen, 10, 26)), h - 1)
    sy, sx = augment.randint(gen, h - ph + 1), augment.randint(gen, w - pw + 1)
    patch = augment_reference.color_jitter(img[:, sy:sy + ph, sx:sx + pw], gen, **JITTER)
    out = img.clone()
    if kind == "cutmix":
        ty, tx = augment.randint(gen, h - ph + 1), augment.randint(gen, w - pw + 1)
        out[:, ty:ty + ph, tx:tx + pw] = patch
        return out
    angle = augment.uniform(gen, -45, 45)
    stacked = TF.rotate(torch.cat([patch, torch.ones_like(patch[:1])]), angle,
                        interpolation=TF.InterpolationMode.NEAREST, expand=True)
    patch, mask = stacked[:3], stacked[3:] > 0.5
    rh, rw = min(patch.shape[1], h), min(patch.shape[2], w)
    patch, mask = patch[:, :rh, :rw], mask[:, :rh, :rw]
    ty, tx = augment.randint(gen, h - rh + 1), augment.randint(gen, w - rw + 1)
    out[:, ty:ty + rh, tx:tx + rw] = torch.where(mask, patch, out[:, ty:ty + rh, tx:tx + rw])
    return out


@pytest.mark.parametrize("kind", ["cutmix", "cpscar", "cpmix"])
def test_batched_pseudo_anomalies_are_the_one_image_recipe(kind):
    """Same draws in the same order (the generators end equal), the same pixels changed, the same
    values up to float rounding (the jitter's blends and sums are computed in another order)."""
    x = torch.rand(12, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    rows = [0, 3, 4, 7, 8, 11]
    g_ref, g_new = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    want = x.clone()
    for r in rows:
        want[r] = reference_pseudo(kind, x[r], g_ref)
    plans = [augment.pseudo_plan(kind, g_new, 64, 64, PARAMS) for _ in rows]
    got = augment.paste(x, rows, plans)
    assert torch.equal(g_ref.get_state(), g_new.get_state())
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    untouched = [r for r in range(12) if r not in rows]
    assert torch.equal(got[untouched], x[untouched])


def test_batched_colour_jitter_is_torchvisions_per_patch():
    gen = torch.Generator().manual_seed(3)
    patches = [torch.rand(3, h, w, generator=gen) for h, w in ((5, 9), (17, 3), (30, 30), (1, 1))]
    orders = [augment.jitter_plan(gen, 0.4, 0.4, 0.4, 0.5) for _ in patches]
    want = []
    for p, order in zip(patches, orders):
        for op, f in order:
            p = augment_reference.TORCHVISION_JITTER[op](p, f)
        want.append(p.permute(1, 2, 0).reshape(-1, 3))
    pixels = torch.cat([p.permute(1, 2, 0).reshape(-1, 3) for p in patches])
    sizes = [p.shape[1] * p.shape[2] for p in patches]
    seg = torch.repeat_interleave(torch.arange(len(patches)), torch.tensor(sizes))
    got = augment.jitter_pixels(pixels, seg, sizes, orders)
    torch.testing.assert_close(got, torch.cat(want), rtol=0, atol=1e-6)


def test_patch_means_one_by_one_and_padded_agree():
    sizes = [7, 300, 1, 45]
    seg = torch.repeat_interleave(torch.arange(4), torch.tensor(sizes))
    v = torch.rand(sum(sizes))
    want = torch.stack([p.mean() for p in v.split(sizes)])
    for one_by_one in (True, False):
        torch.testing.assert_close(augment.patch_means(seg, sizes, one_by_one)(v), want)


# --- the GPU check script, CPU-sized --------------------------------------------------------------

@pytest.mark.workflow  # a script starting training processes
def test_gpu_check_tiny_runs_on_cpu_and_prints_images_per_second(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}  # shared cores: one thread each
    r = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--tiny"], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "images/s" in r.stdout
    folder = tmp_path / "dra-gpu-check"
    bench = pd.read_csv(folder / "bench64.csv")
    assert set(bench["method"]) == {"dra", "devnet"} and (bench["data_images_per_s"] > 0).all()
    info = json.loads((folder / "dra64" / "metrics.json").read_text())
    assert info["iterations"] == 2 and info["seconds"] > 0 and info["images_per_second"] > 0
