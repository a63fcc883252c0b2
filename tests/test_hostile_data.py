"""Hostile and careless input (issue 21): no config or file can exhaust the machine, and no damaged,
half-written or swapped file is used without a word. Each failure is a DraError naming the file."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

import rawlayouts as rl
import dra
from dra.data.cache import ImageCache, build_cache, masks_file, sidecar
from dra.data.images import open_image
from dra.data.manifest import read_manifest
from dra.data.prepare import prepare_subset
from dra.errors import DraError
from dra.plan.safeyaml import MAX_EXPANDED, load_yaml

ROOT = Path(__file__).resolve().parents[1]


def distinct(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w), dtype=np.uint8)


def mvtec_raw(raw: Path, seed: int = 0, masks: bool = False) -> Path:
    """A subset `s` in the MVTec layout: 3 train normals, 2 test normals, 2 anomalies (class crack)."""
    s = raw / "s"
    for i in range(3):
        rl.save(distinct(12, 12, seed + i), s / "train" / "good" / f"{i}.png")
    for i in range(2):
        rl.save(distinct(12, 12, seed + 10 + i), s / "test" / "good" / f"{i}.png")
        rl.save(distinct(12, 12, seed + 20 + i), s / "test" / "crack" / f"{i}.png")
        if masks:
            m = np.zeros((12, 12), np.uint8)
            m[2:5, 3:7] = 255
            rl.save(m, s / "ground_truth" / "crack" / f"{i}_mask.png")
    return raw


def prepared(tmp_path: Path, name: str = "p", seed: int = 0, masks: bool = True) -> Path:
    raw = mvtec_raw(tmp_path / f"{name}-raw", seed, masks)
    return prepare_subset("mine", raw, tmp_path / name, "s", layout="mvtec", report=lambda text: None)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --- item 3: a configuration is bounded before it is expanded ----------------------------------------

def alias_bomb(levels: int = 9, fan: int = 10, mappings: bool = False) -> str:
    """A few hundred bytes whose aliases expand to fan**levels scalars (10**9 here): nested lists, or
    nested mappings (which Snakemake's own config merge walks, expanding them)."""
    def node(items: list[str]) -> str:
        return "{" + ", ".join(f"k{i}: {v}" for i, v in enumerate(items)) + "}" if mappings else f"[{', '.join(items)}]"

    lines = ["row_groups:", f"  l0: &l0 {node(['lol'] * fan)}"]
    for k in range(1, levels):
        lines.append(f"  l{k}: &l{k} {node([f'*l{k - 1}'] * fan)}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("mappings", [False, True])
def test_an_alias_bomb_config_is_refused_in_under_a_second_naming_the_file(tmp_path, mappings):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb(mappings=mappings))
    assert bomb.stat().st_size < 1024
    t = time.perf_counter()
    with pytest.raises(DraError, match=rf"{bomb}: with its aliases \(\*name\) expanded, .* more than "
                                       rf"{MAX_EXPANDED:,} nodes"):
        load_yaml(bomb)
    assert time.perf_counter() - t < 1.0
    # long strings multiplied by aliases count by their characters, not as one node each
    strings = tmp_path / "strings.yaml"
    strings.write_text("s: &s " + "x" * 20_000 + "\nmany: [" + ", ".join(["*s"] * 60) + "]\n")
    with pytest.raises(DraError, match="strings.yaml: with its aliases"):
        load_yaml(strings)


def test_config_files_can_be_checked_before_snakemake_reads_them(tmp_path):
    """Snakemake expands a bomb of mappings while merging --configfile files, before the Snakefile
    runs: the check has to come first, from the command line."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "dra.plan.safeyaml", str(ROOT / "config" / "config.yaml"), str(bomb)],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(Path(dra.__file__).resolve().parents[1])})
    assert r.returncode == 1 and r.stderr.startswith(f"error: {bomb}: with its aliases") and r.stderr.count("error:") == 1
    assert time.perf_counter() - t < 5  # a process start; the check itself takes milliseconds
    ok = subprocess.run([sys.executable, "-m", "dra.plan.safeyaml", str(ROOT / "config" / "demo.yaml")],
                        env={**os.environ, "PYTHONPATH": str(Path(dra.__file__).resolve().parents[1])})
    assert ok.returncode == 0


def test_load_config_refuses_an_alias_bomb(tmp_path):
    from dra.plan.config import load_config

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    with pytest.raises(DraError, match="bomb.yaml"):
        load_config(ROOT / "config" / "config.yaml", bomb)


@pytest.mark.parametrize("rel", ["config/config.yaml", "config/demo.yaml",
                                 *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "config" / "studies").glob("*.yaml"))])
def test_the_real_configs_pass_and_read_as_pyyaml_reads_them(rel):
    path = ROOT / rel
    assert load_yaml(path) == yaml.safe_load(path.read_text())


@pytest.mark.parametrize("text, match", [
    ("a: &a [1, *a]\n", r"line 1: an alias refers to its own anchor"),
    ("budget: 1.0\nseeds: [0]\nbudget: 0.1\n", r"line 3: key 'budget' appears twice in one mapping \(first on line 1\)"),
    ("weights: !!python/name:os.system\n", r"not a valid YAML configuration .*python/name:os\.system"),
    ("x: !!python/object/apply:os.system [echo hi]\n", r"not a valid YAML configuration"),
    ("__use_yte__: true\nseeds: ?range(3)\n", r"top-level key '__use_yte__' asks Snakemake to evaluate"),
    ("a: 1\n---\na: 2\n", r"not a valid YAML configuration .*single document"),
])
def test_a_config_that_hides_a_value_or_asks_for_code_is_refused_naming_the_file(tmp_path, text, match):
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(DraError, match=rf"{path}.*{match}"):
        load_yaml(path)


def test_merge_keys_may_override_what_they_merge(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nvariant: {<<: *b, x: 3}\n")
    assert load_yaml(path)["variant"] == {"x": 3, "y": 2}


# --- items 6 and 7: a cache is certified by its sidecar, written last ---------------------------------

@pytest.mark.parametrize("which", ["array", "masks"])
def test_a_flipped_byte_in_a_cache_is_refused_naming_the_file_and_the_manifest(tmp_path, which):
    manifest = prepared(tmp_path)
    npy = tmp_path / "cache" / "16.npy"
    build_cache(manifest, 16, npy)
    ImageCache(npy)  # intact: opens
    target = npy if which == "array" else masks_file(npy)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the middle of the pixels
    target.write_bytes(bytes(data))
    with pytest.raises(DraError) as e:
        ImageCache(npy)
    msg = str(e.value)
    assert str(target) in msg and "SHA-256" in msg and "damaged" in msg
    assert f"rebuild it from {manifest}" in msg and f"--manifest {manifest} --size 16 --out {npy}" in msg


def test_a_new_sidecar_beside_an_old_array_is_refused_naming_the_file(tmp_path):
    old = build_and_open(prepared(tmp_path, "old", seed=0), tmp_path / "old.npy")
    new = build_and_open(prepared(tmp_path, "new", seed=500), tmp_path / "new.npy")
    assert old.array.shape == new.array.shape and not np.array_equal(old.array, new.array)
    shutil.copyfile(sidecar(tmp_path / "new.npy"), sidecar(tmp_path / "old.npy"))  # same paths, other pixels
    with pytest.raises(DraError, match=rf"{tmp_path / 'old.npy'}: content SHA-256 .* belongs to another build"):
        ImageCache(tmp_path / "old.npy")


def build_and_open(manifest: Path, npy: Path) -> ImageCache:
    build_cache(manifest, 16, npy)
    return ImageCache(npy)


class Killed(BaseException):
    """A kill -9 as the process sees it: nothing after this point runs (no except Exception catches it)."""


def test_a_build_killed_at_any_rename_never_pairs_a_sidecar_with_another_array(tmp_path, monkeypatch):
    from dra.data.manifest import manifest_digest

    old_manifest, new_manifest = prepared(tmp_path, "old", seed=0), prepared(tmp_path, "new", seed=500)
    reference = {manifest_digest(m): build_and_open(m, tmp_path / f"{name}.npy").array
                 for m, name in ((old_manifest, "old"), (new_manifest, "new"))}
    npy = tmp_path / "cache" / "16.npy"
    real_replace = os.replace
    for kill_at in (1, 2, 3):
        build_cache(old_manifest, 16, npy)
        calls = []

        def replace(src, dst, _k=kill_at):
            calls.append(Path(dst).name)
            if len(calls) == _k:
                raise Killed(dst)
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(Killed):
            build_cache(new_manifest, 16, npy)
        monkeypatch.setattr(os, "replace", real_replace)
        try:
            cache = ImageCache(npy)
        except DraError as e:  # refused: fine, it names the cache
            assert str(npy) in str(e), (kill_at, str(e))
        else:  # accepted: the array must be the one its sidecar describes, never the other build's
            claimed = json.loads(sidecar(npy).read_text())["manifest_sha256"]
            assert np.array_equal(cache.array, reference[claimed]), (kill_at, calls)
    assert not [p for p in files_under(npy.parent) if p.endswith(".tmp")]


def test_a_sidecar_without_digests_is_refused_as_uncertified(tmp_path):
    npy = tmp_path / "16.npy"
    build_cache(prepared(tmp_path), 16, npy)
    meta = json.loads(sidecar(npy).read_text())
    for key in ("array_sha256", "array_bytes"):
        del meta[key]
    sidecar(npy).write_text(json.dumps(meta))
    with pytest.raises(DraError, match=rf"{sidecar(npy)}: the sidecar records no size and digest of 16\.npy"):
        ImageCache(npy)


def test_a_truncated_cache_is_refused_by_its_size(tmp_path):
    npy = tmp_path / "16.npy"
    build_cache(prepared(tmp_path), 16, npy)
    with open(npy, "r+b") as f:
        f.truncate(npy.stat().st_size - 100)
    with pytest.raises(DraError, match=r"16\.npy: .* bytes, but 16\.json records .*cut short"):
        ImageCache(npy)


# --- item 12: a full disk ------------------------------------------------------------------------------

def test_too_little_free_space_is_refused_before_the_cache_is_written(tmp_path, monkeypatch):
    import dra.fsutil

    manifest = prepared(tmp_path)
    out = tmp_path / "cache"
    monkeypatch.setattr(dra.fsutil, "free_bytes", lambda folder: 10_000)
    with pytest.raises(DraError) as e:
        build_cache(manifest, 64, out / "64.npy")
    msg = str(e.value)
    assert msg.startswith(f"{out}: not enough free space for the image cache 64.npy")
    # 7 images of 64 x 64 x 3 bytes, 2 masks of 64 x 64, room for two .npy headers
    assert "needs 102.4 kB (102,400 bytes)" in msg and "10.0 kB (10,000 bytes) free" in msg
    assert files_under(out) == []


def test_an_archive_that_cannot_fit_is_refused_before_extraction(tmp_path, monkeypatch):
    import dra.fsutil
    from dra.data.archive import extract_all

    folder = tmp_path / "content"
    (folder / "d").mkdir(parents=True)
    (folder / "d" / "a.bin").write_bytes(bytes(300_000))  # compresses to almost nothing
    archives = [rl.zip_folder(folder, tmp_path / "z.zip"), rl.sevenzip_folder(folder / "d", tmp_path / "s.7z", "d")]
    monkeypatch.setattr(dra.fsutil, "free_bytes", lambda folder: 100_000)
    for archive in archives:
        with pytest.raises(DraError, match=rf"{tmp_path / 'x' / archive.stem}: not enough free space for the \d members "
                                           rf"of {archive.name}: it needs 300\.0 kB"):
            extract_all([archive], tmp_path / "x")
        assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.*"))


def test_nbytes_of_counts_the_arrays_of_a_nested_state():
    from dra.fsutil import nbytes_of

    class Tensorish:  # a torch tensor exposes nbytes the same way
        nbytes = 1000

    state = {"model": {"w": np.zeros((10, 10), np.float32), "b": Tensorish()}, "step": 3,
             "opt": {"state": {0: {"m": np.zeros(25, np.float64)}}, "groups": [{"lr": 0.1}]}, "rng": (np.zeros(8, np.uint8),)}
    assert nbytes_of(state) == 400 + 1000 + 200 + 8


def test_the_stale_temporaries_of_a_killed_build_are_removed_by_the_next(tmp_path):
    out = tmp_path / "cache"
    out.mkdir()
    stale = [out / ".16.npy.ab12cd34.npy.tmp", out / ".16.masks.npy.x_y_z_0q.npy.tmp", out / ".16.json.abcdefgh.tmp"]
    kept = [out / ".16.npy.other.tmp", out / "16.npy.notes"]  # not a name atomic_path makes for these outputs
    for p in stale + kept:
        p.write_bytes(b"x" * 1000)
    build_cache(prepared(tmp_path), 16, out / "16.npy")
    assert sorted(files_under(out)) == sorted([".16.npy.other.tmp", "16.json", "16.masks.npy", "16.npy", "16.npy.notes"])


SMALL_FS_SCRIPT = r"""
import json, os, sys
from pathlib import Path
print("STARTED", flush=True)
import dra.fsutil as fsutil
from dra.data.archive import extract_all
from dra.data.cache import ImageCache, build_cache
from dra.errors import DraError

manifest, small, tar, zipped = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
results = {}

def attempt(case, fn):
    folder = small / case
    folder.mkdir()
    try:
        fn(folder)
        results[case] = {"ok": True}
    except DraError as e:
        results[case] = {"error": str(e)}
    results[case]["left"] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))

