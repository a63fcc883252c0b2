"""Uncertainty of the tables' claims (torch-free, vectorised): bootstrap intervals of a cell's AUROC,
paired bootstrap differences within a row, and the Friedman test with Nemenyi post-hoc comparisons
over a table's rows (docs/protocol.md, "Uncertainty").

The bootstrap is stratified and hierarchical. A cell's value is the mean over seeds (of the mean over
its member rows, for a mean row) of each run's AUROC. A replicate draws, independently per test set,
every stratum of test images (the normals, and each anomaly class) with replacement at its own size,
so each replicate keeps the test set's composition; where a cell has several seeds it also draws the
seeds with replacement. Every run on one test set (the same dataset, subset, setting and seed: all
variants and shot counts) sees the same image draws and every cell of one row the same seed draws,
so two methods are compared on identical resamples (the paired bootstrap). Draws are seeded from the
test set's and the row's identity: the same inputs give the same intervals, bit for bit.

A replicate's AUROC is computed from resampling counts, not by resampling and re-sorting: with the
normals' scores sorted once, the count-weighted number of normals below each anomaly is a cumulative
sum, so B replicates cost O(B n) for a test set of n images."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

B = 1000        # replicates per interval
LEVEL = 0.95    # two-sided
ALPHA = 0.05    # Friedman and Nemenyi


def seed_of(*identity) -> int:
    """A 64-bit seed from a tuple of names and numbers (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(repr(tuple(identity)).encode()).digest()[:8], "little")


def resample_counts(rng: np.random.Generator, size: int, b: int = B) -> np.ndarray:
    """b x size counts: how often each of `size` items is drawn in each of b draws of `size` with
    replacement."""
    if size == 0:
        return np.zeros((b, 0), dtype=np.int64)
    picks = rng.integers(0, size, size=(b, size)) + size * np.arange(b)[:, None]
    return np.bincount(picks.ravel(), minlength=b * size).reshape(b, size)


def stratified_counts(strata: np.ndarray, seed: int, b: int = B) -> np.ndarray:
    """b x n resampling counts of n images, each stratum (a code per image) drawn within itself."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((b, len(strata)), dtype=np.int64)
    for s in np.unique(strata):  # sorted: the draw order is fixed
        where = np.flatnonzero(strata == s)
        counts[:, where] = resample_counts(rng, len(where), b)
    return counts


def below_normals(s0: np.ndarray, s1: np.ndarray, w0: np.ndarray) -> np.ndarray:
    """b x n1: for each replicate and anomaly, the count-weighted number of normals scoring below it
    (ties count half)."""
    order = np.argsort(s0, kind="stable")
    sorted0 = s0[order]
    cum = np.zeros((w0.shape[0], len(s0) + 1))
    np.cumsum(w0[:, order], axis=1, out=cum[:, 1:])
    lt = np.searchsorted(sorted0, s1, side="left")
    le = np.searchsorted(sorted0, s1, side="right")
    return (cum[:, lt] + cum[:, le]) / 2.0


def weighted_auroc(scores: np.ndarray, labels: np.ndarray, counts: np.ndarray,
                   groups: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """AUROC under each row of `counts` (b x n resampling counts; all ones: the plain AUROC), and per
    group of anomalies (a boolean mask over the anomalies, e.g. one class) that group against all
    normals."""
    normal, anomaly = labels == 0, labels == 1
    return _auroc(scores[normal], scores[anomaly], counts[:, normal].astype(np.float64),
                  counts[:, anomaly].astype(np.float64), groups)


def _auroc(s0, s1, w0, w1, groups) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    h = below_normals(s0, s1, w0) * w1
    n0 = w0.sum(axis=1)
    whole = h.sum(axis=1) / (n0 * w1.sum(axis=1))
    parts = {g: h[:, m].sum(axis=1) / (n0 * w1[:, m].sum(axis=1)) for g, m in (groups or {}).items()}
    return whole, parts


def interval(replicates: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates."""
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(replicates, [tail, 100 - tail])
    return float(lo), float(hi)


# --- a table's runs on their test sets ------------------------------------------------------------


@dataclass(frozen=True)
class RunScores:
    """One run's test scores: ids (its test images), labels, anomaly classes, scores."""
    ids: np.ndarray
    labels: np.ndarray
    classes: np.ndarray
    scores: np.ndarray


