"""Safe extraction: absolute paths, `..` and links leaving the target are refused; the target folder
appears only when every archive extracted completely."""

from __future__ import annotations

import os
import tarfile
import zipfile

import pytest

import rawlayouts as rl
from dra.cli import main
from dra.data.archive import archive_kind, archive_stem, extract_all
from dra.errors import DraError


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def test_kinds_and_stems():
    assert archive_kind("a/Class1.zip") == "zip" and archive_stem("Class1.zip") == "Class1"
    assert archive_kind("x.tar.xz") == "tar" and archive_stem("mvtec_anomaly_detection.tar.xz") == "mvtec_anomaly_detection"
    assert archive_kind("Defect_images.7z") == "7z" and archive_stem("Defect_images.7z") == "Defect_images"
    assert archive_kind("e.whl") == "zip" and archive_kind("notes.txt") is None


def test_zip_tar_and_7z_extract_into_one_folder_each(tmp_path):
    z = make_zip(tmp_path / "a.zip", [("top/x.txt", "x"), ("top/sub/y.txt", "y")])
    t = rl.tar_with(tmp_path / "b.tar.gz", [("file", "b/z.txt", "z"), ("sym", "b/link", "z.txt")])
    src = tmp_path / "src" / "c"
    src.mkdir(parents=True)
    (src / "w.txt").write_text("w")
    archives = [z, t]
    pytest.importorskip("py7zr")
    archives.append(rl.sevenzip_folder(src, tmp_path / "c.7z", "c"))
    out = extract_all(archives, tmp_path / "out")
    assert (out / "a" / "top" / "sub" / "y.txt").read_text() == "y"
    assert (out / "b" / "b" / "z.txt").read_text() == "z"
    assert (out / "b" / "b" / "link").is_symlink() and (out / "b" / "b" / "link").read_text() == "z"
    assert (out / "c" / "c" / "w.txt").read_text() == "w"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temporary left


@pytest.mark.parametrize("name, why", [("../evil.txt", "'..'"), ("/etc/evil.txt", "absolute"),
                                        ("a/../../evil.txt", "'..'"), ("C:/evil.txt", "absolute")])
def test_zip_refuses_paths_leaving_the_target(tmp_path, name, why):
    z = make_zip(tmp_path / "bad.zip", [("ok.txt", "ok"), (name, "evil")])
    with pytest.raises(DraError, match=f"bad.zip: refusing member .*{why}"):
        extract_all([z], tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("members, match", [
    ([("file", "../evil.txt", "x")], "'..'"),
    ([("file", "/tmp/evil.txt", "x")], "absolute"),
    ([("sym", "a/link", "../../etc/passwd")], "link to '../../etc/passwd' leaves"),
    ([("sym", "link", "/etc/passwd")], "link to '/etc/passwd' leaves"),
    ([("file", "a/x", "x"), ("hard", "a/h", "../outside")], "hard link to '../outside' leaves"),
])
def test_tar_refuses_paths_and_links_leaving_the_target(tmp_path, members, match):
    t = rl.tar_with(tmp_path / "bad.tar.gz", members)
    with pytest.raises(DraError, match=f"bad.tar.gz: refusing member .*{match}"):
        extract_all([t], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_symlink_entry_leaving_the_target(tmp_path):
    info = zipfile.ZipInfo("link")
    info.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr(info, "../../outside")
    with pytest.raises(DraError, match="link leaves the target folder"):
        extract_all([tmp_path / "bad.zip"], tmp_path / "out")


def test_7z_refuses_dotdot(tmp_path):
    py7zr = pytest.importorskip("py7zr")
    (tmp_path / "f.txt").write_text("x")
    with py7zr.SevenZipFile(tmp_path / "bad.7z", "w") as zf:
        zf.write(tmp_path / "f.txt", arcname="../evil.txt")
    with pytest.raises(DraError, match=r"bad.7z: refusing member '\.\./evil\.txt'"):
        extract_all([tmp_path / "bad.7z"], tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_all_or_nothing_when_a_later_archive_is_truncated(tmp_path):
    good = make_zip(tmp_path / "good.zip", [("x.txt", "x")])
    bad = make_zip(tmp_path / "bad.zip", [("y.txt", "y" * 10000)])
    bad.write_bytes(bad.read_bytes()[:-40])
    with pytest.raises(DraError, match="bad.zip: not a readable zip archive"):
        extract_all([good, bad], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_truncated_tar_xz(tmp_path):
    with tarfile.open(tmp_path / "t.tar.xz", "w:xz") as tf:
        data = os.urandom(50000)
        import io
        info = tarfile.TarInfo("big.bin")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    p = tmp_path / "t.tar.xz"
    p.write_bytes(p.read_bytes()[:20000])
    with pytest.raises(DraError, match=r"t.tar.xz: not a readable \(or a truncated\) tar archive"):
        extract_all([p], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extract_stage_verifies_then_extracts(tmp_path, monkeypatch, capsys):
    """`python -m dra extract sdd`: the pinned hash is checked before anything is extracted."""
    rl.write_sdd(tmp_path / "scratch")
    raw = tmp_path / "raw" / "sdd"
    rl.zip_folder(tmp_path / "scratch", raw / "KolektorSDD.zip")
    assert main(["extract", "sdd", "--raw", str(raw), "--out", str(raw / "extracted")]) == 1
    assert "does not match the pinned 65dc6216" in capsys.readouterr().err
    assert not (raw / "extracted").exists()

    from dra.data import sdd
    from dra.data.download import RawFile
    monkeypatch.setattr(sdd, "FILES", (RawFile("KolektorSDD.zip", None, None),))
    assert main(["extract", "sdd", "--raw", str(raw), "--out", str(raw / "extracted")]) == 0
    assert (raw / "extracted" / "KolektorSDD" / "KolektorSDD" / "kos01" / "Part0.jpg").is_file()
    # and prepare reads it from there
    assert main(["prepare", "sdd", "--raw", str(raw / "extracted"), "--out", str(tmp_path / "prep"),
                 "--no-check-counts"]) == 0


def test_extract_stage_names_a_missing_archive(tmp_path, capsys):
    assert main(["extract", "mastcam", "--raw", str(tmp_path), "--out", str(tmp_path / "extracted")]) == 1
    err = capsys.readouterr().err
    assert "train_typical.zip: archive of mastcam not found" in err and "python -m dra download mastcam" in err
