"""AHL (docs/protocol.md, section 6): the episodes, the frozen base trunk, psi's episode weights, the
Perlin-mask pseudo anomalies, learning an easy task, and an exact checkpoint resume.

Every test trains at 32 px on CPU at a tiny budget: a DRA and a DevNet base trained a few steps by
the pipeline's own Trainer (their model files are what AHL builds on), then AHL with a few inner
steps and query batches per episode."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from methods_fixtures import easy_data, tiny_spec
from sklearn.cluster import KMeans
from sklearn.metrics import roc_auc_score

from dra.methods import method_class
from dra.nets.augment import normalize, to_float, uniform
from dra.nets.augment_draem import (augment_texture, blend, draem_pseudo, fit_texture, perlin_mask, perlin_noise,
                               synthetic_texture)
from dra.errors import DraError
from dra.methods.ahl import method as ahl
from dra.methods.ahl.bank import GENERATORS, paste_from
from dra.methods.ahl.method import AHLDevNet, AHLDRA
from dra.nets.augment import cutmix_plan
from dra.nets.backbone import ResNet18Trunk, pyramid
from dra.plan.methods import BASED, entry
from dra.plan.params import Param, _module_declarations, check_params, defaults
from dra.run.inputs import load_base_model
from dra.run.outputs import save_model
from dra.run.trainer import Trainer

CPU = torch.device("cpu")
# a tiny budget: 3 inner steps and 2 query batches per episode, 8 + 8 + 8 slots, a larger outer lr
FAST = {"inner_steps": 3, "query_batches": 2, "batch_normal": 8, "batch_anomaly": 8, "batch_pseudo": 8,
        "lr": 0.01, "test_batch": 64, "texture_source": "synthetic"}


@pytest.fixture(scope="module")
def base_models(tmp_path_factory):
    """{base: model state}: DRA and DevNet trained a few steps on the easy data by the pipeline's Trainer,
    saved and read back as a run's model file is."""
    root = tmp_path_factory.mktemp("ahl_bases")
    data = easy_data(seed=0, external=False)
    out = {}
    for base in sorted({defaults(m)["base"] for m in BASED}):
        trainer = Trainer(tiny_spec(base, {"epochs": 1, "iterations": 3}), data, root / base, CPU)
        trainer.fit()
        save_model(trainer.model, root / f"{base}.pt")
        out[base] = load_base_model(root / f"{base}.pt")
    return out


def ahl_data(base_models, method="ahl_dra", **kw) -> "easy_data":
    data = easy_data(seed=0, external=False, **kw)
    data.base_model = base_models[defaults(method)["base"]]
    return data


def ahl_spec(method: str, overrides: dict | None = None, seed: int = 0, shots: int = 10) -> dict:
    params = {**defaults(method), **FAST, **(overrides or {})}
    params = check_params(method, params, "test")  # every value valid for its declaration
    return {"variant": method, "method": method, "dataset": "mvtecad", "subset": "carpet", "setting": "general",
            "shots": shots, "seed": seed, "image_size": 32, "params": params, "weights": "none"}


def built(method, data, overrides=None, seed=0):
    spec = ahl_spec(method, overrides, seed)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = method_class(method)(spec["params"], data, gen)
    model.begin(data)
    return model


def base_trunk(state: dict) -> ResNet18Trunk:
    trunk = ResNet18Trunk(None)
    trunk.load_state_dict({k[len("trunk."):]: v for k, v in state.items() if k.startswith("trunk.")})
    return trunk.eval()


# --- parameters ----------------------------------------------------------------------------------

