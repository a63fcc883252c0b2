"""The real-data test: ELPV from the installed `elpv-dataset` package, prepared once per session with
the paper's count check ON, then split in every setting the paper uses for it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dra.cli import main
from dra.data.manifest import read_manifest, subset_counts
from dra.data.manifest import COLUMNS
from dra.data.splits import check_leakage, labeled, make_split, write_split
from dra.plan.runkey import hard_class

pytest.importorskip("elpv_dataset")

SETTINGS = ("general", "hard-mono", "hard-poly")
SEEDS = (0, 1, 2)


@pytest.fixture(scope="session")
def elpv_manifest(tmp_path_factory):
    out = tmp_path_factory.mktemp("elpv_real")
    # no --raw: the installed package is read; count check on (no --no-check-counts)
    assert main(["prepare", "elpv", "--out", str(out)]) == 0
    return out / "elpv" / "manifest.csv"


def test_counts_match_the_paper(elpv_manifest):
    counts = subset_counts(read_manifest(elpv_manifest))
    assert counts == {"train_normal": 1131, "test_normal": 377, "anomalies": {"mono": 313, "poly": 402}}


def test_every_image_is_there_once(elpv_manifest):
    df = read_manifest(elpv_manifest)
    assert len(df) == 1131 + 377 + 715
    assert df.path.is_unique and df.source.is_unique
    assert all((elpv_manifest.parent / p).is_file() for p in df.path)
    assert (df[df.label == 1].split == "test").all()


@pytest.mark.parametrize("setting", SETTINGS)
def test_splits_have_no_leakage_and_are_reproducible(elpv_manifest, tmp_path, setting):
    df = read_manifest(elpv_manifest)
    by_path = df.set_index("path")
    for seed in SEEDS:
        a = write_split(elpv_manifest, setting, hard_class(setting), seed, tmp_path / f"{seed}a.json", "elpv", "elpv")
        b = write_split(elpv_manifest, setting, hard_class(setting), seed, tmp_path / f"{seed}b.json", "elpv", "elpv")
        assert (tmp_path / f"{seed}a.json").read_bytes() == (tmp_path / f"{seed}b.json").read_bytes()
        assert a == json.loads((tmp_path / f"{seed}a.json").read_text())
        check_leakage(a, dict(zip(df.path, df.sha256)), set(df.path[df.label == 1]))
        test = set(a["test"])
        for shots in (1, 10):
            seen = labeled(a, shots)
            assert len(seen) == shots and not test.intersection(seen)
            assert (by_path.loc[seen, "label"] == 1).all()
        assert labeled(a, 1) == a["anomalies"][:1]
        assert not test.intersection(a["train_normal"])
        assert len(a["train_normal"]) == 1131
        cls = hard_class(setting)
        if cls is not None:
            assert set(by_path.loc[a["anomalies"], "anomaly_class"]) == {cls}
            assert not (by_path.loc[sorted(test), "anomaly_class"] == cls).any()  # unseen classes only
            other = {"mono": "poly", "poly": "mono"}[cls]
            assert (by_path.loc[sorted(test), "anomaly_class"] == other).sum() == {"mono": 313, "poly": 402}[other]
        else:
            assert len(test) == 377 + 715 - 10
    # different seeds draw different anomalies
    draws = {tuple(make_split(df, hard_class(setting), s)["anomalies"]) for s in SEEDS}
    assert len(draws) == len(SEEDS)


def test_manifest_reads_back_as_written(elpv_manifest):
    df = pd.read_csv(elpv_manifest, keep_default_na=False)
    assert list(df.columns) == COLUMNS
    assert set(df.anomaly_class) == {"", "mono", "poly"}
