"""AHL (Zhu, Ding, Tian, Pang, CVPR 2024): anomaly heterogeneity learning on the frozen trunk of a
trained DRA or DevNet run (shared/methods/AHL.md; section 5's recommended choices throughout).

Setup (`setup`, once per run): the base run's trained ResNet-18 trunk, frozen, encodes at the
pyramid's scales the train normals and seen anomalies (test view) and one pseudo-anomalous copy of
every normal per generator (same-image cut-paste, cut-paste from another normal, a Perlin-mask
texture blend; each copy then rotated and normalised as DRA's training transform) into one feature
bank. k-means on the normals' scale-0 features makes the clusters; every ordered pair of kept
clusters is an episode (support cluster, query cluster), with halves of the seen anomalies and two
different pseudo-anomaly generators, fixed for the run.

One epoch (`loss`, the run's one optimiser step per epoch): for each episode, theta_i starts at the
unified model theta_g and takes `inner_steps` chained plain-SGD steps on support batches; its query
loss (the sum over `query_batches` query batches) gives theta_g its first-order (FOMAML) gradient,
accumulated here with the episode's weight (1/T during warm-up, 0.5 + 0.5 w_i after); theta_i scores
the fixed query sample set D for the episode-importance model psi (a BiLSTM over the last `history`
epochs' scores), whose forecast error r_i gives w = softmax(-r). The pipeline then clips and steps
theta_g's optimiser. Test scores use theta_g alone with fixed reference normals.

AHL(DRA): g is DRA's four heads (holistic without abs); AHL(DevNet): g is DevNet's single top-K head.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from dra.augment import cutmix_plan, jitter_pixels, normalize, paste, to_float, uniform
from dra.augment_draem import draem_pseudo, synthetic_texture
from dra.errors import DraError
from dra.losses import deviation_loss
from dra.methods.base import CycleSampler, Method
from dra.nets.backbone import ResNet18Trunk, pyramid
from dra.nets.heads import CompositeHead, NormalityHead, TopKHead, topk_mean, upsampled_mean
from dra.params import Param

GENERATORS = ("cutpaste", "cutmix", "draem")  # same-image paste, paste from another normal, Perlin blend
BASES = ("dra", "devnet")
TEXTURE_SOURCES = ("dtd", "synthetic")
JITTER = ("brightness", "contrast", "saturation", "hue")
SIGN = {"seen": 1.0, "pseudo": 1.0, "composite": 1.0, "normal": -1.0}  # score = -holistic + the rest

WEIGHTS = ()  # AHL starts from the base run's trained trunk, not from ImageNet
PARAMS = {
    # the unified model's optimiser (AHL's code): Adam 0.002, wd 1e-4, StepLR 10/0.1 after each epoch's step
    "epochs": 30, "iterations": Param("int", 1, "one outer step per epoch (its only value)", min=1, max=1),
    "lr": 0.002, "weight_decay": 1.0e-4, "lr_step": 10, "lr_gamma": 0.1,
    "scheduler_at": "end", "grad_clip": 1.0, "rotation": 180.0, "test_batch": 48,
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
    "topk_ratio": Param("float", 0.1, "share of a map's positions in the top-K mean", min=0, max=1, above=True),
    "dev_margin": Param("float", 5.0, "the deviation loss's margin", min=0, above=True),
    "dev_samples": Param("int", 5000, "the deviation loss's reference draws from N(0, 1)", min=2),
    "scales": Param("int", 2, "pyramid scales (input, then halved)", min=1, max=4),
    "cutmix_area": Param("list", [0.02, 0.15], "cut-paste patch area, a share of the image", items="float",
                         length=2, min=0, max=1),
    "cutmix_aspect": Param("list", [0.3, 3.3333333], "cut-paste aspect ratio range", items="float", length=2,
                           min=0, above=True),
    "jitter": Param("dict", {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1},
                    "colour jitter of pasted patches (torchvision's ColorJitter)", keys=JITTER),
}
METHOD_DEFAULTS = {"ahl_dra": {"base": "dra"}, "ahl_devnet": {"base": "devnet"}}


# --- the unified model g ---------------------------------------------------------------------------

class DRAHeads(nn.Module):
    """DRA's four heads on cached features: seen and pseudo (1x1 conv, |.|, top-K mean), composite
    ((mean reference map - x) -> 3x3 conv, BN, ReLU -> 1x1 conv, |.|, top-K mean) and holistic (GAP,
    FC 512-256, ReLU, FC 1, without DRA's abs), each averaged over the scales."""

    def __init__(self, channels: int, ratio: float):
        super().__init__()
        self.ratio = ratio
        self.heads = nn.ModuleDict({"seen": TopKHead(channels, ratio), "pseudo": TopKHead(channels, ratio),
                                    "composite": CompositeHead(channels, ratio), "normal": NormalityHead(channels)})

    def forward(self, feats: list[torch.Tensor], ref_means: list[torch.Tensor], maps: bool = False) -> dict:
        out: dict[str, list] = {h: [] for h in self.heads}
        per_scale = []
        for f, r in zip(feats, ref_means):
            hol = self.heads["normal"].mlp(f.mean(dim=(-2, -1))).float().squeeze(-1)
            parts = {"seen": self.heads["seen"].map(f), "pseudo": self.heads["pseudo"].map(f),
                     "composite": self.heads["composite"].map(f, r)}
            for name, m in parts.items():
                out[name].append(topk_mean(m, self.ratio))
            out["normal"].append(hol)
            if maps:
                combined = sum(parts.values()) - hol.view(-1, 1, 1, 1)
                per_scale.append(combined)
        result = {k: torch.stack(v).mean(0) for k, v in out.items()}
        if maps:
            result["maps"] = per_scale
        return result


class DevNetHead(nn.Module):
    """DevNet's single top-K head (the seen-head architecture), averaged over the scales."""

    def __init__(self, channels: int, ratio: float):
        super().__init__()
        self.head = TopKHead(channels, ratio)

    def forward(self, feats: list[torch.Tensor], ref_means=None, maps: bool = False) -> dict:
        ms = [self.head.map(f) for f in feats]
        result = {"seen": torch.stack([topk_mean(m, self.head.ratio) for m in ms]).mean(0)}
        if maps:
            result["maps"] = ms
        return result


def kaiming_init(module: nn.Module, gen: torch.Generator) -> None:
    """Kaiming-normal weights for every conv and linear layer (as AHL's heads), zero biases; BatchNorm
    weight 1, bias 0 (gap 5: as DRA, not the code's 0 that leaves the composite head dead)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            with torch.no_grad():
                nn.init.kaiming_normal_(m.weight, generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class Psi(nn.Module):
    """The episode-importance model: a BiLSTM (input = hidden = T) over a sample's K-epoch history of
    the T models' scores, zero initial states (gap 8), then ReLU and Linear(2T -> T) on the last step."""

    def __init__(self, episodes: int, layers: int, dropout: float, gen: torch.Generator):
        super().__init__()
        self.lstm = nn.LSTM(episodes, episodes, num_layers=layers, dropout=dropout if layers > 1 else 0.0,
                            bidirectional=True, batch_first=True)
        self.fc = nn.Linear(2 * episodes, episodes)
        # PyTorch's default initialisation, drawn from the run's generator
        with torch.no_grad():
            k = 1.0 / episodes ** 0.5
            for p in self.lstm.parameters():
                p.uniform_(-k, k, generator=gen)
            k = 1.0 / (2 * episodes) ** 0.5
            for p in self.fc.parameters():
                p.uniform_(-k, k, generator=gen)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """history: n x K x T -> n x T."""
        y, _ = self.lstm(history)
        return self.fc(F.relu(y[:, -1]))


# --- pseudo anomalies of the feature cache -----------------------------------------------------------

def paste_from(x: torch.Tensor, donors: torch.Tensor, plans: list) -> torch.Tensor:
    """x[k] with donors[k]'s patch of plans[k] (`augment.cutmix_plan`: source box, colour jitter,
    target box) pasted in: cut-paste whose patch comes from another image."""
    out = x.clone()
    if not plans:
        return out
    pix, sizes = [], []
    for k, p in enumerate(plans):
        pix.append(donors[k, :, p.sy:p.sy + p.ph, p.sx:p.sx + p.pw].reshape(3, -1).T)
        sizes.append(p.ph * p.pw)
    seg = torch.repeat_interleave(torch.arange(len(plans)), torch.tensor(sizes)).to(x.device)
    pixels = jitter_pixels(torch.cat(pix), seg, sizes, [p.jitter for p in plans])
    offset = 0
    for k, (p, n) in enumerate(zip(plans, sizes)):
        out[k, :, p.ty:p.ty + p.ph, p.tx:p.tx + p.pw] = pixels[offset:offset + n].T.reshape(3, p.ph, p.pw)
        offset += n
    return out


def load_base_trunk(trunk: ResNet18Trunk, path, base: str) -> None:
    """The base run's trained trunk (`trunk.` entries of its state_dict) into `trunk`; the file must
    be a model of the `base` method. Any failure is a DraError naming the file."""
    if path is None:
        raise DraError(f"AHL builds on a trained {base} run: this run got no base model (--base-model <the "
                       f"{base} run's model file>)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - missing, truncated or foreign: a clean error naming it
        raise DraError(f"{path}: the base run's model cannot be read ({type(e).__name__}: "
                       f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DraError(f"{path}: not a model state_dict (expected a mapping of tensors)")
    body = {k[len("trunk."):]: v for k, v in state.items() if k.startswith("trunk.")}
    if not body:
        raise DraError(f"{path}: holds no trunk weights (no `trunk.` entries); expected a {base} run's model")
    marks = {"dra": ("heads.", "classifier."), "devnet": ("head.",)}[base]
    if not any(k.startswith(marks) for k in state):
        raise DraError(f"{path}: not a {base} model (none of its entries start with {' or '.join(marks)}); "
                       f"the variant's base is {base!r}")
    try:
        trunk.load_state_dict(body)
    except RuntimeError as e:
        raise DraError(f"{path}: its trunk does not fit a ResNet-18 trunk ({str(e).splitlines()[0][:200]})") from None


class EpisodeSet:
    """One support or query set: row numbers into the feature bank of its normal items (label 0), its
    seen anomalies (1) and its pseudo items (2), and the generator of its pseudo anomalies."""

    def __init__(self, normal: torch.Tensor, anomaly: torch.Tensor, pseudo: torch.Tensor, generator: int,
                 cluster: np.ndarray):
        self.normal, self.anomaly, self.pseudo = normal, anomaly, pseudo
        self.generator, self.cluster = generator, cluster


class AHL(Method):
    """What AHL(DRA) and AHL(DevNet) share; a subclass builds g (`build_g`), its loss and its score."""

    USES_REFS = True
    STEP_IS_EPOCH = True  # one outer step per epoch: a checkpoint after each

    def __init__(self, params, data, gen, weights):
        super().__init__(params, data, gen, weights)
        self.seed = int(gen.initial_seed()) % (2 ** 32)  # the run's seed (the Trainer seeds `gen` with it)
        if data.anomaly is None or len(data.anomaly) == 0:
            raise DraError("AHL learns from labeled anomalies; this run has none (shots 0)")
        if params["texture_source"] == "dtd" and (data.external is None or len(data.external) == 0):
            raise DraError("texture_source 'dtd': AHL's Perlin-mask pseudo anomalies need the Describable Textures "
                           "Dataset's images as the external pool, but the run got none (no --external cache). Or "
                           "set `texture_source: synthetic` to blend in generated noise textures instead")
        self.trunk = ResNet18Trunk("none")
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

    def make_psi(self, episodes: int) -> None:
        p = self.params
        self.psi = Psi(episodes, p["psi_layers"], p["psi_dropout"], self.gen)
        if hasattr(self, "trunk"):
            self.psi.to(next(self.trunk.parameters()).device)
        self.psi_opt = torch.optim.Adam(self.psi.parameters(), lr=p["psi_lr"], weight_decay=p["psi_weight_decay"])

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

    # --- the feature bank -------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor, rotate: bool) -> list[torch.Tensor]:
        """float [0, 1] images -> the trunk's maps at each scale (rotated first where `rotate`)."""
        x = self.augment(x) if rotate else normalize(x)
        return [self.trunk(level).float() for level in pyramid(x, self.params["scales"])]

    def pseudo_images(self, kind: str, x: torch.Tensor, idx: torch.Tensor, data) -> torch.Tensor:
        """Pseudo-anomalous copies of the normals x (rows idx of the normal pool)."""
        p, (h, w) = self.params, x.shape[-2:]
        area, aspect, jitter = tuple(p["cutmix_area"]), tuple(p["cutmix_aspect"]), p.get("jitter")
        if kind == "cutpaste":  # DRA's same-image CutMix plan
            return paste(x, list(range(len(x))), [cutmix_plan(self.gen, h, w, area, aspect, jitter) for _ in x])
        if kind == "cutmix":  # the patch from another train normal
            n = len(data.normal)
            donors, plans = [], []
            for i in idx.tolist():
                j = int(torch.randint(max(n - 1, 1), (1,), generator=self.gen))
                donors.append(j + (j >= i) if n > 1 else i)
                plans.append(cutmix_plan(self.gen, h, w, area, aspect, jitter))
            return paste_from(x, to_float(data.normal[torch.tensor(donors)]), plans)
        out = torch.empty_like(x)
        for k in range(len(x)):
            if p["texture_source"] == "dtd":
                tex = to_float(self.draw(data.external, 1))[0]
            else:
                tex = synthetic_texture(h, w, self.gen)
            out[k], _, _ = draem_pseudo(x[k], tex, self.gen, p["perlin_scale_max"], p["perlin_threshold"],
                                        p["beta_max"])
        return out

    def build_bank(self, data) -> None:
        """bank[s]: rows = normals (N), seen anomalies (M), then the pseudo copies of generator g at
        N + M + g N + i (i: the normal it was made from)."""
        p, bs = self.params, self.params["test_batch"]
        rot_all = p["cache_rotation"] == "all"
        parts: list[list[torch.Tensor]] = []
        for pool in (data.normal, data.anomaly):
            for start in range(0, len(pool), bs):
                idx = torch.arange(start, min(start + bs, len(pool)))
                parts.append(self.encode(to_float(pool[idx]), rot_all))
        for kind in GENERATORS:
            for start in range(0, len(data.normal), bs):
                idx = torch.arange(start, min(start + bs, len(data.normal)))
                x = self.pseudo_images(kind, to_float(data.normal[idx]), idx, data)
                parts.append(self.encode(x, True))
        self.bank = [torch.cat([part[s] for part in parts]) for s in range(p["scales"])]
        self.n_normal, self.n_anomaly = len(data.normal), len(data.anomaly)

    def pseudo_rows(self, generator: int, normal_rows: torch.Tensor) -> torch.Tensor:
        return self.n_normal + self.n_anomaly + generator * self.n_normal + normal_rows

    # --- the episodes -----------------------------------------------------------------------
    def make_clusters(self) -> None:
        from sklearn.cluster import KMeans

        p = self.params
        flat = self.bank[0][:self.n_normal].flatten(1).float().cpu().numpy()
        if len(flat) < p["clusters"]:
            raise DraError(f"AHL: {len(flat)} train normals, fewer than the {p['clusters']} clusters")
        km = KMeans(n_clusters=p["clusters"], random_state=self.seed, n_init=p["kmeans_n_init"]).fit(flat)
        self.cluster_labels = km.labels_.astype(np.int64)
        members = [np.flatnonzero(self.cluster_labels == c) for c in range(p["clusters"])]  # by index (gap 3)
        self.clusters = [m for m in members if len(m) >= p["min_cluster"]]
        if len(self.clusters) < 2:
            raise DraError(f"AHL: k-means left {len(self.clusters)} cluster(s) of at least {p['min_cluster']} "
                           f"normals (sizes {[len(m) for m in members]}); episodes need two")

    def make_set(self, cluster: np.ndarray, anomalies: torch.Tensor, generator: int):
        """(the set, its items as D sees them): the set's normals, each replaced by its pseudo copy
        w.p. pseudo_prob (drawn once here; with pseudo_draw 'batch' this draw only fixes which version
        of each normal enters D, and the batches replace normals afresh)."""
        p = self.params
        rows = torch.from_numpy(cluster)
        flip = uniform(self.gen, 0.0, 1.0, len(rows)) < p["pseudo_prob"]
        anomaly_rows = self.n_normal + anomalies
        items = (rows[~flip], anomaly_rows, self.pseudo_rows(generator, rows[flip]))
        if p["pseudo_draw"] == "batch":
            return EpisodeSet(rows, anomaly_rows, self.pseudo_rows(generator, rows), generator, cluster), items
        return EpisodeSet(*items, generator, cluster), items

    def make_episodes(self) -> None:
        """T = m(m-1) ordered (support, query) cluster pairs; seen anomalies split into disjoint random
        halves (one anomaly: in both sets); a support generator and a different query generator."""
        m, n_anom = len(self.clusters), self.n_anomaly
        self.episodes, self.d_items = [], []
        for a in range(m):
            for b in range(m):
                if a == b:
                    continue
                if n_anom == 1:
                    s_anom = q_anom = torch.zeros(1, dtype=torch.long)
                else:
                    perm = torch.randperm(n_anom, generator=self.gen)
                    s_anom, q_anom = perm[:n_anom // 2], perm[n_anom // 2:]
                g_s = int(torch.randint(len(GENERATORS), (1,), generator=self.gen))
                g_q = (g_s + 1 + int(torch.randint(len(GENERATORS) - 1, (1,), generator=self.gen))) % len(GENERATORS)
                support, _ = self.make_set(self.clusters[a], s_anom, g_s)
                query, items = self.make_set(self.clusters[b], q_anom, g_q)
                self.d_items.append(items)  # D holds the query sets
                self.episodes.append({"clusters": (a, b), "support": support, "query": query,
                                      "generators": (GENERATORS[g_s], GENERATORS[g_q])})

    def make_query_pool(self) -> None:
        """D: the union of the episodes' query sets (as fixed when the episodes were made), each bank
        row once; its 0/1 labels, weights c, each episode's members and D' (D without the episode's
        support normals)."""
        p = self.params
        order: dict[int, int] = {}
        members = []
        for normal, anomaly, pseudo in self.d_items:
            rows = torch.cat([normal, anomaly, pseudo]).tolist()
            for r in rows:
                order.setdefault(r, len(order))
            members.append(torch.tensor([order[r] for r in rows], dtype=torch.long))
        rows = torch.tensor(list(order), dtype=torch.long)
        is_normal = rows < self.n_normal
        is_anomaly = (rows >= self.n_normal) & (rows < self.n_normal + self.n_anomaly)
        dev = self.device
        self.d_rows = rows
        self.d_labels = (~is_normal).float().to(dev)
        self.d_c = torch.where(is_anomaly, p["c_anomaly"], p["c_other"]).float().to(dev)
        self.d_members = [mm.to(dev) for mm in members]
        keep = []
        for ep in self.episodes:
            support = torch.from_numpy(ep["support"].cluster)
            keep.append(~(is_normal & torch.isin(rows, support)))
        self.d_keep = torch.stack(keep, 1).to(dev)  # D x T

    def setup(self, data):
        p = self.params
        self.trunk.eval()
        self.build_bank(data)
        self.make_clusters()
        self.make_episodes()
        self.make_query_pool()
        t = len(self.episodes)
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
    def episode_batch(self, i: int, which: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(bank rows, labels 0/1/2, reference rows) of one batch of episode i's support or query set."""
        p, st = self.params, self.episodes[i][which]
        rows, labels = [], []
        for kind, n, label in (("normal", p["batch_normal"], 0), ("anomaly", p["batch_anomaly"], 1),
                               ("pseudo", p["batch_pseudo"], 2)):
            pool = getattr(st, kind)
            if n == 0 or len(pool) == 0:
                continue
            r = pool[self.samplers[f"e{i}.{which}.{kind}"].take(n)]
            lab = torch.full((n,), label, dtype=torch.long)
            if kind == "normal" and p["pseudo_draw"] == "batch":
                flip = uniform(self.gen, 0.0, 1.0, n) < p["pseudo_prob"]
                r = torch.where(flip, self.pseudo_rows(st.generator, r), r)
                lab = flip.long() * 2
            rows.append(r)
            labels.append(lab)
        ref = self.samplers["ref"].take(p["n_ref"]) if self.USES_REFS else None
        return torch.cat(rows), torch.cat(labels).to(self.device), ref

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

    # --- psi and the episode weights --------------------------------------------------------
    def no_autocast(self):
        return torch.autocast(self.device.type, enabled=False)

    def history_tensor(self) -> torch.Tensor:
        """D x K x T: each sample's last K epochs of the T models' scores, oldest first."""
        return torch.stack(self.history, 1)

    def episode_weights(self) -> torch.Tensor:
        """w = softmax(-r): r_i the c-weighted (weights summing to 1 over D'_i) squared error between
        psi's forecast of model i's scores (from the last K epochs) and the 0/1 labels (Eq. 6-7)."""
        with self.no_autocast(), torch.no_grad():
            self.psi.eval()
            pred = self.psi(self.history_tensor().float())
            c = self.d_c[:, None] * self.d_keep.float()  # D x T
            c = c / c.sum(0, keepdim=True).clamp_min(1e-12)
            r = (c * (pred - self.d_labels[:, None]) ** 2).sum(0)
            w = torch.softmax(-r, 0)
        self.record = {"pred": pred, "r": r, "w": w, "epoch": self.epoch_index}
        return w

    def train_psi(self, scores: torch.Tensor) -> None:
        """One Adam step per episode: psi reads the query set's K previous epochs, its target the
        current scores (MSE)."""
        hist = self.history_tensor().float()
        with self.no_autocast():
            self.psi.train()
            for members in self.d_members:
                loss = F.mse_loss(self.psi(hist[members]), scores[members].float())
                self.psi_opt.zero_grad(set_to_none=True)
                loss.backward()
                self.psi_opt.step()
            self.psi_opt.zero_grad(set_to_none=True)  # none of psi's gradients reach the run's clip

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
        # holistic: y = normal; seen on {0, 1}, pseudo on {0, 2}, composite y = any anomaly
        every = torch.ones_like(labels, dtype=torch.bool)
        targets = {"normal": (every, labels == 0), "seen": (labels != 2, labels == 1),
                   "pseudo": (labels != 1, labels == 2), "composite": (every, labels > 0)}
        total = 0.0
        for name, (mask, target) in targets.items():
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
