"""No image is trusted blindly: the paper's normal split on the genuine counts, duplicates by content,
validated manifests, empty folders, checkpoints that are data, files others can read."""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import rawlayouts as rl
from dra.cli import main
from dra.data.base import Item, split_normals
from dra.data.cache import build_cache
from dra.data.images import load_rgb
from dra.data.manifest import read_manifest
from dra.data.prepare import prepare_subset
from dra.errors import DraError
from dra.data.splits import make_split


def distinct(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w), dtype=np.uint8)


def write_kaggle_brainmri(root: Path, n_normal: int = 98, n_tumor: int = 155, twins: int = 0) -> Path:
    """The Kaggle folder `brain_tumor_dataset/{no,yes}` with mixed-case extensions; the last `twins`
    tumours are byte-identical copies of the first ones (as the genuine folder has)."""
    base = root / "brain_tumor_dataset"
    exts = [(".jpg", "JPEG"), (".JPG", "JPEG"), (".jpeg", "JPEG"), (".png", "PNG")]
    for i in range(n_normal):
        ext, fmt = exts[i % 4]
        rl.save(distinct(6, 7, i), base / "no" / f"no {i}{ext}", fmt=fmt)
    for i in range(n_tumor - twins):
        ext, fmt = exts[i % 4]
        rl.save(distinct(6, 7, 1000 + i), base / "yes" / f"Y{i}{ext}", fmt=fmt)
    for k in range(twins):
        src = sorted((base / "yes").iterdir())[k]
        (base / "yes" / f"Z{k}{src.suffix}").write_bytes(src.read_bytes())
    return root


# --- 1. the normal split as the paper made it ------------------------------------------------------

def test_genuine_brainmri_counts_prepare_with_the_check_on(tmp_path, capsys):
    write_kaggle_brainmri(tmp_path / "raw")
    manifest = prepare_subset("brainmri", tmp_path / "raw", tmp_path / "out", "brainmri", check=True)
    df = read_manifest(manifest)
    assert ((df.label == 0) & (df.split == "train")).sum() == 73
    assert ((df.label == 0) & (df.split == "test")).sum() == 25
    assert (df.label == 1).sum() == 155
    err = capsys.readouterr().err  # the summary: counts beside the paper's
    assert "train  normal" in err and " 73      73" in err and " 25      25" in err and "155     155" in err


@pytest.mark.parametrize("n", [98, 100, 1508, 21])
def test_the_normal_split_puts_ceil_of_a_quarter_in_the_test_set(n):
    items = [Item(f"{i}.png", "", f"src/{i:05d}.png") for i in range(n)]
    split_normals(items, seed=42)
    assert sum(it.split == "test" for it in items) == math.ceil(0.25 * n)
    again = [Item(f"{i}.png", "", f"src/{i:05d}.png") for i in reversed(range(n))]
    split_normals(again, seed=42)  # over the sorted list: the input order does not matter
    assert {it.source for it in items if it.split == "test"} == {it.source for it in again if it.split == "test"}


def test_a_count_mismatch_names_the_numbers_the_flag_and_the_config_key(tmp_path):
    write_kaggle_brainmri(tmp_path / "raw", n_normal=97)
    with pytest.raises(DraError) as e:
        prepare_subset("brainmri", tmp_path / "raw", tmp_path / "out", "brainmri", check=True)
    msg = str(e.value)
    assert "train normal: expected 73, found 72" in msg and "--no-check-counts" in msg and "check_counts: false" in msg
    assert "miniature" not in msg.split("(a subset or a miniature)")[0]  # the user's data is not called one
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --- 2. leakage by content -------------------------------------------------------------------------

def test_the_same_bytes_as_train_normal_and_test_anomaly_are_refused_naming_both(tmp_path):
    raw = tmp_path / "raw" / "s"
    for split in ("train", "test"):
        for i in range(3):
            rl.save(distinct(8, 8, 10 * (split == "test") + i), raw / split / "good" / f"{i}.png")
    (raw / "test" / "crack").mkdir(parents=True)
    (raw / "test" / "crack" / "planted.png").write_bytes((raw / "train" / "good" / "1.png").read_bytes())
    rl.save(distinct(8, 8, 99), raw / "test" / "crack" / "real.png")
    with pytest.raises(DraError, match=r"train/good/1\.png \(normal\) and .*test/crack/planted\.png \(anomaly"):
        prepare_subset("mine", tmp_path / "raw", tmp_path / "out", "s", layout="mvtec")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_conflicting_headct_labels_are_refused_naming_the_line(tmp_path):
    rl.write_headct(tmp_path / "raw")
    with open(tmp_path / "raw" / "labels.csv", "a") as f:
        f.write("2,1\n")  # id 2 is a normal on line 4
    with pytest.raises(DraError, match=r"labels\.csv, line 10: id 2 is listed with two different labels \(line 4"):
        prepare_subset("headct", tmp_path / "raw", tmp_path / "out", "headct", check=False)


