"""Each dataset's ORIGINAL raw layout in miniature, written with numpy + PIL inside the tests.

Every writer returns what the conversion must produce, so a test compares the prepared manifest
with it. Nothing here is real data; only the folder and file naming of the originals is copied."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def save(a: np.ndarray, path: Path, fmt: str | None = None, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(a)
    if mode:
        im = im.convert(mode)
    im.save(path, format=fmt)
    return path


def grey(h: int, w: int, value: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(value + rng.integers(-8, 9, size=(h, w)), 0, 255).astype(np.uint8)


def zip_folder(folder: Path, archive: Path, arc_root: str = "") -> Path:
    """Zip `folder`'s contents; `arc_root` wraps them in a folder of that name inside the archive."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, str(Path(arc_root) / p.relative_to(folder)) if arc_root else str(p.relative_to(folder)))
    return archive


def sevenzip_folder(folder: Path, archive: Path, arcname: str) -> Path:
    import py7zr

    with py7zr.SevenZipFile(archive, "w") as zf:
        zf.writeall(folder, arcname=arcname)
    return archive


# ---------------------------------------------------------------------------------------------- AITEX
AITEX_PATCH = 256


def aitex_strip(seed: int) -> np.ndarray:
    """4096x256 grey strip whose patch k is filled with the value 10*k + 5, plus a little noise of
    its own (so that no two strips share a patch byte for byte)."""
    a = np.zeros((256, 4096), dtype=np.uint8)
    for k in range(16):
        a[:, k * 256:(k + 1) * 256] = 10 * k + 5
    noise = np.random.default_rng(seed).integers(0, 3, size=a.shape, dtype=np.uint8)
    return a + noise


def aitex_mask(patches: list[int]) -> np.ndarray:
    m = np.zeros((256, 4096), dtype=np.uint8)
    for k in patches:
        m[100:110, k * 256 + 50:k * 256 + 60] = 255
    return m


def write_aitex(root: Path, wrap_defects: bool = True) -> dict:
    """Folders Defect_images/ (wrapped in a same-named folder when `wrap_defects`), Mask_images/,
    NODefect_images/<fabric>/. Returns the expected anomalies {name: (class, patch index)} and the
    number of normal patches."""
    defects = root / "Defect_images" / "Defect_images" if wrap_defects else root / "Defect_images"
    masks = root / "Mask_images"
    save(aitex_strip(0), root / "NODefect_images" / "2311694-2040n7u" / "0001_000_05.png")
    save(aitex_strip(1), root / "NODefect_images" / "2306894-210033u" / "0001_000_05.png")  # same name, other fabric
    # defect pixels only in the fourth patch (index 3): one Broken_end anomaly, no normal patch
    save(aitex_strip(2), defects / "0001_002_00.png")
    save(aitex_mask([3]), masks / "0001_002_00_mask.png")
    # the quirk: two masks, their union marks patches 0 and 9
    save(aitex_strip(3), defects / "0044_019_04.png")
    save(aitex_mask([0]), masks / "0044_019_04_mask1.png")
    save(aitex_mask([9]), masks / "0044_019_04_mask2.png")
    # the known gap: no mask at all -> skipped with a warning
    save(aitex_strip(4), defects / "0100_025_08.png")
    return {"anomalies": {"0001_002_00_p03.png": ("Broken_end", 3), "0044_019_04_p00.png": ("Fuzzyball", 0),
                          "0044_019_04_p09.png": ("Fuzzyball", 9)},
            "normals": 32}


def write_aitex_archives(folder: Path, scratch: Path) -> list[Path]:
    """The three .7z archives as AITEX ships them (Defect_images wrapped in a same-named folder)."""
    write_aitex(scratch, wrap_defects=False)
    folder.mkdir(parents=True, exist_ok=True)
    return [sevenzip_folder(scratch / n, folder / f"{n}.7z", n)
            for n in ("Defect_images", "NODefect_images", "Mask_images")]