def test_parameters_are_declared_with_the_specs_values():
    params, constants = _module_declarations(Path(ahl.__file__))
    value = {k: (v.default if isinstance(v, Param) else v) for k, v in params.items()}
    expected = {"epochs": 30, "iterations": 1, "lr": 0.002, "weight_decay": 1e-4, "lr_step": 10, "lr_gamma": 0.1,
                "scheduler_at": "end", "grad_clip": 1.0, "rotation": 180.0, "test_batch": 48,
                "clusters": 3, "min_cluster": 3, "inner_steps": 41, "inner_lr": 2e-4, "query_batches": 20,
                "batch_normal": 16, "batch_anomaly": 16, "batch_pseudo": 16, "n_ref": 5, "pseudo_prob": 0.5,
                "history": 5, "psi_start_epoch": 5, "weight_start_epoch": 7, "psi_layers": 2, "psi_dropout": 0.5,
                "psi_lr": 0.002, "psi_weight_decay": 1e-3, "c_anomaly": 1.0, "c_other": 0.5, "perlin_scale_max": 5,
                "perlin_threshold": 0.5, "beta_max": 0.8, "topk_ratio": 0.1, "dev_margin": 5.0, "dev_samples": 5000,
                "scales": 2, "cutmix_area": [0.02, 0.15], "texture_source": "dtd", "base": "dra"}
    assert {k: value[k] for k in expected} == expected
    assert params["base"].choices == ("dra", "devnet") and params["texture_source"].choices == ("dtd", "synthetic")
    assert constants["METHOD_DEFAULTS"] == {"ahl_dra": {"base": "dra"}, "ahl_devnet": {"base": "devnet"}}
    assert entry("ahl_dra").weights == () and entry("ahl_devnet").weights == ()  # the base run's trunk, not ImageNet
    assert defaults("ahl_dra")["base"] == "dra" and defaults("ahl_devnet")["base"] == "devnet"
    assert method_class("ahl_dra") is AHLDRA and method_class("ahl_devnet") is AHLDevNet


def test_a_missing_base_model_or_texture_pool_is_an_error_naming_it(base_models, tmp_path):
    with pytest.raises(DraError, match="nowhere.pt"):
        load_base_model(tmp_path / "nowhere.pt")
    data = ahl_data(base_models)
    data.base_model = None
    with pytest.raises(DraError, match="--base-model"):
        built("ahl_dra", data)
    data.base_model = base_models["devnet"]  # a DevNet model for a DRA base
    with pytest.raises(DraError, match="not a dra model"):
        built("ahl_dra", data)
    data.base_model = base_models["dra"]
    with pytest.raises(DraError, match="external image pool"):  # the run's own check says what to do instead
        built("ahl_dra", data, {"texture_source": "dtd"})


# --- the episodes --------------------------------------------------------------------------------

def test_episodes_clusters_pairs_anomaly_halves_and_generators(base_models):
    data = ahl_data(base_models)
    model = built("ahl_dra", data, seed=3)
    p = model.params
    # the clusters: k-means (the run's seed) on the base trunk's scale-0 features of the normals,
    # computed here independently of the model's cache; each normal's cluster by its own index
    with torch.no_grad():
        x = normalize(to_float(data.normal[torch.arange(len(data.normal))]))
        flat = base_trunk(data.base_model)(pyramid(x, 2)[0]).flatten(1).numpy()
    labels = KMeans(n_clusters=3, random_state=3, n_init=p["kmeans_n_init"]).fit(flat).labels_
    clusters = [np.flatnonzero(labels == c) for c in range(3)]
    assert all(len(c) >= 3 for c in clusters)  # none dropped on this data
    np.testing.assert_array_equal(model.cluster_labels, labels)
    for got, want in zip(model.clusters, clusters):
        np.testing.assert_array_equal(got, want)
    # the public code's bug (cluster i = the first |c_i| files) gives other clusters here
    assert any(not np.array_equal(c, np.arange(len(c))) for c in clusters)
    # six ordered (support, query) pairs
    pairs = [ep["clusters"] for ep in model.episodes]
    assert len(pairs) == 6 and set(pairs) == {(a, b) for a in range(3) for b in range(3) if a != b}
    n, m = len(data.normal), len(data.anomaly)
    for ep in model.episodes:
        a, b = ep["clusters"]
        s, q = ep["support"], ep["query"]
        np.testing.assert_array_equal(s.cluster, clusters[a])
        np.testing.assert_array_equal(q.cluster, clusters[b])
        # ten shots: disjoint random halves
        sa, qa = set((s.anomaly - n).tolist()), set((q.anomaly - n).tolist())
        assert len(sa) == len(qa) == 5 and not sa & qa and sa | qa == set(range(m))
        # different generators for the support and the query set
        assert s.generator != q.generator and ep["generators"] == (GENERATORS[s.generator], GENERATORS[q.generator])
        for st in (s, q):  # each normal either stays (label 0) or is replaced by its copy of the set's generator
            made_from = st.pseudo - (n + m + st.generator * n)
            assert ((made_from >= 0) & (made_from < n)).all()
            assert sorted(st.normal.tolist() + made_from.tolist()) == sorted(st.cluster.tolist())
    # a batch: 8 normals, 8 seen, 8 pseudo slots, each from its own pool of the set
    rows, lab, ref = model.episode_batch(0, "support")
    s = model.episodes[0]["support"]
    assert (lab == 0).sum() == (lab == 1).sum() == (lab == 2).sum() == 8 and len(ref) == p["n_ref"]
    for label, pool in ((0, s.normal), (1, s.anomaly), (2, s.pseudo)):
        assert torch.isin(rows[lab == label], pool).all()
    # the same seed: the same clusters, anomaly halves and generators
    again = built("ahl_dra", data, seed=3)
    np.testing.assert_array_equal(again.cluster_labels, model.cluster_labels)
    for e1, e2 in zip(model.episodes, again.episodes):
        assert e1["generators"] == e2["generators"]
        assert torch.equal(e1["support"].anomaly, e2["support"].anomaly)
        assert torch.equal(e1["query"].pseudo, e2["query"].pseudo)