def test_byte_identical_tumours_are_reported_and_a_labeled_anomalys_twin_is_never_tested(tmp_path, capsys):
    write_kaggle_brainmri(tmp_path / "raw", n_normal=20, n_tumor=30, twins=6)
    manifest = prepare_subset("brainmri", tmp_path / "raw", tmp_path / "out", "brainmri", check=False)
    err = capsys.readouterr().err
    assert "byte-identical images: 6 groups (6 anomaly, class tumor)" in err
    df = read_manifest(manifest)
    marked = df[df.duplicate_group != ""]
    assert len(marked) == 12 and marked.groupby("duplicate_group").size().eq(2).all()
    sha = dict(zip(df.path, df.sha256))
    removed = 0
    for seed in range(12):
        s = make_split(df, None, seed)
        tested = {sha[p] for p in s["test"]}
        assert not tested & {sha[p] for p in s["anomalies"]}, seed
        removed += len(s["test_removed_twins"])
        for p in s["test_removed_twins"]:
            assert sha[p] in {sha[q] for q in s["anomalies"]}
    assert removed > 0  # the twins were there to be removed


def test_the_split_refuses_a_manifest_whose_test_image_has_a_labeled_anomalys_bytes(world, tmp_path):
    df = read_manifest(world.manifests["weave"])
    s = make_split(df, None, 0)
    edited = df.copy()
    normal_test = edited.index[(edited.label == 0) & (edited.split == "test")][0]
    edited.loc[normal_test, "sha256"] = edited.set_index("path").loc[s["anomalies"][0], "sha256"]
    with pytest.raises(DraError, match="byte-identical"):
        make_split(edited, None, 0, where="edited")


# --- 3. the manifest is validated wherever it is read ---------------------------------------------

@pytest.fixture
def small_prepared(tmp_path):
    rl.write_elpv(tmp_path / "raw")
    return prepare_subset("elpv", tmp_path / "raw", tmp_path / "out", "elpv", check=False)


@pytest.mark.parametrize("column, value, match", [
    ("path", "../../x.png", r"row 3: path '\.\./\.\./x\.png' leaves the manifest's folder"),
    ("path", "/etc/passwd", r"row 3: path '/etc/passwd'; expected a path relative"),
    ("label", "7", r"row 3: label '7'; expected 0 \(normal\) or 1 \(anomaly\)"),
    ("split", "val", r"row 3: split 'val'; expected train or test"),
    ("anomaly_class", "", r"row 3: anomaly_class '' with label 1"),
])
def test_a_bad_manifest_row_is_refused_naming_the_row(small_prepared, column, value, match):
    df = pd.read_csv(small_prepared, dtype=str, keep_default_na=False)
    row = int(df.index[df.label == "1"][0]) if column == "anomaly_class" else 1
    if column == "anomaly_class":
        df = pd.concat([df.iloc[:1], df.iloc[[row]], df.drop(index=[0, row])]).reset_index(drop=True)
        row = 1
    df.loc[row, column] = value
    df.to_csv(small_prepared, index=False)
    with pytest.raises(DraError, match=match):
        read_manifest(small_prepared)
    for stage in (["split", "--manifest", str(small_prepared), "--setting", "general", "--seed", "0", "--out",
                   str(small_prepared.parent / "s.json")],
                  ["cache", "--manifest", str(small_prepared), "--size", "16", "--out",
                   str(small_prepared.parent / "c.npy")]):
        assert main(stage) == 1


def test_a_changed_image_is_refused_by_the_cache_naming_the_row(small_prepared, capsys):
    df = read_manifest(small_prepared)
    target = small_prepared.parent / df.path.iloc[2]
    rl.save(distinct(20, 20, 4242), target)  # the file changed after prepare
    assert main(["cache", "--manifest", str(small_prepared), "--size", "16", "--out",
                 str(small_prepared.parent / "c.npy")]) == 1
    err = capsys.readouterr().err
    assert "row 4" in err and df.path.iloc[2] in err and "changed after prepare" in err
    assert not (small_prepared.parent / "c.npy").exists()


# --- 4. empty folders -------------------------------------------------------------------------------

@pytest.mark.parametrize("folder", ["train/good", "test/good"])
def test_an_empty_normal_folder_is_refused_at_prepare_naming_it(tmp_path, folder):
    raw = tmp_path / "raw" / "s"
    for f in ("train/good", "test/good"):
        (raw / f).mkdir(parents=True)
        if f != folder:
            rl.save(distinct(8, 8, 1), raw / f / "a.png")
    rl.save(distinct(8, 8, 2), raw / "test" / "crack" / "b.png")
    with pytest.raises(DraError, match=rf"s/{folder}: folder of normal .* holds no images"):
        prepare_subset("mine", tmp_path / "raw", tmp_path / "out", "s", layout="mvtec")


def test_an_empty_normal_split_of_a_non_mvtec_dataset_is_refused(tmp_path):
    write_kaggle_brainmri(tmp_path / "raw", n_normal=0, n_tumor=4)
    (tmp_path / "raw" / "brain_tumor_dataset" / "no").mkdir()
    with pytest.raises(DraError, match="no train normal images"):
        prepare_subset("brainmri", tmp_path / "raw", tmp_path / "out", "brainmri", check=False)