def big_dir(folder):
    with fsutil.atomic_dir(folder / "out") as tmp:
        (tmp / "f").write_bytes(os.urandom(400_000))

def opaque(folder):  # a serialiser that reports a full disk in its own words, as torch.save does
    with fsutil.atomic_path(folder / "model.pt") as tmp:
        try:
            with open(tmp, "wb") as f:
                while True:
                    f.write(bytes(65536))
        except OSError:
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed") from None

attempt("cache", lambda f: build_cache(manifest, 128, f / "128.npy"))
real = fsutil.free_bytes
fsutil.free_bytes = lambda folder: 1 << 40  # the check passes: the write itself meets the full disk
attempt("cache_past_the_check", lambda f: build_cache(manifest, 128, f / "128.npy"))
attempt("text", lambda f: fsutil.write_text(f / "big.txt", "x" * 400_000))
attempt("dir", big_dir)
attempt("tar", lambda f: extract_all([tar], f / "x"))
fsutil.free_bytes = real
attempt("zip", lambda f: extract_all([zipped], f / "x"))
attempt("opaque", opaque)
attempt("small_cache", lambda f: (build_cache(manifest, 8, f / "8.npy"), ImageCache(f / "8.npy")))
print("RESULTS " + json.dumps(results), flush=True)
"""


def test_a_full_file_system_names_the_folder_and_leaves_no_temporaries(tmp_path):
    """A real full file system: a 256 kB tmpfs mounted in a private mount namespace of a child
    process (root, or an unprivileged user namespace), so nothing outside the child sees it."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a small tmpfs in a private mount namespace")
    manifest = prepared(tmp_path)
    small = tmp_path / "small"
    small.mkdir()
    payload = os.urandom(400_000)  # incompressible: the archives stay as large as their content
    tar = tmp_path / "big.tar"
    with tarfile.open(tar, "w") as tf:
        (tmp_path / "member").write_bytes(payload)
        tf.add(tmp_path / "member", "member")
    zipped = tmp_path / "big.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("member", payload)
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    cmd = ["unshare", "--mount", "--propagation", "private", *user, "sh", "-c",
           'mount -t tmpfs -o size=256k tmpfs "$1" || exit 97; shift; exec "$@"', "sh", str(small),
           sys.executable, "-c", SMALL_FS_SCRIPT, str(manifest), str(small), str(tar), str(zipped)]
    env = {**os.environ, "PYTHONPATH": str(Path(dra.__file__).resolve().parents[1])}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    if "STARTED" not in r.stdout:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace here (rc {r.returncode}: "
                    f"{r.stderr.strip()[-200:]})")
    assert r.returncode == 0, f"rc {r.returncode} (-7 is SIGBUS): {r.stderr[-2000:]}"
    res = json.loads(r.stdout.split("RESULTS ", 1)[1])
    for case in ("cache", "cache_past_the_check", "text", "dir", "tar", "zip", "opaque"):
        assert res[case].get("left") == [], (case, res[case])
        assert str(small / case) in res[case].get("error", ""), (case, res[case])
    needs = res["cache"]["error"]
    assert "not enough free space for the image cache 128.npy" in needs
    assert "needs 385.0 kB (385,024 bytes), the file system has 262.1 kB (262,144 bytes) free" in needs
    for case in ("cache_past_the_check", "text", "dir", "tar"):
        assert "the file system is full (or over quota)" in res[case]["error"], (case, res[case])
    assert "while writing 128.npy (" in res["cache_past_the_check"]["error"]  # the array that did not fit
    assert res["tar"]["error"].startswith(f"{small / 'tar' / 'x' / 'big'}: ")  # the target, not a temporary
    assert "download it again" not in res["tar"]["error"]
    assert "not enough free space for the 1 members of big.zip" in res["zip"]["error"]
    assert "writing model.pt failed (RuntimeError: PytorchStreamWriter failed" in res["opaque"]["error"]
    assert "which is full or nearly" in res["opaque"]["error"]
    assert res["small_cache"] == {"ok": True, "left": ["8.json", "8.masks.npy", "8.npy"]}  # the space came back


