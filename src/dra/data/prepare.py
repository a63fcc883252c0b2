"""raw layout -> `<out>/<subset>/{train/good,test/good,test/<class>}` + manifest.csv, checked.

Checks, each an error that names what it found: the paper's image counts (Table 5) where the
dataset has them; no empty normal folder; no image present twice under two labels (byte-identical
files); pixel masks of the image's size; no link to nothing. What `prepare` writes is printed: counts
per split and class beside the paper's, every group of byte-identical images, every empty
anomaly-class folder, every raw file left out (per reason), every raw image that is a link (written as
a regular file holding its target's bytes)."""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from dra.data.base import Expected, Item, split_normals
from dra.data.images import load_rgb, open_image, save_png
from dra.data.manifest import COLUMNS, MANIFEST, subset_counts
from dra.data.rawtools import recording_skips
from dra.data.registry import dataset_module
from dra.errors import DraError
from dra.fsutil import atomic_dir, remove_stale_temporaries, sha256_file

COUNTS_HINT = ("if your copy differs on purpose (a subset or a miniature), switch the check off: "
               "`--no-check-counts` on the command line, `check_counts: false` in the dataset's config")


def subsets_of(name: str, raw: Path | None, layout: str | None = None) -> tuple[str, ...]:
    mod = dataset_module(name, layout)
    if mod.SUBSETS:
        return tuple(mod.SUBSETS)
    return mod.discover_subsets(resolve_raw(name, raw, layout))


def resolve_raw(name: str, raw: Path | None, layout: str | None = None) -> Path:
    """`--raw` as given; without it, the module's default_raw() where it has one (ELPV: the installed package)."""
    if raw is not None:
        return Path(raw)
    default = getattr(dataset_module(name, layout), "default_raw", None)
    if default is None:
        raise DraError(f"{name}: --raw is required (the folder of the dataset's original layout)")
    return default()


def output_name(it: Item) -> str:
    """A PNG keeps its name; anything else is re-encoded as PNG and keeps its old name in front
    (`Y1.jpg` -> `Y1.jpg.png`), so two sources never meet in one name and no file's extension lies."""
    return it.name if it.name.lower().endswith(".png") else it.name + ".png"


def _folder(it: Item) -> str:
    return f"{it.split}/good" if it.label == 0 else f"test/{it.anomaly_class}"


def link_target(it: Item) -> Path | None:
    """The file a raw image that is a symbolic link points to (through any chain of links); None for a
    plain file. A link to nothing, or to something other than a regular file, is an error naming it."""
    if it.path is None or not it.path.is_symlink():
        return None
    target = Path(os.path.realpath(it.path))
    if not target.is_file():
        what = "which does not exist" if not target.exists() else "which is not a regular file"
        raise DraError(f"{it.path}: symbolic link to {target}, {what}; expected an image file or a link to one")
    return target


def _materialise(it: Item, dest: Path, linked: bool = False) -> tuple[int, int]:
    """Write the image; return its (height, width). `linked`: the raw file is a symbolic link, whose
    target's bytes are copied (never the link itself, which a later stage would refuse or, relative,
    find dangling)."""
    if it.load is not None:
        a = it.load()
        save_png(a, dest)
        return a.shape[:2]
    if it.path.suffix.lower() == ".png":
        data = it.path.read_bytes() if linked else None
        im = open_image(it.path, data)  # decode once: a truncated file is an error here, not in training
        if im.mode in ("RGB", "RGBA", "L", "LA", "P", "1"):  # 8-bit: the file as it is
            if linked:
                dest.write_bytes(data)  # the bytes just decoded
                return im.size[::-1]
            try:
                os.link(it.path, dest)
            except OSError:
                shutil.copyfile(it.path, dest)
            return im.size[::-1]
    a = load_rgb(it.path)
    save_png(a, dest)
    return a.shape[:2]


def _write_mask(it: Item, dest: Path, shape: tuple[int, int]) -> None:
    m = it.mask()
    if m.shape != tuple(shape):
        raise DraError(f"{it.source}: its mask is {m.shape[1]}x{m.shape[0]} pixels, the image {shape[1]}x{shape[0]}; "
                       "expected a mask of the image's size")
    save_png((m.astype("uint8") * 255), dest)


