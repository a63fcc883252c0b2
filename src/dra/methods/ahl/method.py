"""AHL (Zhu, Ding, Tian, Pang, CVPR 2024): anomaly heterogeneity learning on the frozen trunk of a
trained DRA or DevNet run (docs/protocol.md, section 6).

Setup (`setup`, once per run): the base run's trained ResNet-18 trunk, frozen, encodes the feature
bank and the episodes are made on it (dra.methods.ahl.bank). One epoch (`batch_loss`, the run's one
optimiser step per epoch): for each episode, theta_i starts at the unified model theta_g
(dra.methods.ahl.heads) and takes `inner_steps` chained plain-SGD steps on support batches; its
query loss (the sum over `query_batches` query batches) gives theta_g its first-order (FOMAML)
gradient, accumulated with the episode's weight (1/T during warm-up, 0.5 + 0.5 w_i after, from psi:
dra.methods.ahl.psi); theta_i scores the fixed query sample set D for psi. The pipeline then clips
and steps theta_g's optimiser. Test scores use theta_g alone with fixed reference normals.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from dra.errors import DraError
from dra.methods.ahl.bank import FeatureBank
from dra.methods.ahl.heads import DevNetHead, DRAHeads, kaiming_init
from dra.methods.ahl.psi import EpisodeWeighting
from dra.methods.base import CycleSampler, Method, external_pool
from dra.nets.backbone import ResNet18Trunk, pyramid
from dra.nets.heads import SIGN, head_targets, upsampled_mean
from dra.nets.losses import deviation_loss
from dra.plan.params import CUTMIX, DEVIATION, TOPK, Param
from dra.progress import say

BASES = ("dra", "devnet")
TEXTURE_SOURCES = ("dtd", "synthetic")

PARAMS = {
    # the unified model's optimiser (AHL's code): Adam 0.002, wd 1e-4, StepLR 10/0.1 after each epoch's step
    "epochs": 30, "iterations": Param("int", 1, "one outer step per epoch (its only value)", min=1, max=1),
    "lr": 0.002, "weight_decay": 1.0e-4, "lr_step": 10, "lr_gamma": 0.1,
    "scheduler_at": "end", "grad_clip": 1.0, "rotation": 180.0, "test_batch": 48,
    **TOPK, **DEVIATION, **CUTMIX,
    "base": Param("str", "dra", "the variant of the base run whose trained trunk AHL builds on", choices=BASES),
    "texture_source": Param("str", "dtd", "textures of the Perlin-mask pseudo anomalies: the DTD images the "
                            "pipeline passes as the external pool, or generated noise textures",
                            choices=TEXTURE_SOURCES),
    "clusters": Param("int", 3, "k-means clusters of the normals (C)", min=2),
    "min_cluster": Param("int", 3, "clusters with fewer members are dropped (the code drops <= 2)", min=1),
    "kmeans_n_init": Param("int", 10, "k-means restarts (scikit-learn's n_init, fixed explicitly)", min=1),
    "inner_steps": Param("int", 41, "chained first-order SGD steps of theta_i on support batches (gap 6)", min=1),
    "inner_lr": Param("float", 2.0e-4, "plain SGD learning rate of the inner loop", min=0, above=True),
    "query_batches": Param("int", 20, "query batches of an episode's query loss (summed)", min=1),
    "batch_normal": Param("int", 16, "normal slots per batch", min=0),
    "batch_anomaly": Param("int", 16, "seen-anomaly slots per batch", min=0),
    "batch_pseudo": Param("int", 16, "pseudo-anomaly slots per batch", min=0),
    "n_ref": Param("int", 5, "reference normals per batch and for scoring (the composite head's)", min=1),
    "pseudo_prob": Param("float", 0.5, "probability that a set's normal is replaced by its pseudo copy (label 2)",
                         min=0, max=1),
    "pseudo_draw": Param("str", "episode", "episode: each set's normals replaced once when the episodes are made "
                         "(the code's fixed sets; batches draw their normal and pseudo slots from them); batch: "
                         "every drawn normal slot replaced afresh", choices=("episode", "batch")),
    "cache_rotation": Param("str", "pseudo", "which cached images get the training rotation: the pseudo copies "
                            "(the code's writers) or every train image", choices=("pseudo", "all")),
    "history": Param("int", 5, "epochs of scores psi reads (K)", min=1),
    "psi_start_epoch": Param("int", 5, "epoch index from which psi trains", min=0),
    "weight_start_epoch": Param("int", 7, "epoch index from which the episode weights apply", min=0),
    "psi_layers": Param("int", 2, "psi's BiLSTM layers", min=1),
    "psi_dropout": Param("float", 0.5, "dropout between psi's LSTM layers", min=0, max=1),
    "psi_lr": Param("float", 0.002, "psi's Adam learning rate", min=0, above=True),
    "psi_weight_decay": Param("float", 1.0e-3, "psi's Adam weight decay", min=0),
    "c_anomaly": Param("float", 1.0, "weight of a labeled anomaly in the episode error r", min=0),
    "c_other": Param("float", 0.5, "weight of a normal or pseudo anomaly in the episode error r", min=0),
    "perlin_scale_max": Param("int", 5, "Perlin lattice resolution 2^U{0..max} per axis", min=0, max=8),
    "perlin_threshold": Param("float", 0.5, "Perlin noise threshold of the mask", min=-1, max=1),
    "beta_max": Param("float", 0.8, "texture blend: the image keeps beta ~ U[0, beta_max) inside the mask",
                      min=0, max=1),
}
METHOD_DEFAULTS = {"ahl_dra": {"base": "dra"}, "ahl_devnet": {"base": "devnet"}}


def load_base_trunk(trunk: ResNet18Trunk, state: dict | None, base: str) -> None:
    """The base run's trained trunk (`trunk.` entries of its state_dict) into `trunk`; the state must
    be a model of the `base` method."""
    if state is None:
        raise DraError(f"AHL builds on a trained {base} run: this run got no base model (--base-model <the "
                       f"{base} run's model file>)")
    body = {k[len("trunk."):]: v for k, v in state.items() if k.startswith("trunk.")}
    if not body:
        raise DraError(f"base model: holds no trunk weights (no `trunk.` entries); expected a {base} run's model")
    marks = {"dra": ("heads.", "classifier."), "devnet": ("head.",)}[base]
    if not any(k.startswith(marks) for k in state):
        raise DraError(f"base model: not a {base} model (none of its entries start with {' or '.join(marks)}); "
                       f"the variant's base is {base!r}")
    try:
        trunk.load_state_dict(body)
    except RuntimeError as e:
        raise DraError(f"base model: its trunk does not fit a ResNet-18 trunk ({str(e).splitlines()[0][:200]})") from None


class AHL(FeatureBank, EpisodeWeighting, Method):
    """What AHL(DRA) and AHL(DevNet) share; a subclass builds g (`build_g`), its loss and its score."""

    USES_REFS = True
    STEP_IS_EPOCH = True  # one outer step per epoch: a checkpoint after each

    def __init__(self, params, data, gen):
        super().__init__(params, data, gen)
        self.seed = int(gen.initial_seed()) % (2 ** 32)  # the run's seed (the Trainer seeds `gen` with it)
        if data.anomaly is None or len(data.anomaly) == 0:
            raise DraError("AHL learns from labeled anomalies; this run has none (shots 0)")
        if params["texture_source"] != "synthetic":  # fail before training
            external_pool(data, f"textures ({params['texture_source']})")
        self.trunk = ResNet18Trunk(None)
        load_base_trunk(self.trunk, data.base_model, params["base"])
        self.trunk.requires_grad_(False)
        self.trunk.eval()
        self.g = self.build_g(self.trunk.out_channels, params["topk_ratio"])
        kaiming_init(self.g, gen)
        self.make_psi(params["clusters"] * (params["clusters"] - 1))
        self.reset_bookkeeping()

    # --- pieces -----------------------------------------------------------------------------
    def build_g(self, channels: int, ratio: float) -> nn.Module:
        raise NotImplementedError

    def g_loss(self, out: dict, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def combine(self, out: dict) -> torch.Tensor:
        """The image score from g's head scores."""
        raise NotImplementedError

    def reset_bookkeeping(self) -> None:
        self.epoch_index = 0
        self.history: list[torch.Tensor] = []  # the last K epochs' D x T scores, oldest first
        self.weights: torch.Tensor | None = None  # the episode weights w of the last weighted epoch
        self.record: dict = {}  # the last weighted epoch's psi forecast, r and w (for inspection)
        self.query_losses: torch.Tensor | None = None

    def train(self, mode: bool = True):
        super().train(mode)
        self.trunk.eval()  # frozen: its BatchNorm statistics never move
        return self

    def trainable_parameters(self):
        return list(self.g.parameters())

    @property
    def device(self) -> torch.device:
        return next(self.trunk.parameters()).device

    def setup(self, data):
        p = self.params
        self.trunk.eval()
        self.build_bank(data)
        self.make_clusters()
        self.make_episodes()
        self.make_query_pool()
        t = len(self.episodes)
        say(f"AHL episodes: {t} (ordered pairs of {len(self.clusters)} clusters), {len(self.d_rows):,} query items "
            "scored for the episode weights")
        if t != self.psi.fc.out_features:
            self.make_psi(t)
        self.reset_bookkeeping()
        # the fixed references of test (and D) scoring, drawn once (gap 9)
        self.ref_rows = torch.randperm(self.n_normal, generator=self.gen)[:p["n_ref"]]
        self.samplers["ref"] = CycleSampler(self.n_normal, self.gen)
        for i, ep in enumerate(self.episodes):
            for which in ("support", "query"):
                st = ep[which]
                for kind in ("normal", "anomaly", "pseudo"):
                    n = len(getattr(st, kind))
                    if n:
                        self.samplers[f"e{i}.{which}.{kind}"] = CycleSampler(n, self.gen)

    # --- batches and losses -----------------------------------------------------------------
    def features(self, rows: torch.Tensor) -> list[torch.Tensor]:
        rows = rows.to(self.device)
        return [b[rows] for b in self.bank]

    def ref_means(self, ref: torch.Tensor | None) -> list | None:
        if ref is None:
            return None
        return [f.mean(0) for f in self.features(ref)]

    def run_g(self, theta: dict | None, feats: list, refs: list | None, maps: bool = False) -> dict:
        args = (feats, refs if refs is not None else [None] * len(feats), maps)
        return self.g(*args) if theta is None else functional_call(self.g, theta, args)

    def set_loss(self, theta: dict | None, batch) -> torch.Tensor:
        rows, labels, ref = batch
        return self.g_loss(self.run_g(theta, self.features(rows), self.ref_means(ref)), labels)

    def dev(self, score: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = self.params
        return deviation_loss(score, target, self.gen, p["dev_samples"], p["dev_margin"])

    @torch.no_grad()
    def score_rows(self, theta: dict | None, rows: torch.Tensor) -> torch.Tensor:
        """The image score of bank rows under theta (g in eval mode), with the fixed references."""
        was = self.g.training
        self.g.eval()
        refs = self.ref_means(self.ref_rows) if self.USES_REFS else None
        out = []
        bs = max(self.params["test_batch"], 1)
        for start in range(0, len(rows), bs):
            part = self.run_g(theta, self.features(rows[start:start + bs]), refs)
            out.append(self.combine(part).float())
        self.g.train(was)
        return torch.cat(out)

    # --- one epoch --------------------------------------------------------------------------
    def make_batch(self, data):
        """An AHL step is a whole epoch of episodes on the feature bank: nothing to draw beforehand."""
        return ()

    def batch_loss(self, batch):
        p = self.params
        e, t = self.epoch_index, len(self.episodes)
        k = p["history"]
        weighted = e >= p["weight_start_epoch"] and len(self.history) >= k
        if weighted:
            self.weights = self.episode_weights()
            coef = (0.5 + 0.5 * self.weights).tolist()
        else:
            coef = [1.0 / t] * t
        named = dict(self.g.named_parameters())
        grads = {n: torch.zeros_like(v) for n, v in named.items()}
        total, losses = 0.0, []
        scores = torch.zeros(len(self.d_rows), t, device=self.device)
        for i in range(t):
            theta = {n: v.detach().clone().requires_grad_(True) for n, v in named.items()}
            for _ in range(p["inner_steps"]):  # chained plain SGD, first order (gap 6)
                loss = self.set_loss(theta, self.episode_batch(i, "support"))
                g = torch.autograd.grad(loss, list(theta.values()), allow_unused=True)
                theta = {n: (v - p["inner_lr"] * gi if gi is not None else v).detach().requires_grad_(True)
                         for (n, v), gi in zip(theta.items(), g)}
            lq = 0.0
            for _ in range(p["query_batches"]):  # FOMAML: d L_q(theta_i) / d theta_i goes to theta_g
                loss = self.set_loss(theta, self.episode_batch(i, "query"))
                g = torch.autograd.grad(loss, list(theta.values()), allow_unused=True)
                for (n, _), gi in zip(theta.items(), g):
                    if gi is not None:
                        grads[n].add_(gi, alpha=coef[i])
                lq = lq + loss.detach().float()
            losses.append(lq)
            total = total + coef[i] * lq
            scores[:, i] = self.score_rows(theta, self.d_rows)
        for n, v in named.items():
            v.grad = grads[n]
        if e >= p["psi_start_epoch"] and len(self.history) >= k:
            self.train_psi(scores)
        self.history = (self.history + [scores.detach()])[-k:]
        self.query_losses = torch.stack(losses)
        self.epoch_index += 1
        return total.detach() if isinstance(total, torch.Tensor) else torch.tensor(total)

    def iterations_per_epoch(self, data) -> int:
        return 1

    # a step pushes the frozen trunk's cached maps through g, never an image through the trunk: not
    # comparable with the other methods' images/s, so named apart
    THROUGHPUT_UNIT = "feature maps"

    def step_text(self, data) -> str:
        p = self.params
        t = len(getattr(self, "episodes", [])) or p["clusters"] * (p["clusters"] - 1)
        return (f"{t} episodes of {p['inner_steps']} inner and {p['query_batches']} query batches, "
                f"{self.images_per_step(data):,} feature maps through the heads")

    def images_per_step(self, data) -> int:
        """Cached feature maps through g per epoch: every inner and query batch (with its references)
        and T scorings of D. (The trunk's passes, once at setup, are not counted.)"""
        p = self.params
        t = len(getattr(self, "episodes", [])) or p["clusters"] * (p["clusters"] - 1)
        per_batch = p["batch_normal"] + p["batch_anomaly"] + p["batch_pseudo"] + (p["n_ref"] if self.USES_REFS else 0)
        return t * ((p["inner_steps"] + p["query_batches"]) * per_batch + len(getattr(self, "d_rows", [])))

    # --- checkpoints ------------------------------------------------------------------------
    def extra_state(self) -> dict:
        empty = torch.zeros(0)
        return {"epoch_index": self.epoch_index,
                "history": torch.stack(self.history) if self.history else empty,
                "psi_opt": self.psi_opt.state_dict(),
                "weights": self.weights if self.weights is not None else empty,
                "query_losses": self.query_losses if self.query_losses is not None else empty}

    def load_extra_state(self, state: dict) -> None:
        want = {"epoch_index", "history", "psi_opt", "weights", "query_losses"}
        if set(state) != want:
            raise DraError(f"checkpoint holds AHL state {sorted(state)}; expected {sorted(want)}")
        self.epoch_index = int(state["epoch_index"])
        h = state["history"].to(self.device)
        self.history = list(h.unbind(0)) if h.numel() else []
        self.psi_opt.load_state_dict(state["psi_opt"])
        self.weights = state["weights"].to(self.device) if state["weights"].numel() else None
        self.query_losses = state["query_losses"] if state["query_losses"].numel() else None

    # --- scoring ----------------------------------------------------------------------------
    def score(self, images, data, maps=False):
        x = self.test_view(images)
        with torch.no_grad():
            feats = [self.trunk(level) for level in pyramid(x, self.params["scales"])]
        refs = self.ref_means(self.ref_rows) if self.USES_REFS else None
        out = self.run_g(None, feats, refs, maps)
        per_scale = out.pop("maps", None)
        parts = {f"head_{k}": v.float() for k, v in out.items()} if len(out) > 1 else {}
        parts["score"] = self.combine(out).float()
        if maps:
            parts["map"] = upsampled_mean(per_scale, x.shape[-2:])
        return parts


class AHLDRA(AHL):
    """AHL(DRA): g = DRA's four heads; score = -holistic + seen + pseudo + composite."""

    def build_g(self, channels, ratio):
        return DRAHeads(channels, ratio)

    def g_loss(self, out, labels):
        # DRA's routing: holistic y = normal; seen on {0, 1}, pseudo on {0, 2}, composite y = any anomaly
        total = 0.0
        for name, (mask, target) in head_targets(labels).items():
            if mask.any():
                total = total + self.dev(out[name][mask], target[mask])
        return total

    def combine(self, out):
        return sum(SIGN[k] * out[k] for k in SIGN)


class AHLDevNet(AHL):
    """AHL(DevNet): g = DevNet's top-K head; pseudo anomalies count as anomalies; score = the head."""

    USES_REFS = False

    def build_g(self, channels, ratio):
        return DevNetHead(channels, ratio)

    def g_loss(self, out, labels):
        return self.dev(out["seen"], labels > 0)

    def combine(self, out):
        return out["seen"]


METHODS = {"ahl_dra": AHLDRA, "ahl_devnet": AHLDevNet}
METHOD = AHLDRA