def test_a_download_that_cannot_fit_is_refused_before_a_byte_is_written(tmp_path, monkeypatch):
    import io

    import dra.data.download as download
    import dra.fsutil

    class Response(io.BytesIO):
        status = 200
        headers = {"Content-Length": "5000000"}

    monkeypatch.setattr(download, "_open", lambda url, start, timeout: Response(b"x" * 100))
    monkeypatch.setattr(dra.fsutil, "free_bytes", lambda folder: 1_000_000)
    with pytest.raises(DraError, match=rf"{tmp_path}: not enough free space for the download of f\.zip .* "
                                       r"needs 5\.0 MB"):
        download.download_url("http://127.0.0.1:9/f.zip", tmp_path / "f.zip", progress=False)
    assert files_under(tmp_path) == []


# --- item 13: symbolic links are resolved at prepare -------------------------------------------------

def test_symlinked_images_are_copied_from_their_targets_and_the_cache_accepts_them(tmp_path, capsys):
    raw = mvtec_raw(tmp_path / "raw")
    s = raw / "s"
    store = tmp_path / "store"  # outside the raw folder
    rl.save(distinct(12, 12, 77), store / "outside.png")
    rl.save(np.dstack([distinct(12, 12, 78)] * 3), store / "outside.jpg", fmt="JPEG")
    rl.save(distinct(12, 12, 79), s / "originals" / "inside.png")
    (s / "train" / "good" / "abs.png").symlink_to(s / "originals" / "inside.png")          # absolute, inside
    (s / "train" / "good" / "rel.png").symlink_to(Path("..") / ".." / "originals" / "inside.png")  # relative
    (s / "test" / "crack" / "out.png").symlink_to(store / "outside.png")                   # leaves raw/
    (s / "test" / "crack" / "out.jpg").symlink_to(store / "outside.jpg")                   # re-encoded
    manifest = prepare_subset("mine", raw, tmp_path / "out", "s", layout="mvtec")
    err = capsys.readouterr().err
    df = read_manifest(manifest)
    for p in df.path:
        f = manifest.parent / p
        assert f.is_file() and not f.is_symlink(), p
    for rel, src in (("train/good/abs.png", s / "originals" / "inside.png"),
                     ("train/good/rel.png", s / "originals" / "inside.png"),
                     ("test/crack/out.png", store / "outside.png")):
        assert (manifest.parent / rel).read_bytes() == src.read_bytes(), rel
    assert "test/crack/out.jpg.png" in set(df.path)
    assert "symbolic links: 4 raw images are links" in err and f"(2 point outside {raw})" in err
    build_cache(manifest, 16, tmp_path / "16.npy")  # the later stage accepts every prepared file
    assert len(ImageCache(tmp_path / "16.npy").index) == len(df)