def check_counts(where: str, counts: dict, expected: Expected) -> None:
    found_anom = sum(counts["anomalies"].values())
    problems = []
    for key, want, got in (("train normal", expected.train_normal, counts["train_normal"]),
                           ("test normal", expected.test_normal, counts["test_normal"]),
                           ("anomalies", expected.anomalies, found_anom)):
        if want is not None and want != got:
            problems.append(f"{key}: expected {want}, found {got}")
    for cls, want in expected.per_class.items():
        got = counts["anomalies"].get(cls, 0)
        if want != got:
            problems.append(f"anomaly class {cls}: expected {want}, found {got}")
    if problems:
        raise DraError(f"{where}: image counts differ from the paper's (Table 5): " + "; ".join(problems)
                       + f". The paper's copy of this dataset gives exactly these numbers; {COUNTS_HINT}")


def check_not_empty(where: str, counts: dict, mod) -> None:
    """An empty train or test normal folder is an error here, never a crash in training."""
    folders = [("train normal", "train_normal")] + ([] if getattr(mod, "POOL_ONLY", False)
                                                    else [("test normal", "test_normal")])
    for what, key in folders:
        if counts[key] == 0:
            raise DraError(f"{where}: no {what} images (its folder is empty or absent); expected at least one")


def duplicate_groups(rows: list[dict], raw: Path, where: str) -> list[list[dict]]:
    """Groups of byte-identical prepared images (SHA-256). The same bytes under two labels, or two
    anomaly classes, is an error naming both files: one image cannot be both."""
    by_hash: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_hash[r["sha256"]].append(r)
    groups = []
    for members in by_hash.values():
        if len(members) < 2:
            continue
        kinds = {(m["label"], m["anomaly_class"]) for m in members}
        if len(kinds) > 1:
            a, b = (next(m for m in members if (m["label"], m["anomaly_class"]) == k) for k in sorted(kinds)[:2])
            raise DraError(f"{where}: {raw / a['source']} ({_what(a)}) and "
                           f"{raw / b['source']} ({_what(b)}) are byte-identical images "
                           f"(SHA-256 {a['sha256'][:16]}...) under two labels; one image cannot be both: "
                           "remove or relabel one of them")
        groups.append(sorted(members, key=lambda m: m["path"]))
    return sorted(groups, key=lambda g: g[0]["path"])


def _what(row: dict) -> str:
    return "normal" if row["label"] == 0 else f"anomaly, class {row['anomaly_class']}"


def _shown(p: Path, raw: Path) -> str:
    try:
        return str(Path(p).relative_to(raw))
    except ValueError:
        return str(p)


def skipped_lines(skipped: dict, raw: Path, examples: int = 3) -> list[str]:
    """Per reason: how many raw files were left out and a few of them."""
    lines = []
    for reason in sorted(skipped, key=lambda r: (-len(skipped[r]), r)):
        paths = sorted(skipped[reason])
        shown = ", ".join(_shown(p, raw) for p in paths[:examples]) + (", ..." if len(paths) > examples else "")
        lines.append(f"    {len(paths)} x {reason}: {shown}")
    return lines


def link_lines(links: list[tuple[Path, Path]], raw: Path, examples: int = 3) -> list[str]:
    root = Path(raw).resolve()
    outside = sum(1 for _, t in links if root not in t.parents)
    shown = ", ".join(f"{_shown(p, raw)} -> {t}" for p, t in links[:examples]) + (", ..." if len(links) > examples else "")
    return [f"  symbolic links: {len(links)} raw images are links, each read through its link and written as a "
            f"regular file holding its target's bytes" + (f" ({outside} point outside {raw})" if outside else "")
            + f": {shown}"]