def test_one_shot_puts_the_single_anomaly_in_both_sets(base_models):
    data = ahl_data(base_models, n_labeled=1)
    model = built("ahl_dra", data)
    n = len(data.normal)
    for ep in model.episodes:
        assert ep["support"].anomaly.tolist() == [n] and ep["query"].anomaly.tolist() == [n]


def test_batch_mode_replaces_normal_slots_afresh(base_models):
    data = ahl_data(base_models)
    model = built("ahl_dra", data, {"pseudo_draw": "batch"})
    n, m = len(data.normal), len(data.anomaly)
    st = model.episodes[0]["query"]
    assert sorted(st.normal.tolist()) == sorted(st.cluster.tolist())  # every normal of the cluster
    labels = []
    for _ in range(4):
        rows, lab, _ = model.episode_batch(0, "query")
        slots, lab_n = rows[:8], lab[:8]  # the normal slots: the normal itself or its copy (label 2)
        made_from = torch.where(lab_n == 2, slots - (n + m + st.generator * n), slots)
        assert torch.isin(made_from, st.normal).all() and ((slots < n) == (lab_n == 0)).all()
        assert torch.isin(rows[16:], st.pseudo).all() and (lab[16:] == 2).all()
        labels += lab_n.tolist()
    assert 0 < labels.count(2) < len(labels)


def test_cut_paste_from_another_image_copies_the_donors_patch():
    gen = torch.Generator().manual_seed(0)
    x, donors = torch.rand(3, 3, 32, 32, generator=gen), torch.rand(3, 3, 32, 32, generator=gen)
    still = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0}
    plans = [cutmix_plan(gen, 32, 32, (0.02, 0.15), (0.3, 3.3), still) for _ in range(3)]
    out = paste_from(x, donors, plans)
    for k, p in enumerate(plans):
        box = (slice(None), slice(p.ty, p.ty + p.ph), slice(p.tx, p.tx + p.pw))
        assert torch.equal(out[k][box], donors[k, :, p.sy:p.sy + p.ph, p.sx:p.sx + p.pw])
        keep = torch.ones(32, 32, dtype=torch.bool)
        keep[box[1:]] = False
        assert torch.equal(out[k][:, keep], x[k][:, keep])


# --- the frozen trunk ----------------------------------------------------------------------------

def test_the_base_trunk_does_not_change_during_training(base_models, tmp_path):
    data = ahl_data(base_models)
    trainer = Trainer(ahl_spec("ahl_dra", {"epochs": 3}), data, tmp_path, CPU)
    model = trainer.model
    trunk0 = {k: v.clone() for k, v in model.trunk.state_dict().items()}
    heads0 = {k: v.clone() for k, v in model.g.state_dict().items()}
    assert all(not p.requires_grad for p in model.trunk.parameters())
    trainer.fit()
    base = base_trunk(data.base_model).state_dict()
    for k, v in model.trunk.state_dict().items():  # every tensor, BatchNorm statistics included
        assert torch.equal(v, trunk0[k]) and torch.equal(v, base[k]), k
    assert not model.trunk.training
    assert any(not torch.equal(v, heads0[k]) for k, v in model.g.state_dict().items())  # g did train
    assert {id(p) for p in model.trainable_parameters()} == {id(p) for p in model.g.parameters()}