@pytest.mark.parametrize("target", ["missing.png", "a-folder.png"])
def test_a_link_to_nothing_or_to_a_folder_is_refused_at_prepare_naming_it(tmp_path, target):
    raw = mvtec_raw(tmp_path / "raw")
    (tmp_path / "a-folder.png").mkdir()
    link = raw / "s" / "test" / "crack" / "bad.png"
    link.symlink_to(tmp_path / target)
    if target == "a-folder.png":
        # a link to a folder is a folder: left out and said so, never an image
        prepare_subset("mine", raw, tmp_path / "out", "s", layout="mvtec")
        return
    with pytest.raises(DraError, match=rf"{link}: symbolic link to .*missing\.png, which does not exist"):
        prepare_subset("mine", raw, tmp_path / "out", "s", layout="mvtec")
    assert files_under(tmp_path / "out") == []


# --- item 14: decompression bombs ----------------------------------------------------------------------

def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width x height and holds almost nothing (a few dozen bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_is_refused_naming_the_file_and_the_limit(tmp_path):
    bomb = png_header_only(tmp_path / "bomb.png", 20000, 20000)
    assert bomb.stat().st_size < 200
    with pytest.raises(DraError, match=rf"{bomb}: image larger than the 178,956,970 pixels decoded"):
        open_image(bomb)
    raw = mvtec_raw(tmp_path / "raw")
    shutil.copyfile(bomb, raw / "s" / "test" / "crack" / "huge.png")
    with pytest.raises(DraError, match=r"s/test/crack/huge\.png: image larger than the 178,956,970 pixels"):
        prepare_subset("mine", raw, tmp_path / "out", "s", layout="mvtec")
    assert files_under(tmp_path / "out") == []


def test_a_header_only_sdd_part_is_refused_by_the_header_reader(tmp_path):
    from dra.data.rawtools import image_size

    with pytest.raises(DraError, match=r"Part0\.png: image larger than"):
        image_size(png_header_only(tmp_path / "Part0.png", 30000, 30000))


def test_a_mastcam_tile_declaring_terabytes_is_refused_naming_it(tmp_path):
    from dra.data.mastcam import npy_rgb

    tile = tmp_path / "tile.npy"
    with open(tile, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (200000, 200000, 6)})
        f.write(b"\0" * 800)
    with pytest.raises(DraError, match=r"tile\.npy: unreadable or truncated \.npy tile \(its header declares "
                                       r"\(200000, 200000, 6\) float64"):
        npy_rgb(tile)