def summary(name: str, subset: str, target: Path, df: pd.DataFrame, expected: Expected | None,
            groups: list[list[dict]], empty_classes: list[str], skipped: dict | None = None,
            links: list | None = None, raw: Path | None = None) -> str:
    """What prepare wrote, per split and class, beside the paper's counts; duplicates; empty folders;
    raw files left out, per reason; raw images that are links."""
    counts = subset_counts(df)
    paper = {}
    if expected is not None:
        paper = {("train", "normal"): expected.train_normal, ("test", "normal"): expected.test_normal,
                 **{("test", c): n for c, n in expected.per_class.items()}}
        if expected.anomalies is not None and not expected.per_class:
            paper[("test", "anomalies")] = expected.anomalies
    lines = [f"{name}/{subset}: wrote {target}",
             f"  {'split':<6} {'class':<24} {'images':>7} {'paper':>7}"]
    table = [("train", "normal", counts["train_normal"]), ("test", "normal", counts["test_normal"])]
    table += [("test", c, n) for c, n in counts["anomalies"].items()]
    for split, cls, n in table:
        want = paper.get((split, cls))
        lines.append(f"  {split:<6} {cls:<24} {n:>7} {'' if want is None else want:>7}")
    if ("test", "anomalies") in paper:
        lines.append(f"  {'test':<6} {'anomalies (all classes)':<24} {sum(counts['anomalies'].values()):>7} "
                     f"{paper[('test', 'anomalies')]:>7}")
    for cls in empty_classes:
        lines.append(f"  note: anomaly class folder {cls!r} holds no images; it is not in the manifest")
    if skipped:
        lines.append(f"  left out, not in the manifest ({sum(len(v) for v in skipped.values())} raw files or folders):")
        lines += skipped_lines(skipped, raw)
    if links:
        lines += link_lines(links, raw)
    if groups:
        by_kind = Counter(_what(g[0]) for g in groups)
        across = sum(1 for g in groups if g[0]["label"] == 0 and len({m["split"] for m in g}) > 1)
        lines.append(f"  byte-identical images: {len(groups)} groups ("
                     + ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())) + ")"
                     + (f"; {across} span train and test normals (the dataset's own twins: the normal split "
                        "stays the paper's; a split keeps a labeled anomaly's twins out of its test set)"
                        if across else "") + "; the manifest's duplicate_group column marks them:")
        for g in groups:
            lines.append("    " + " = ".join(f"{m['path']}" for m in g))
    return "\n".join(lines)


def prepare_subset(name: str, raw: Path, out: Path, subset: str, check: bool = True,
                   split_seed: int = 42, test_fraction: float = 0.25, layout: str | None = None,
                   report=lambda text: print(text, file=sys.stderr)) -> Path:
    """Write `out/<subset>/` whole or not at all; return the manifest path. `layout`: "mvtec" for a
    dataset of any name in the MVTec layout (no expected counts)."""
    mod = dataset_module(name, layout)
    raw = resolve_raw(name, raw, layout)
    if mod.SUBSETS and subset not in mod.SUBSETS:
        raise DraError(f"{name}: unknown subset {subset!r}; expected one of {list(mod.SUBSETS)}")
    with recording_skips() as skipped:
        items = mod.items(raw, subset)
    split_normals(items, split_seed, test_fraction)
    clash = [k for k, n in Counter((_folder(it), output_name(it)) for it in items).items() if n > 1]
    if clash:
        raise DraError(f"{raw}: {len(clash)} images of {name}/{subset} map to the same output name, e.g. {clash[0]}")
    where = f"{raw} ({name}/{subset})"
    target = Path(out) / subset
    expected = getattr(mod, "EXPECTED", {}).get(subset)
    links = []
    remove_stale_temporaries(target)  # a killed prepare's copies
    with atomic_dir(target) as tmp:
        rows = []
        for it in sorted(items, key=lambda it: (_folder(it), output_name(it))):
            rel = f"{_folder(it)}/{output_name(it)}"
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            linked = link_target(it)
            if linked is not None:
                links.append((it.path, linked))
            shape = _materialise(it, dest, linked is not None)
            mask = ""
            if it.mask is not None and it.label == 1:
                mask = f"ground_truth/{it.anomaly_class}/{output_name(it)}"
                (tmp / mask).parent.mkdir(parents=True, exist_ok=True)
                _write_mask(it, tmp / mask, shape)
            rows.append({"path": rel, "split": it.split, "label": it.label, "anomaly_class": it.anomaly_class,
                         "source": it.source, "sha256": sha256_file(dest), "duplicate_group": "", "mask": mask})
        counts = subset_counts(pd.DataFrame(rows, columns=COLUMNS))
        check_not_empty(where, counts, mod)
        groups = duplicate_groups(rows, raw, where)
        for g in groups:
            for m in g:
                m["duplicate_group"] = g[0]["path"]
        df = pd.DataFrame(rows, columns=COLUMNS)
        if check and expected is not None:
            check_counts(where, counts, expected)
            if hasattr(mod, "extra_checks"):  # a dataset's own rule (SDD: the paper's train count reported)
                mod.extra_checks(where, counts)
        empty = getattr(mod, "empty_class_folders", lambda raw, subset: [])(raw, subset)
        df.to_csv(tmp / MANIFEST, index=False)
    report(summary(name, subset, target, df, expected, groups, empty, skipped, links, raw))
    return target / MANIFEST