def test_set_key(ids: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> str:
    """The identity of a test set's content (which images, with which labels and classes)."""
    h = hashlib.sha256()
    for part in (ids, labels.astype(str), classes):
        h.update("\0".join(map(str, part)).encode() + b"\1")
    return h.hexdigest()


class Replicates:
    """Bootstrap replicates of every run's AUROC and per-class AUROC, from runs keyed by their six
    words (variant, dataset, subset, setting, shots, seed)."""

    def __init__(self, runs: dict[tuple, RunScores], b: int = B):
        self.b = b
        self.auroc: dict[tuple, np.ndarray] = {}
        self.classes: dict[tuple, dict[str, np.ndarray]] = {}
        self.test_set: dict[tuple, str] = {}  # run -> the identity of the test set it was scored on
        by_test: dict[tuple, list[tuple]] = {}
        for key, r in runs.items():
            by_test.setdefault(key[1:4] + (key[5],), []).append(key)  # dataset, subset, setting, seed
        for (d, s, st, seed), keys in sorted(by_test.items()):
            self._add(d, s, st, seed, {k: runs[k] for k in sorted(keys)})

    def _add(self, d, s, st, seed, runs: dict[tuple, RunScores]):
        prepared = {}
        for key, r in runs.items():
            order = np.argsort(r.ids, kind="stable")
            ids, labels, classes = r.ids[order], r.labels[order], r.classes[order]
            tkey = test_set_key(ids, labels, classes)
            prepared.setdefault(tkey, (ids, labels, classes, []))[3].append((key, r.scores[order]))
        for tkey, (ids, labels, classes, members) in sorted(prepared.items()):
            strata = np.array([f"{y}:{c if y == 1 else ''}" for y, c in zip(labels, classes)])  # normals; each class
            counts = stratified_counts(strata, seed_of("test set", d, s, st, seed, tkey), self.b)
            normal, anomaly = labels == 0, labels == 1
            w0, w1 = counts[:, normal].astype(np.float64), counts[:, anomaly].astype(np.float64)  # shared
            groups = {c: classes[anomaly] == c for c in sorted(set(classes[anomaly]))}
            for key, scores in members:
                self.auroc[key], self.classes[key] = _auroc(scores[normal], scores[anomaly], w0, w1, groups)
                self.test_set[key] = tkey

    def paired(self, a: tuple, b: tuple) -> bool:
        """Whether two runs were scored on the same test images (and so share their resamples)."""
        return a in self.test_set and self.test_set.get(a) == self.test_set.get(b)


def seed_draws(row: tuple, seeds: tuple[int, ...], b: int = B) -> np.ndarray:
    """b x len(seeds) positions into `seeds`, drawn with replacement (one seed: always itself)."""
    if len(seeds) == 1:
        return np.zeros((b, 1), dtype=np.int64)
    rng = np.random.default_rng(seed_of("seeds", *row, *seeds))
    return rng.integers(0, len(seeds), size=(b, len(seeds)))


def cell_replicates(reps: dict[tuple, np.ndarray], variant: str, shots: int, row: tuple,
                    members: list[tuple], seeds: tuple[int, ...], b: int = B) -> np.ndarray | None:
    """Replicates of a cell's value: per seed the mean over member rows, then the mean over seeds
    drawn with replacement. None when a member run lacks replicates."""
    per_seed = []
    for k in seeds:
        each = [reps.get((variant, *m, shots, k)) for m in members]
        if any(e is None for e in each):
            return None
        per_seed.append(np.mean(each, axis=0))
    per_seed = np.asarray(per_seed)  # seeds x b
    draws = seed_draws(row, seeds, b)
    return per_seed[draws, np.arange(b)[:, None]].mean(axis=1)


# --- ranking over a table's rows ------------------------------------------------------------------


@dataclass
class Ranking:
    """A Friedman test over rows (blocks) of methods, with Nemenyi's post-hoc p-values."""
    metric: str
    shots: int
    rows: int
    ranks: pd.Series          # average rank per method (1: best)
    statistic: float
    p_value: float
    nemenyi: pd.DataFrame     # method x method p-values
    cd: float                 # Nemenyi's critical difference of average ranks at ALPHA


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of average ranks for k methods over n rows (Demsar 2006):
    q_alpha sqrt(k (k + 1) / (6 n)), q_alpha the studentized range quantile over sqrt(2)."""
    q = sps.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6.0 * n)))


def friedman(wide: pd.DataFrame, metric: str, shots: int) -> Ranking | None:
    """The ranking of `wide`'s columns (methods) over its rows, higher values better; None where a
    ranking cannot be tested (fewer than three methods or two complete rows)."""
    wide = wide.dropna()
    k, n = wide.shape[1], wide.shape[0]
    if k < 3 or n < 2:
        return None
    import scikit_posthocs as sp  # statsmodels underneath: imported only where a ranking is made

    ranks = wide.rank(axis=1, ascending=False).mean()
    stat, p = sps.friedmanchisquare(*[wide[c].to_numpy() for c in wide.columns])
    nemenyi = sp.posthoc_nemenyi_friedman(wide.to_numpy())
    nemenyi.index = nemenyi.columns = list(wide.columns)
    return Ranking(metric, int(shots), n, ranks, float(stat), float(p), nemenyi, critical_difference(k, n))


def rankings(df: pd.DataFrame) -> list[Ranking]:
    """Per metric and shot count of a table's cells (mean rows left out), the Friedman ranking."""
    base = df[(df.subset != "mean") & (df.setting != "hard-mean") & (df.n > 0)]
    out = []
    for (metric, shots), g in base.groupby(["metric", "shots"], sort=True):
        wide = g.pivot_table(index=["dataset", "subset", "setting"], columns="variant", values="mean", sort=False)
        wide = wide[[v for v in dict.fromkeys(g.variant) if v in wide.columns]]  # the table's column order
        r = friedman(wide, metric, shots)
        if r is not None:
            out.append(r)
    return out


def rankings_frame(rs: list[Ranking], labels: dict | None = None) -> pd.DataFrame:
    """One row per ranking: the Friedman test and the critical difference; methods best first."""
    labels = labels or {}
    return pd.DataFrame([{"metric": r.metric, "shots": r.shots, "rows": r.rows, "methods": len(r.ranks),
                          "chi2": r.statistic, "p_value": r.p_value, "critical_difference": r.cd,
                          "order": ", ".join(f"{labels.get(v, v)} ({x:.2f})" for v, x in r.ranks.sort_values().items())}
                         for r in rs],
                        columns=["metric", "shots", "rows", "methods", "chi2", "p_value", "critical_difference", "order"])