# --- item 15: what prepare leaves out, it says ---------------------------------------------------------

def test_prepare_names_what_it_left_out_per_reason(tmp_path, capsys):
    raw = mvtec_raw(tmp_path / "raw")
    s = raw / "s"
    from PIL import Image

    for name in ("a.gif", "b.gif", "c.gif", "d.gif"):
        Image.fromarray(distinct(8, 8, 1)).save(s / "test" / "crack" / name)
    Image.fromarray(np.dstack([distinct(8, 8, 2)] * 3)).save(s / "train" / "good" / "e.webp")
    rl.save(distinct(8, 8, 3), s / "train" / "good" / "more" / "f.png")  # a nested folder
    rl.save(distinct(8, 8, 4), s / "train" / "bad" / "g.png")            # not a folder of normals
    rl.save(distinct(8, 8, 5), s / "test" / "h.png")                     # beside the class folders
    df = read_manifest(prepare_subset("mine", raw, tmp_path / "out", "s", layout="mvtec"))
    assert len(df) == 7  # the images of mvtec_raw, nothing else
    err = capsys.readouterr().err
    assert "left out, not in the manifest (8 raw files or folders):" in err
    assert "4 x .gif: not an image type prepare reads (.png .jpg .jpeg .bmp .tif .tiff): " \
           "s/test/crack/a.gif, s/test/crack/b.gif, s/test/crack/c.gif, ..." in err
    assert "1 x .webp: not an image type prepare reads" in err and "s/train/good/e.webp" in err
    assert "1 x a folder inside an image folder (prepare does not look into it): s/train/good/more" in err
    assert "1 x a folder in train/ other than good/ (training images are normals): s/train/bad" in err
    assert "1 x a file directly in test/ (images go in test/good/ or test/<class>/): s/test/h.png" in err
