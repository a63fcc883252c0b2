import json

import pytest

from dra.data.manifest import read_manifest
from dra.errors import DraError
from dra.data.splits import labeled, make_split, write_split
from dra.plan.runkey import hard_class


@pytest.fixture(scope="module")
def weave(world):
    return read_manifest(world.manifests["weave"])


def test_general_split_properties(weave):
    s = make_split(weave, None, seed=0)
    assert len(s["anomalies"]) == 10
    assert len(set(s["anomalies"])) == 10
    test = set(s["test"])
    assert not test & set(s["anomalies"]) and not test & set(s["train_normal"])
    # every normal test image and every unlabeled anomaly is tested
    n_test_normal = int(((weave.label == 0) & (weave.split == "test")).sum())
    assert len(test) == n_test_normal + int(weave.label.sum()) - 10


def test_one_shot_anomaly_is_first_of_the_ten_and_shares_the_test_set(weave):
    s = make_split(weave, None, seed=1)
    assert labeled(s, 1) == s["anomalies"][:1]
    assert set(labeled(s, 1)) <= set(labeled(s, 10))
    # both shot counts read the same split file, hence the same test set (the ten-shot one)
    assert not set(labeled(s, 10)) & set(s["test"])


def test_seeds_draw_differently_and_reproducibly(weave):
    a, b = make_split(weave, None, 0), make_split(weave, None, 1)
    assert a["anomalies"] != b["anomalies"]
    assert make_split(weave, None, 0) == a


def test_hard_setting_removes_its_class_from_the_test_set(weave):
    s = make_split(weave, "spot", seed=0)
    cls = dict(zip(weave.path, weave.anomaly_class))
    assert {cls[p] for p in s["anomalies"]} == {"spot"}
    tested = {cls[p] for p in s["test"]}
    assert "spot" not in tested and {"scratch", "stain"} <= tested


def test_unknown_class_is_an_error(weave):
    with pytest.raises(DraError, match="'nosuch'.*expected one of \\['scratch', 'spot', 'stain'\\]"):
        make_split(weave, "nosuch", seed=0)


def test_bad_setting_and_too_many_anomalies(weave):
    with pytest.raises(DraError, match="expected 'general', 'hard-<anomaly class>'"):
        hard_class("easy")  # the run key owns the setting grammar; a split takes the class it names
    spots = int((weave.anomaly_class == "spot").sum())
    with pytest.raises(DraError, match=f"which has only {spots}$"):
        make_split(weave, "spot", seed=0, n_labeled=spots + 1)
    with pytest.raises(DraError, match="at most half"):
        make_split(weave, None, seed=0, n_labeled=int(weave.label.sum()) // 2 + 1)


def test_written_split_records_manifest_digest_and_is_identical_twice(world, tmp_path):
    a = write_split(world.manifests["weave"], "general", None, 2, tmp_path / "a.json", "demo", "weave")
    write_split(world.manifests["weave"], "general", None, 2, tmp_path / "b.json", "demo", "weave")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    on_disk = json.loads((tmp_path / "a.json").read_text())
    assert on_disk["manifest_sha256"] == a["manifest_sha256"] and len(a["manifest_sha256"]) == 64
    assert set(on_disk) >= {"train_normal", "anomalies", "test", "setting", "seed"}