# --- psi's episode weights -----------------------------------------------------------------------

def test_episode_weights_are_softmax_of_minus_psis_weighted_error(base_models, tmp_path):
    data = ahl_data(base_models)
    over = {"epochs": 4, "history": 2, "psi_start_epoch": 2, "weight_start_epoch": 3}
    trainer = Trainer(ahl_spec("ahl_dra", over), data, tmp_path, CPU)
    model = trainer.model
    psi0 = copy.deepcopy(model.psi.state_dict())
    trainer.phases[0].epochs = 2
    trainer.fit_phase()  # epochs 0, 1: warm-up, psi untouched
    assert all(torch.equal(v, psi0[k]) for k, v in model.psi.state_dict().items())
    loss = trainer.step()  # epoch 2: psi trains, the loss is still (1/T) sum L_q,i
    assert model.weights is None
    torch.testing.assert_close(loss, model.query_losses.mean())
    assert any(not torch.equal(v, psi0[k]) for k, v in model.psi.state_dict().items())
    assert all(p.grad is None for p in model.psi.parameters())  # nothing of psi enters the run's clip

    # r by hand from psi's forecast (the last K epochs' scores) and the labels, before epoch 3
    psi = copy.deepcopy(model.psi).eval()
    with torch.no_grad():
        pred = psi(model.history_tensor())
    n, m = len(data.normal), len(data.anomaly)
    rows = model.d_rows
    y = (rows >= n).float()
    c = torch.where((rows >= n) & (rows < n + m), 1.0, 0.5)
    r = []
    for i, ep in enumerate(model.episodes):
        keep = ~((rows < n) & torch.isin(rows, torch.from_numpy(ep["support"].cluster)))  # D' = D \ X_n,i
        assert 0 < keep.sum() < len(rows)
        ci = c * keep
        r.append((ci * (pred[:, i] - y) ** 2).sum() / ci.sum())
    w = torch.softmax(-torch.stack(r), 0)

    loss = trainer.step()  # epoch 3: weighted
    assert (model.weights > 0).all()
    torch.testing.assert_close(model.weights, w)
    torch.testing.assert_close(model.weights.sum(), torch.tensor(1.0))
    torch.testing.assert_close(loss, ((0.5 + 0.5 * w) * model.query_losses).sum())


# --- the Perlin-mask generator -------------------------------------------------------------------

def test_perlin_mask_is_deterministic_binary_and_drawn_at_the_specified_scales():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    m1, r1 = perlin_mask(64, 48, g1)
    m2, r2 = perlin_mask(64, 48, g2)
    assert torch.equal(m1, m2) and r1 == r2
    assert set(m1.unique().tolist()) <= {0.0, 1.0} and m1.shape == (64, 48) and m1.any()
    # the recipe: exponents a, b ~ U{0..max}, noise thresholded at `threshold`
    g, replay = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    mask, res = perlin_mask(64, 64, g, scale_max=5, threshold=0.3)
    a, b = (int(torch.randint(6, (1,), generator=replay)) for _ in range(2))
    noise = perlin_noise(64, 64, (2 ** a, 2 ** b), replay)
    if (noise > 0.3).any():  # the first draw was kept
        assert res == (2 ** a, 2 ** b) and torch.equal(mask, (noise > 0.3).float())
    # the exponents cover exactly {0..max} on each axis
    g = torch.Generator().manual_seed(0)
    seen = [perlin_mask(32, 32, g, scale_max=5)[1] for _ in range(300)]
    assert {int(np.log2(ry)) for ry, _ in seen} == set(range(6)) == {int(np.log2(rx)) for _, rx in seen}
    seen = [perlin_mask(32, 32, g, scale_max=2)[1] for _ in range(100)]
    assert {ry for ry, _ in seen} | {rx for _, rx in seen} == {1, 2, 4}
    # the noise has the lattice of its resolution: zero on lattice points, not zero between them
    noise = perlin_noise(64, 64, (4, 8), torch.Generator().manual_seed(1))
    assert torch.equal(noise[::16, ::8], torch.zeros(4, 8)) and noise.abs().max() > 0.1
    assert noise.abs().max() <= 1.0 + 1e-6


