"""Each dataset's original layout, in miniature, through `prepare`: exactly the expected images,
labels and classes (count check off: a miniature has not the paper's numbers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import rawlayouts as rl
from dra.cli import main
from dra.data.archive import extract_all
from dra.data.prepare import prepare_subset

def prepare(name, raw, out, subset=None):
    path = prepare_subset(name, raw, out, subset or name, check=False)
    df = pd.read_csv(path, keep_default_na=False)
    return path.parent, df


def anomalies(df):
    a = df[df.label == 1]
    return {p.split("/")[-1]: c for p, c in zip(a.path, a.anomaly_class)}


def normals(df):
    return df[df.label == 0]


def check_layout(root, df):
    """Every row's file exists where the uniform layout says, and its hash is recorded."""
    for _, r in df.iterrows():
        want = f"{r.split}/good" if r.label == 0 else f"test/{r.anomaly_class}"
        assert r.path.rsplit("/", 1)[0] == want
        assert (root / r.path).is_file()
        assert len(r.sha256) == 64
    assert set(df.split) <= {"train", "test"}
    assert (df[df.label == 1].split == "test").all()


def test_aitex_from_its_7z_archives(tmp_path, capsys):
    pytest.importorskip("py7zr")
    archives = rl.write_aitex_archives(tmp_path / "raw", tmp_path / "scratch")
    extracted = extract_all(archives, tmp_path / "raw" / "extracted")
    root, df = prepare("aitex", extracted, tmp_path / "out")
    want = rl.write_aitex(tmp_path / "unused")
    assert anomalies(df) == {n: c for n, (c, _) in want["anomalies"].items()}
    assert len(normals(df)) == want["normals"] == 32  # 2 defect-free strips x 16 patches
    # the defect strips give no normal patch at all
    assert not normals(df).source.str.startswith("Defect_images").any()
    assert normals(df).source.str.startswith("NODefect_images").all()
    # 75/25 split of the 32 normal patches
    assert (normals(df).split == "test").sum() == 8
    # the patch is the right piece of the strip: patch k holds the value 10k+5 (plus noise below 3)
    for name, (cls, k) in want["anomalies"].items():
        a = np.asarray(Image.open(root / "test" / cls / name))
        assert a.shape == (256, 256, 3) and ((a >= 10 * k + 5) & (a < 10 * k + 8)).all()
    # equal strip names in two fabric folders stay distinct
    assert sum("0001_000_05_p00" in p for p in normals(df).path) == 2
    # the known missing mask: skipped, and said so on stderr
    err = capsys.readouterr().err
    assert "0100_025_08" in err and "warning" in err


def test_aitex_accepts_a_hand_extracted_folder(tmp_path):
    rl.write_aitex(tmp_path / "raw", wrap_defects=False)
    _, df = prepare("aitex", tmp_path / "raw", tmp_path / "out")
    assert sorted(anomalies(df).values()) == ["Broken_end", "Fuzzyball", "Fuzzyball"]


def test_sdd_from_its_zip(tmp_path):
    want = rl.write_sdd(tmp_path / "scratch")
    archive = rl.zip_folder(tmp_path / "scratch", tmp_path / "raw" / "KolektorSDD.zip")
    extracted = extract_all([archive], tmp_path / "raw" / "extracted")
    root, df = prepare("sdd", extracted, tmp_path / "out")
    assert anomalies(df) == {n: "defect" for n in want["anomalies"]}
    assert len(normals(df)) == want["normals"]
    # kos01/Part0: defect rows only in its bottom third -> one anomaly, two normals
    part0 = df[df.path.str.contains("kos01_Part0")]
    assert sorted(part0.label) == [0, 0, 1]
    for t, h in want["heights"].items():
        p = next(iter(df.path[df.path.str.endswith(f"kos01_Part1_{t}.png")]))
        assert np.asarray(Image.open(root / p)).shape[:2] == (h, 12)
    check_layout(root, df)


def test_elpv_layout(tmp_path):
    want = rl.write_elpv(tmp_path / "raw")
    root, df = prepare("elpv", tmp_path / "raw", tmp_path / "out")
    assert anomalies(df) == want["anomalies"]
    assert {p.split("/")[-1] for p in normals(df).path} == want["normals"]
    assert (normals(df).split == "test").sum() == 1  # round(4 * 0.25)
    check_layout(root, df)