def test_an_empty_anomaly_class_folder_is_named_in_the_summary(tmp_path, capsys):
    raw = tmp_path / "raw" / "s"
    for f in ("train/good", "test/good", "test/crack"):
        rl.save(distinct(8, 8, hash(f) % 1000), raw / f / "a.png")
    (raw / "test" / "hole").mkdir()
    prepare_subset("mine", tmp_path / "raw", tmp_path / "out", "s", layout="mvtec")
    assert "anomaly class folder 'hole' holds no images" in capsys.readouterr().err


# --- 7. smaller ones --------------------------------------------------------------------------------

def test_sixteen_bit_images_are_scaled_by_their_bit_depth(tmp_path):
    from PIL import Image

    a = np.full((4, 4), 4096, dtype=np.uint16)  # a dark 16-bit image: 1/16 of full scale
    Image.fromarray(a).save(tmp_path / "dark.png")
    got = load_rgb(tmp_path / "dark.png")
    assert got.shape == (4, 4, 3) and (got == round(4096 * 255 / 65535)).all()  # 16, not 255


def test_re_encoded_images_are_named_png_and_sdd_masks_match_without_case(tmp_path):
    raw = tmp_path / "raw" / "s"
    for f in ("train/good", "test/good"):
        rl.save(distinct(8, 8, len(f)), raw / f / "a.png")
    rl.save(np.dstack([distinct(8, 8, 7)] * 3), raw / "test" / "crack" / "b.jpg", fmt="JPEG")
    rl.save(distinct(8, 8, 8), raw / "test" / "crack" / "c.tif", fmt="TIFF")
    df = read_manifest(prepare_subset("mine", tmp_path / "raw", tmp_path / "out", "s", layout="mvtec"))
    assert sorted(df.path[df.label == 1]) == ["test/crack/b.jpg.png", "test/crack/c.tif.png"]
    for p in df.path:
        assert (tmp_path / "out" / "s" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rl.write_sdd(tmp_path / "sdd")
    label = tmp_path / "sdd" / "KolektorSDD" / "kos01" / "Part0_label.bmp"
    label.rename(label.with_name("part0_LABEL.BMP"))
    df = read_manifest(prepare_subset("sdd", tmp_path / "sdd", tmp_path / "sddout", "sdd", check=False))
    assert "test/defect/kos01_Part0_2.png" in set(df.path)


def test_outputs_are_readable_by_others_under_umask_022(tmp_path):
    old = os.umask(0o022)
    try:
        rl.write_elpv(tmp_path / "raw")
        manifest = prepare_subset("elpv", tmp_path / "raw", tmp_path / "out", "elpv", check=False)
        build_cache(manifest, 16, tmp_path / "cache" / "16.npy")
        for p in (manifest, manifest.parent, tmp_path / "cache" / "16.npy", tmp_path / "cache" / "16.masks.npy",
                  tmp_path / "cache" / "16.json"):
            assert p.stat().st_mode & 0o044 == 0o044, (p, oct(p.stat().st_mode))
    finally:
        os.umask(old)


# --- 5. checkpoints are data, never code -------------------------------------------------------------

class Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's, about the planted file
def test_a_planted_pickle_checkpoint_does_not_run_and_the_run_starts_over(world, tmp_path, capsys):
    from dra.run.train import train_run

    spec = world.spec("devnet", epochs=1, iterations=2, batch_normal=4, batch_anomaly=4)
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "pwned"
    with open(out / "checkpoint.pt", "wb") as f:
        pickle.dump({"key": "x", "model": Planted(marker)}, f)
    info = train_run(spec, world.files(), out, device="cpu")
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "checkpoint.pt: cannot be read as a checkpoint" in err and "starts over" in err
    assert info["resumed_from"] is None
    # a torn file (a checkpoint cut short) is discarded the same way, never a raw torch error
    (out / "metrics.json").unlink()
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 torn")
    train_run(spec, world.files(), out, device="cpu")
    assert "discarded" in capsys.readouterr().err


# --- 8. the balanced sampler as the authors' code draws it ------------------------------------------

def test_every_labeled_anomaly_appears_once_per_cycle_of_the_permutation():
    from methods_fixtures import easy_data, tiny_spec
    from dra.run.train import Trainer

    data = easy_data(n_normal=20, n_labeled=10)
    for variant in ("dra", "devnet"):
        spec = tiny_spec(variant, {"batch_normal": 8, "batch_anomaly": 16})
        model = Trainer(spec, data, Path("unused"), torch.device("cpu")).model
        sampler = model.samplers["anomaly"]
        drawn = torch.cat([sampler.take(16) for _ in range(100)]).tolist()
        for c in range(len(drawn) // 10):  # each run of ten draws is one permutation of the ten
            assert sorted(drawn[10 * c:10 * c + 10]) == list(range(10)), (variant, c)
        per_batch = [len(set(drawn[16 * b:16 * b + 16])) for b in range(100)]
        assert min(per_batch) >= 9  # drawn with replacement: about 8 of 10 on average
        normals = torch.cat([model.samplers["normal"].take(8) for _ in range(5)]).tolist()
        assert sorted(normals[:20]) == list(range(20))