# ------------------------------------------------------------------------------------------------ SDD
def write_sdd(root: Path) -> dict:
    """KolektorSDD/kosNN/PartN.jpg + PartN_label.bmp; height 31 so the thirds are 10, 10, 11 rows."""
    base = root / "KolektorSDD"
    h, w = 31, 12

    def part(kos: str, n: int, defect_rows: tuple[int, int] | None):
        save(grey(h, w, 120, seed=100 * int(kos[3:]) + n), base / kos / f"Part{n}.jpg", fmt="JPEG")
        m = np.zeros((h, w), dtype=np.uint8)
        if defect_rows:
            m[defect_rows[0]:defect_rows[1], 3:6] = 255
        save(m, base / kos / f"Part{n}_label.bmp", fmt="BMP")

    part("kos01", 0, (25, 28))   # bottom third only: 1 anomaly + 2 normals
    part("kos01", 1, None)       # 3 normals
    part("kos02", 0, (9, 11))    # rows 9-10 span the first two thirds: 2 anomalies + 1 normal
    return {"anomalies": {"kos01_Part0_2.png", "kos02_Part0_0.png", "kos02_Part0_1.png"},
            "normals": 6, "heights": {0: 10, 1: 10, 2: 11}}


# ----------------------------------------------------------------------------------------------- ELPV
def write_elpv(root: Path) -> dict:
    rows = [("cell0001.png", "1.0", "mono"), ("cell0002.png", "0.0", "mono"),
            ("cell0003.png", "0.3333333333333333", "poly"), ("cell0004.png", "0.6666666666666666", "mono"),
            ("cell0005.png", "1.0", "poly"), ("cell0006.png", "0.0", "poly"), ("cell0007.png", "0.0", "mono"),
            ("cell0008.png", "0.0", "poly")]
    for i, (name, _, _) in enumerate(rows):
        save(grey(20, 20, 100, seed=i), root / "images" / name)
    (root / "labels.csv").write_text("".join(f"images/{n}  {p}                 {t}\n" for n, p, t in rows))
    return {"anomalies": {"cell0001.png": "mono", "cell0005.png": "poly"},
            "normals": {"cell0002.png", "cell0006.png", "cell0007.png", "cell0008.png"}}


# -------------------------------------------------------------------------------------------- Optical
def write_optical(root: Path, wrap: bool = True) -> dict:
    """ClassN/ClassN/{Train,Test}/NNNN.PNG + Label/Labels.txt for all ten classes. Every class uses the
    same file names, so only (class, split, file) names keep them apart."""
    expected_anom, n_normal = {}, 0
    for c in range(1, 11):
        cdir = root / f"Class{c}" / f"Class{c}" if wrap else root / f"Class{c}"
        for split in ("Train", "Test"):
            lines = ["1"]
            for i, label in enumerate((0, 0, 1)):
                name = f"{i + 1:04d}.PNG"
                save(grey(8, 8, 50 + c, seed=c * 10 + i), cdir / split / name, fmt="PNG")
                mask = f"{i + 1:04d}_label.PNG" if label else "0"
                if label:
                    save(np.full((8, 8), 255, np.uint8), cdir / split / "Label" / mask, fmt="PNG")
                    expected_anom[f"Class{c}_{split}_{name}"] = f"Class{c}"
                else:
                    n_normal += 1
                lines.append(f"{i + 1}\t{label}\t{name}\t0\t{mask}")
            (cdir / split / "Label").mkdir(parents=True, exist_ok=True)
            (cdir / split / "Label" / "Labels.txt").write_text("\n".join(lines) + "\n")
    return {"anomalies": expected_anom, "normals": n_normal}


# -------------------------------------------------------------------------------------------- Mastcam
def mastcam_tile(seed: int, bands: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, size=(16, 16, bands))


def write_mastcam_archives(folder: Path, scratch: Path) -> dict:
    """train_typical.zip, test_typical.zip, test_novel.zip of .npy tiles as on Zenodo (test_typical
    wrapped in a same-named folder, the others not); test_novel/all/ repeats tiles and is never read."""
    train = scratch / "train_typical"
    test = scratch / "test_typical"
    novel = scratch / "test_novel"
    for i in range(4):
        train.mkdir(parents=True, exist_ok=True)
        np.save(train / f"mcam0000{i}_MR_0_sol0003_{i}.npy", mastcam_tile(i))
    for i in range(2):
        test.mkdir(parents=True, exist_ok=True)
        np.save(test / f"mcam0100{i}_R0_sol0150_{i}.npy", mastcam_tile(10 + i))
    classes = {"bedrock": 2, "drill-hole": 1, "veins": 1}
    n = 0
    for cls, k in classes.items():
        for j in range(k):
            (novel / cls).mkdir(parents=True, exist_ok=True)
            (novel / "all").mkdir(parents=True, exist_ok=True)
            tile = mastcam_tile(100 + n)
            np.save(novel / cls / f"mcam0200{n}_L0_sol0200_{n}.npy", tile)
            np.save(novel / "all" / f"mcam0200{n}_L0_sol0200_{n}.npy", tile)
            n += 1
    folder.mkdir(parents=True, exist_ok=True)
    zip_folder(train, folder / "train_typical.zip")                  # unwrapped
    zip_folder(test, folder / "test_typical.zip", "test_typical")    # wrapped
    zip_folder(novel, folder / "test_novel.zip", "test_novel")
    return {"train": 4, "test": 2, "classes": classes}


