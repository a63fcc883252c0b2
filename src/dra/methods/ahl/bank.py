"""AHL's feature bank: the frozen trunk's maps, at every scale, of the train normals, the seen
anomalies and one pseudo-anomalous copy of every normal per generator (same-image cut-paste,
cut-paste from another normal, a Perlin-mask texture blend), and the episodes built on it: k-means
clusters of the normals, every ordered pair of clusters an episode with its support and query sets,
and D, the union of the query sets that psi reads."""

from __future__ import annotations

import time

import numpy as np
import torch

from dra.errors import DraError
from dra.methods.base import external_pool
from dra.nets.augment import cutmix_plan, jitter_pixels, normalize, paste, to_float, uniform
from dra.nets.augment_draem import draem_pseudo, synthetic_texture
from dra.nets.backbone import pyramid
from dra.progress import Meter, duration, say

GENERATORS = ("cutpaste", "cutmix", "draem")  # same-image paste, paste from another normal, Perlin blend


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


class EpisodeSet:
    """One support or query set: row numbers into the feature bank of its normal items (label 0), its
    seen anomalies (1) and its pseudo items (2), and the generator of its pseudo anomalies."""

    def __init__(self, normal: torch.Tensor, anomaly: torch.Tensor, pseudo: torch.Tensor, generator: int,
                 cluster: np.ndarray):
        self.normal, self.anomaly, self.pseudo = normal, anomaly, pseudo
        self.generator, self.cluster = generator, cluster


class FeatureBank:
    """The part of AHL that encodes the bank and makes the episodes on it."""

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
            if p["texture_source"] != "synthetic":
                tex = to_float(self.draw(external_pool(data, "textures"), 1))[0]
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
        n, m = len(data.normal), len(data.anomaly)
        meter = Meter("AHL feature bank", n + m + len(GENERATORS) * n, "images",
                      f" through the frozen trunk at {p['scales']} scales: {n:,} normals, {m} labeled anomalies and "
                      f"a pseudo-anomalous copy of each normal per generator ({', '.join(GENERATORS)})")
        parts: list[list[torch.Tensor]] = []
        for pool in (data.normal, data.anomaly):
            for start in range(0, len(pool), bs):
                idx = torch.arange(start, min(start + bs, len(pool)))
                parts.append(self.encode(to_float(pool[idx]), rot_all))
                meter.advance(len(idx))
        for kind in GENERATORS:
            for start in range(0, len(data.normal), bs):
                idx = torch.arange(start, min(start + bs, len(data.normal)))
                x = self.pseudo_images(kind, to_float(data.normal[idx]), idx, data)
                parts.append(self.encode(x, True))
                meter.advance(len(idx))
        meter.finish()
        self.bank = [torch.cat([part[s] for part in parts]) for s in range(p["scales"])]
        self.n_normal, self.n_anomaly = len(data.normal), len(data.anomaly)

    def pseudo_rows(self, generator: int, normal_rows: torch.Tensor) -> torch.Tensor:
        return self.n_normal + self.n_anomaly + generator * self.n_normal + normal_rows

    def make_clusters(self) -> None:
        from sklearn.cluster import KMeans

        p = self.params
        flat = self.bank[0][:self.n_normal].flatten(1).float().cpu().numpy()
        if len(flat) < p["clusters"]:
            raise DraError(f"AHL: {len(flat)} train normals, fewer than the {p['clusters']} clusters")
        say(f"AHL k-means: {len(flat):,} normals x {flat.shape[1]:,} features into {p['clusters']} clusters, "
            f"{p['kmeans_n_init']} restarts")
        t0 = time.perf_counter()
        km = KMeans(n_clusters=p["clusters"], random_state=self.seed, n_init=p["kmeans_n_init"]).fit(flat)
        self.cluster_labels = km.labels_.astype(np.int64)
        members = [np.flatnonzero(self.cluster_labels == c) for c in range(p["clusters"])]  # by index (gap 3)
        say(f"AHL k-means: done in {duration(time.perf_counter() - t0)}, cluster sizes {[len(c) for c in members]}")
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
