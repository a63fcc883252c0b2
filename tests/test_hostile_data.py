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
from dra.safeyaml import MAX_EXPANDED, load_yaml

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

def alias_bomb(levels: int = 9, fan: int = 10) -> str:
    """A few hundred bytes whose aliases expand to fan**levels scalars (10**9 here)."""
    lines = ["row_groups:", "  l0: &l0 [" + ", ".join(["lol"] * fan) + "]"]
    for k in range(1, levels):
        lines.append(f"  l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * fan) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_config_is_refused_in_under_a_second_naming_the_file(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
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


@pytest.mark.xfail(strict=True, reason="wired by the lead: dra.config.load_config must read each file with "
                                       "dra.safeyaml.load_yaml (this worktree may not edit config.py); remove this "
                                       "marker when it does")
def test_load_config_refuses_an_alias_bomb(tmp_path):
    from dra.config import load_config

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