def test_optical_names_stay_distinct(tmp_path):
    want = rl.write_optical(tmp_path / "raw")
    root, df = prepare("optical", tmp_path / "raw", tmp_path / "out")
    assert anomalies(df) == want["anomalies"]
    assert len(normals(df)) == want["normals"] == 40
    # file 0001.PNG exists in every class and both splits: 20 distinct outputs
    assert normals(df).path.str.endswith("_0001.PNG").sum() == 20
    assert df.path.is_unique and df.source.is_unique
    check_layout(root, df)


def test_optical_unwrapped(tmp_path):
    rl.write_optical(tmp_path / "raw", wrap=False)
    _, df = prepare("optical", tmp_path / "raw", tmp_path / "out")
    assert len(anomalies(df)) == 20


def test_mastcam_from_its_zips(tmp_path):
    want = rl.write_mastcam_archives(tmp_path / "raw", tmp_path / "scratch")
    archives = [tmp_path / "raw" / f"{n}.zip" for n in ("train_typical", "test_typical", "test_novel")]
    extracted = extract_all(archives, tmp_path / "raw" / "extracted")
    root, df = prepare("mastcam", extracted, tmp_path / "out")
    n = normals(df)
    assert (n.split == "train").sum() == want["train"] and (n.split == "test").sum() == want["test"]
    assert n[n.split == "train"].source.str.contains("train_typical").all()  # the official split, kept
    got = df[df.label == 1].anomaly_class.value_counts().to_dict()
    assert got == want["classes"]  # test_novel/all/ is not read
    assert not df.source.str.contains("/all/").any()
    a = np.asarray(Image.open(root / df.path.iloc[0]))
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    check_layout(root, df)


def test_brainmri_mixed_case_extensions(tmp_path):
    want = rl.write_brainmri(tmp_path / "raw")
    root, df = prepare("brainmri", tmp_path / "raw", tmp_path / "out")
    assert sorted(df[df.label == 1].source.str.split("/").str[-1]) == sorted(want["tumors"])
    assert sorted(normals(df).source.str.split("/").str[-1]) == sorted(want["normals"])
    assert set(df[df.label == 1].anomaly_class) == {"tumor"}
    for p in df.path:  # every output decodes as a PNG
        with Image.open(root / p) as im:
            assert im.format == "PNG"
    check_layout(root, df)


def test_headct_labels_and_rgba(tmp_path):
    want = rl.write_headct(tmp_path / "raw")
    root, df = prepare("headct", tmp_path / "raw", tmp_path / "out")
    assert anomalies(df) == {n: "hemorrhage" for n in want["anomalies"]}
    assert {p.split("/")[-1] for p in normals(df).path} == want["normals"]
    for p in df.path:
        with Image.open(root / p) as im:
            assert im.mode == "RGB"
    check_layout(root, df)


def test_hyperkvasir_landmarks_and_findings(tmp_path):
    want = rl.write_hyperkvasir(tmp_path / "raw")
    root, df = prepare("hyperkvasir", tmp_path / "raw", tmp_path / "out")
    assert len(normals(df)) == want["normals"]
    assert df[df.label == 1].anomaly_class.value_counts().to_dict() == want["classes"]
    assert not df.source.str.contains("lower-gi-tract").any()
    check_layout(root, df)


def test_lag_is_one_pool(tmp_path):
    want = rl.write_lag(tmp_path / "raw")
    root, df = prepare("lag", tmp_path / "raw", tmp_path / "out")
    assert {p.split("/")[-1] for p in df.path} == want["names"]
    assert (df.label == 0).all() and (df.split == "train").all()
    assert not df.source.str.contains("attention").any()


def test_prepare_cli_no_check_counts(tmp_path, capsys):
    rl.write_headct(tmp_path / "raw")
    assert main(["prepare", "headct", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"),
                 "--no-check-counts"]) == 0
    assert (tmp_path / "out" / "headct" / "manifest.csv").is_file()
    # with the count check on, a miniature is an error naming the numbers, and nothing is written
    assert main(["prepare", "headct", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out2")]) == 1
    err = capsys.readouterr().err
    assert "train normal: expected 75, found 3" in err
    assert not (tmp_path / "out2" / "headct").exists()


def test_elpv_from_its_wheel(tmp_path):
    """The PyPI wheel's layout (elpv_dataset/data/...), extracted by the extract stage."""
    want = rl.write_elpv(tmp_path / "scratch" / "elpv_dataset" / "data")
    wheel = rl.zip_folder(tmp_path / "scratch", tmp_path / "raw" / "elpv_dataset-1.0.0.post1-py3-none-any.whl")
    extracted = extract_all([wheel], tmp_path / "raw" / "extracted")
    root, df = prepare("elpv", extracted, tmp_path / "out")
    assert anomalies(df) == want["anomalies"]
    check_layout(root, df)