# ------------------------------------------------------------------------------------------- BrainMRI
def write_brainmri(root: Path) -> dict:
    base = root / "brain_tumor_dataset"
    normals = ["N1.JPG", "no 2.jpeg", "3 no.jpg", "No14.png"]
    tumors = ["Y1.jpg", "Y2.JPEG", "Y3.PNG"]
    for i, n in enumerate(normals):
        save(grey(10, 12, 60, seed=i), base / "no" / n, fmt="PNG" if n.lower().endswith(".png") else "JPEG")
    for i, n in enumerate(tumors):
        save(grey(10, 12, 160, seed=10 + i), base / "yes" / n, fmt="PNG" if n.lower().endswith(".png") else "JPEG",
             mode="RGB")
    (base / "no" / "Thumbs.db").write_bytes(b"not an image")
    return {"normals": normals, "tumors": tumors}


# --------------------------------------------------------------------------------------------- HeadCT
def write_headct(root: Path, n: int = 8) -> dict:
    labels = [0, 1] * (n // 2)
    images = root / "head_ct" / "head_ct"
    for i, lab in enumerate(labels):
        a = grey(12, 12, 90 + 40 * lab, seed=i)
        save(a, images / f"{i:03d}.png", mode="RGBA" if i % 3 == 0 else None)
    (root / "labels.csv").write_text("id, hemorrhage\n" + "".join(f"{i},{lab}\n" for i, lab in enumerate(labels)))
    return {"anomalies": {f"{i:03d}.png" for i, lab in enumerate(labels) if lab},
            "normals": {f"{i:03d}.png" for i, lab in enumerate(labels) if not lab}}


# ---------------------------------------------------------------------------------------- Hyper-Kvasir
HK_LANDMARKS = {"pylorus": 3, "retroflex-stomach": 2, "z-line": 3}
HK_FINDINGS = {"barretts": 1, "barretts-short-segment": 1, "esophagitis-a": 2, "esophagitis-b-d": 1}


def write_hyperkvasir(root: Path) -> dict:
    base = root / "labeled-images" / "upper-gi-tract"
    n = 0
    for group, folders in (("anatomical-landmarks", HK_LANDMARKS), ("pathological-findings", HK_FINDINGS)):
        for folder, k in folders.items():
            for _ in range(k):
                save(grey(9, 11, 100, seed=n), base / group / folder / f"{n:08x}-aaaa-bbbb.jpg", fmt="JPEG", mode="RGB")
                n += 1
    # the lower GI tract is not used
    save(grey(9, 11, 100, seed=99), root / "labeled-images" / "lower-gi-tract" / "pathological-findings" / "polyps"
         / "x.jpg", fmt="JPEG")
    return {"normals": sum(HK_LANDMARKS.values()), "classes": HK_FINDINGS}


# ------------------------------------------------------------------------------------------------ LAG
def write_lag(root: Path) -> dict:
    for d in ("non_glaucoma/image", "suspicious_glaucoma/image"):
        save(grey(10, 10, 70, seed=1), root / d / "1.jpg", fmt="JPEG", mode="RGB")
        save(grey(10, 10, 70, seed=2), root / d / "2.png", mode="RGB")
    save(grey(10, 10, 70, seed=3), root / "non_glaucoma" / "attention_map" / "1.jpg", fmt="JPEG")
    return {"names": {"non_glaucoma__image__1.jpg.png", "non_glaucoma__image__2.png",
                      "suspicious_glaucoma__image__1.jpg.png", "suspicious_glaucoma__image__2.png"}}


# ------------------------------------------------------------------------------------------- archives
def tar_with(archive: Path, members: list[tuple[str, str, str | bytes]]) -> Path:
    """A tar.gz of ('file'|'sym'|'hard', name, data-or-link-target) members."""
    with tarfile.open(archive, "w:gz") as tf:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = data.encode() if isinstance(data, str) else data
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = data
                tf.addfile(info)
    return archive