def test_texture_blend_matches_beta():
    gen = torch.Generator().manual_seed(2)
    img, tex = torch.rand(3, 32, 32, generator=gen), synthetic_texture(48, 48, gen)
    assert tex.min() >= 0 and tex.max() <= 1 and tex.shape == (3, 48, 48)
    state = gen.get_state()
    out, mask, beta = draem_pseudo(img, tex, gen, beta_max=0.8)
    replay = torch.Generator()
    replay.set_state(state)
    tex_aug = augment_texture(fit_texture(tex, 32, 32), replay)
    mask2, _ = perlin_mask(32, 32, replay)
    beta2 = uniform(replay, 0.0, 0.8)
    assert torch.equal(mask, mask2) and beta == beta2 and 0 <= beta < 0.8
    inside = mask.bool().expand(3, -1, -1)
    assert torch.equal(out[~inside], img[~inside])
    torch.testing.assert_close(out[inside], ((1 - beta) * tex_aug + beta * img)[inside])
    torch.testing.assert_close(blend(img, tex_aug, mask, 0.25), img * (1 - mask) + (0.75 * tex_aug + 0.25 * img) * mask)
    betas = [draem_pseudo(img, tex, gen, beta_max=0.8)[2] for _ in range(30)]
    assert all(0 <= b < 0.8 for b in betas) and max(betas) > 0.4 and min(betas) < 0.4


# --- learning ------------------------------------------------------------------------------------

# Every method of the registry that builds on a trained run. AUROC at 32 px, seeds 0, 1, 2 on one CPU
# thread: AHL(DRA) 4 epochs .998 .995 1; AHL(DevNet) 8 epochs .964 .896 .983. The test trains seed 0;
# the floor (0.75) is far above chance. A method not listed trains 4 epochs.
EPOCHS = {"ahl_dra": 4, "ahl_devnet": 8}


@pytest.mark.parametrize("method", BASED)
def test_ahl_learns_an_easy_task(method, base_models, tmp_path):
    data = ahl_data(base_models, method)
    trainer = Trainer(ahl_spec(method, {"epochs": EPOCHS.get(method, 4)}), data, tmp_path, CPU)
    trainer.fit()
    scores, maps = trainer.score(keep_maps=True)
    s = scores["score"]
    assert np.isfinite(s).all() and np.ptp(s) > 0
    auroc = roc_auc_score(data.test_labels, s)
    assert auroc >= 0.75, f"{method}: AUROC {auroc:.3f}"
    assert maps["full"].shape == (len(s), 32, 32)
    if method == "ahl_dra":  # score = -holistic + seen + pseudo + composite
        parts = -scores["head_normal"] + scores["head_seen"] + scores["head_pseudo"] + scores["head_composite"]
        np.testing.assert_allclose(s, parts, rtol=1e-5, atol=1e-5)


# --- checkpoints ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method", BASED)
def test_a_resumed_run_gives_the_uninterrupted_runs_scores(method, base_models, tmp_path):
    data = ahl_data(base_models, method)
    # resumed after epoch index 1: psi has trained once (its optimiser has state), it trains again in
    # epoch 2 and 3, and the weights apply from epoch 2
    over = {"epochs": 4, "history": 1, "psi_start_epoch": 1, "weight_start_epoch": 2, "inner_steps": 2,
            "query_batches": 1}
    spec = ahl_spec(method, over)
    straight = Trainer(spec, data, tmp_path / "straight", CPU)
    straight.fit()
    want, _ = straight.score()

    first = Trainer(spec, data, tmp_path / "resumed", CPU)
    first.phases[0].epochs = 2  # stop after epoch index 1, as a killed run that saved then
    first.fit_phase()
    first.save()
    del first
    again = Trainer(spec, data, tmp_path / "resumed", CPU)
    assert again.maybe_resume() and again.epoch == 2
    again.fit()
    got, _ = again.score()
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    assert torch.equal(again.model.weights, straight.model.weights)
