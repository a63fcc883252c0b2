"""Bad raw input: each a DraError naming the file or value, and never a manifest (or a half-written
output folder) left behind."""

from __future__ import annotations

import numpy as np
import pytest

import rawlayouts as rl
from dra.cli import main
from dra.data.prepare import prepare_subset
from dra.errors import DraError


def assert_nothing_written(out):
    """No manifest, no temporary folder: `out` is absent or empty."""
    assert not out.exists() or list(out.iterdir()) == []


def fails(name, raw, out, match, subset=None, check=False):
    with pytest.raises(DraError, match=match):
        prepare_subset(name, raw, out, subset or name, check=check)
    assert_nothing_written(out)


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_image_names_the_file(tmp_path):
    rl.write_elpv(tmp_path / "raw")
    truncate(tmp_path / "raw" / "images" / "cell0005.png")
    fails("elpv", tmp_path / "raw", tmp_path / "out", r"cell0005\.png: unreadable or truncated")


def test_unreadable_jpeg_names_the_file(tmp_path):
    rl.write_brainmri(tmp_path / "raw")
    (tmp_path / "raw" / "brain_tumor_dataset" / "yes" / "Y1.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    fails("brainmri", tmp_path / "raw", tmp_path / "out", r"Y1\.jpg: unreadable")


def test_truncated_aitex_strip(tmp_path):
    rl.write_aitex(tmp_path / "raw")
    truncate(tmp_path / "raw" / "NODefect_images" / "2311694-2040n7u" / "0001_000_05.png", 0.3)
    fails("aitex", tmp_path / "raw", tmp_path / "out", r"0001_000_05\.png")


def test_truncated_mastcam_tile(tmp_path):
    rl.write_mastcam_archives(tmp_path / "zips", tmp_path / "raw")
    tile = sorted((tmp_path / "raw" / "test_novel" / "veins").glob("*.npy"))[0]
    truncate(tile)
    fails("mastcam", tmp_path / "raw", tmp_path / "out", rf"{tile.name}: unreadable or truncated")


def test_missing_sdd_mask(tmp_path):
    rl.write_sdd(tmp_path / "raw")
    (tmp_path / "raw" / "KolektorSDD" / "kos02" / "Part0_label.bmp").unlink()
    fails("sdd", tmp_path / "raw", tmp_path / "out", r"kos02/Part0_label\.bmp: mask of .* not found")


def test_missing_aitex_mask_other_than_the_known_one(tmp_path):
    rl.write_aitex(tmp_path / "raw")
    (tmp_path / "raw" / "Mask_images" / "0001_002_00_mask.png").unlink()
    fails("aitex", tmp_path / "raw", tmp_path / "out", r"0001_002_00\.png: no mask 0001_002_00_mask\.png")


def test_aitex_mask_of_the_wrong_size(tmp_path):
    rl.write_aitex(tmp_path / "raw")
    rl.save(np.zeros((10, 10), np.uint8), tmp_path / "raw" / "Mask_images" / "0001_002_00_mask.png")
    fails("aitex", tmp_path / "raw", tmp_path / "out", r"0001_002_00_mask\.png: mask of 10x10 pixels")


def test_unknown_aitex_defect_code(tmp_path):
    rl.write_aitex(tmp_path / "raw")
    d = tmp_path / "raw" / "Defect_images" / "Defect_images"
    (d / "0001_002_00.png").rename(d / "0001_099_00.png")
    fails("aitex", tmp_path / "raw", tmp_path / "out", r"unknown AITEX defect code '099'")


@pytest.mark.parametrize("row, match", [
    ("images/cell0002.png  0.5  mono", r"labels\.csv, line 9: defect probability '0\.5'"),
    ("images/cell0002.png  zero  mono", r"labels\.csv, line 9: defect probability 'zero' is not a number"),
    ("images/cell0002.png  1.0  thin", r"labels\.csv, line 9: type 'thin'"),
    ("images/cell0002.png  1.0", r"labels\.csv, line 9: .* has 2 fields"),
    ("images/cell9999.png  1.0  mono", r"cell9999\.png: image named in .*labels\.csv, line 9, not found"),
])
def test_malformed_elpv_labels_row(tmp_path, row, match):
    rl.write_elpv(tmp_path / "raw")
    with open(tmp_path / "raw" / "labels.csv", "a") as f:
        f.write(row + "\n")
    fails("elpv", tmp_path / "raw", tmp_path / "out", match)


@pytest.mark.parametrize("row, match", [
    ("3,2", r"labels\.csv, line 10: .*hemorrhage 0 or 1"),
    ("x,1", r"labels\.csv, line 10: .*integer id"),
    ("3", r"labels\.csv, line 10: .* has 1 fields"),
    ("42,1", r"042\.png: image of id 42 .*line 10.* not found"),
])
def test_malformed_headct_labels_row(tmp_path, row, match):
    rl.write_headct(tmp_path / "raw")
    with open(tmp_path / "raw" / "labels.csv", "a") as f:
        f.write(row + "\n")
    fails("headct", tmp_path / "raw", tmp_path / "out", match)


def test_malformed_optical_labels_row(tmp_path):
    rl.write_optical(tmp_path / "raw")
    labels = tmp_path / "raw" / "Class3" / "Class3" / "Test" / "Label" / "Labels.txt"
    labels.write_text(labels.read_text() + "4\t7\t0004.PNG\t0\t0\n")
    fails("optical", tmp_path / "raw", tmp_path / "out", r"Class3/Test/Label/Labels\.txt, line 5: label '7'")


def test_missing_optical_class(tmp_path):
    rl.write_optical(tmp_path / "raw")
    import shutil
    shutil.rmtree(tmp_path / "raw" / "Class7")
    fails("optical", tmp_path / "raw", tmp_path / "out", r"no folder Class7/ with Train/ and Test/")


def test_wrong_count_names_the_numbers(tmp_path):
    rl.write_elpv(tmp_path / "raw")
    fails("elpv", tmp_path / "raw", tmp_path / "out",
          r"train normal: expected 1131, found 3; test normal: expected 377, found 1; anomalies: expected 715, "
          r"found 2; anomaly class mono: expected 313, found 1", check=True)


def test_sdd_count_rule(tmp_path, capsys):
    """SDD: 54 anomalies asserted (the miniature has 3), the rest reported."""
    rl.write_sdd(tmp_path / "raw")
    fails("sdd", tmp_path / "raw", tmp_path / "out", r"anomalies: expected 54, found 3", check=True)


def test_sdd_reports_the_paper_numbers(tmp_path, monkeypatch, capsys):
    from dra.data import sdd
    from dra.data.base import Expected

    rl.write_sdd(tmp_path / "raw")
    monkeypatch.setitem(sdd.EXPECTED, "sdd", Expected(None, None, 3))
    prepare_subset("sdd", tmp_path / "raw", tmp_path / "out", "sdd", check=True)
    err = capsys.readouterr().err
    assert "4 train normals / 2 test normals / 3 anomalies; the paper reports 594 / 286 / 54" in err


def test_an_earlier_prepared_subset_survives_a_failed_prepare(tmp_path):
    rl.write_elpv(tmp_path / "raw")
    good = prepare_subset("elpv", tmp_path / "raw", tmp_path / "out", "elpv", check=False)
    before = good.read_bytes()
    truncate(tmp_path / "raw" / "images" / "cell0001.png")
    with pytest.raises(DraError):
        prepare_subset("elpv", tmp_path / "raw", tmp_path / "out", "elpv", check=False)
    assert good.read_bytes() == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["elpv"]


def test_unknown_dataset_and_subset(tmp_path, capsys):
    with pytest.raises(DraError, match=r"unknown dataset 'nosuch'"):
        prepare_subset("nosuch", tmp_path, tmp_path / "out", "x")
    with pytest.raises(DraError, match=r"elpv: unknown subset 'mono'; expected one of \['elpv'\]"):
        prepare_subset("elpv", tmp_path, tmp_path / "out", "mono")
    assert main(["prepare", "nosuch", "--raw", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    assert "unknown dataset 'nosuch'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_raw_folder_and_required_raw(tmp_path):
    with pytest.raises(DraError, match=r"raw folder of sdd not found"):
        prepare_subset("sdd", tmp_path / "nowhere", tmp_path / "out", "sdd")
    with pytest.raises(DraError, match=r"sdd: --raw is required"):
        prepare_subset("sdd", None, tmp_path / "out", "sdd")
    with pytest.raises(DraError, match=r"no KolektorSDD folder of kosNN/PartN\.jpg found"):
        prepare_subset("sdd", tmp_path, tmp_path / "out", "sdd")
