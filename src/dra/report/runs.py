"""Read run files into one tidy frame, one row per run, trusting nothing: a metrics.json is checked
(types, ranges, its six run words against its folder), and where the run's scores.csv is given, the
file is checked against the digest metrics.json records and the image metrics are recomputed from
it and compared. Every failure is a DraError naming the file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from dra.errors import DraError
from dra.evaluate import IMAGE_METRICS, image_metrics
from dra.report.deviations import deviations, reasons
from dra.fsutil import sha256_file
from dra.plan.runkey import RUN_FILES, WORDS, Run

KEYS = list(WORDS)
FIELDS = ["auroc", "aupr", "tpr_at_fpr_1", "tpr_at_fpr_5", "fpr_at_tpr_95", "class_auroc", "pixel_auroc", "aupro",
          "seconds", "train_seconds", "images_per_second", "peak_memory_mb", "device", "device_type", "threads", "amp",
          "torch", "budget", "weights", "image_size", "epochs", "iterations", "images_seen", "n_train_normal",
          "n_labeled", "n_test", "pseudo_source", "outliers", "texture_source", "deviations", "git_commit",
          "config_digest", "scores_sha256"]
UNIT_METRICS = (*IMAGE_METRICS, "pixel_auroc", "aupro")  # each None or a number in [0, 1]
SCORE_COLUMNS = ["id", "label", "anomaly_class", "score"]
TOLERANCE = 1e-6  # scores.csv keeps float32 scores exactly (9 significant digits): recomputed metrics agree
RERUN = "delete its run folder and rerun"


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def check_spec(path: Path, spec) -> Run:
    """The run's six words, typed, and matching the folder the file is in."""
    if not isinstance(spec, dict):
        raise DraError(f"{path}: run metrics lack a spec object; not a run of this pipeline")
    missing = [k for k in KEYS if spec.get(k) is None]
    if missing:
        raise DraError(f"{path}: run metrics lack {missing} in their spec; not a run of this pipeline")
    for k in KEYS[:4]:
        if not isinstance(spec[k], str) or not spec[k] or "/" in spec[k]:
            raise DraError(f"{path}: spec.{k} is {spec[k]!r}; expected a name (text without '/')")
    for k in KEYS[4:]:
        if not _is_int(spec[k]) or spec[k] < 0:
            raise DraError(f"{path}: spec.{k} is {spec[k]!r}; expected a whole number >= 0")
    run = Run(*(spec[k] for k in KEYS))
    expected = run.dir("").lstrip("/")  # runs/<variant>/<dataset>/<subset>/<setting>/<shots>shot/seed<seed>
    folder = Path(path).resolve().parent.as_posix()
    if not folder.endswith("/" + expected):
        raise DraError(f"{path}: its spec names the run {expected}, but the file is in {folder}; a metrics.json "
                       "belongs in its own run's folder")
    return run


def check_values(path: Path, m: dict) -> None:
    """Metrics in [0, 1] (or None where a run has none), numbers where numbers are due."""
    for k in UNIT_METRICS:
        v = m.get(k)
        if v is None and k != "auroc":
            continue
        if not _is_number(v) or not math.isfinite(v) or not 0 <= v <= 1:
            raise DraError(f"{path}: {k} is {v!r}; expected a number in [0, 1]")
    per_class = m.get("class_auroc")
    if per_class is not None:
        if not isinstance(per_class, dict):
            raise DraError(f"{path}: class_auroc is {per_class!r}; expected {{class: AUROC}}")
        for c, v in per_class.items():
            if not _is_number(v) or not 0 <= v <= 1:
                raise DraError(f"{path}: class_auroc[{c!r}] is {v!r}; expected a number in [0, 1]")
    spec = m["spec"]
    if "budget" in spec and (not _is_number(spec["budget"]) or not spec["budget"] > 0):
        raise DraError(f"{path}: spec.budget is {spec['budget']!r}; expected a number > 0")
    if "image_size" in spec and (not _is_int(spec["image_size"]) or spec["image_size"] < 1):
        raise DraError(f"{path}: spec.image_size is {spec['image_size']!r}; expected a whole number of pixels")
    digest = m.get("scores_sha256")
    if digest is not None and (not isinstance(digest, str) or len(digest) != 64
                               or any(ch not in "0123456789abcdef" for ch in digest)):
        raise DraError(f"{path}: scores_sha256 is {digest!r}; expected 64 lower-case hex digits")


def load_metrics(path: Path) -> dict:
    """A run's metrics.json, parsed and checked."""
    try:
        m = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DraError(f"{path}: unreadable run metrics ({e}); {RERUN}") from None
    if not isinstance(m, dict):
        raise DraError(f"{path}: run metrics are {type(m).__name__}; expected a JSON object")
    check_spec(path, m.get("spec"))
    check_values(path, m)
    return m


def read_metrics(path: Path) -> dict:
    """One row of runs.csv from a run's metrics.json (checked); `spec` keeps the run's full spec."""
    m = load_metrics(path)
    spec = m["spec"]
    row = {k: spec.get(k) for k in KEYS}
    row.update({k: m.get(k) for k in FIELDS})
    row["torch"] = m.get("versions", {}).get("torch") if isinstance(m.get("versions"), dict) else None
    row["budget"] = spec.get("budget", 1.0)
    row["weights"] = spec.get("weights")
    row["image_size"] = spec.get("image_size")
    row["deviations"] = reasons(deviations(spec))
    row["path"] = str(Path(path).parent)
    row["spec"] = spec
    return row


def runs_frame(paths: list[Path]) -> pd.DataFrame:
    """One row per run (metrics.json files), with the full spec (a dict) in column `spec`."""
    return pd.DataFrame([read_metrics(p) for p in paths], columns=KEYS + FIELDS + ["path", "spec"])


def csv_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """runs.csv's form: per-class AUROCs as one JSON column, no nested spec."""
    out = runs.drop(columns=["spec"], errors="ignore").copy()
    out["class_auroc"] = [json.dumps(v, sort_keys=True) if isinstance(v, dict) else ""
                          for v in out["class_auroc"]]
    return out


# --- scores.csv ------------------------------------------------------------------------------------


def read_scores(path: Path) -> pd.DataFrame:
    """A run's scores.csv: id, label (0/1), anomaly_class, score (finite), one row per test image."""
    try:
        df = pd.read_csv(path, dtype={"id": str, "anomaly_class": str}, keep_default_na=False,
                         na_values={"score": ["", "nan", "NaN"]})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise DraError(f"{path}: unreadable scores ({e}); {RERUN}") from None
    lacking = [c for c in SCORE_COLUMNS if c not in df.columns]
    if lacking:
        raise DraError(f"{path}: scores lack columns {lacking}; expected {SCORE_COLUMNS}")
    labels = pd.to_numeric(df["label"], errors="coerce")
    scores = pd.to_numeric(df["score"], errors="coerce")
    if not labels.isin([0, 1]).all():
        raise DraError(f"{path}: label holds {sorted(set(df['label'][~labels.isin([0, 1])].astype(str)))[:3]}; "
                       "expected 0 or 1")
    if not np.isfinite(scores.to_numpy(dtype=float)).all():
        raise DraError(f"{path}: {int((~np.isfinite(scores.to_numpy(dtype=float))).sum())} scores are not finite "
                       "numbers")
    if df["id"].duplicated().any():
        raise DraError(f"{path}: test image {df['id'][df['id'].duplicated()].iloc[0]!r} is listed twice")
    return pd.DataFrame({"id": df["id"], "label": labels.astype(int), "anomaly_class": df["anomaly_class"],
                         "score": scores.astype(float)})


def verify_run(metrics_path: Path, scores_path: Path) -> tuple[dict, pd.DataFrame]:
    """The run's image metrics recomputed from scores.csv, after checking the file against the digest
    metrics.json records and every image metric metrics.json holds against the recomputed one."""
    m = load_metrics(metrics_path)
    recorded = m.get("scores_sha256")
    if recorded is None:
        raise DraError(f"{metrics_path}: records no scores_sha256, so its {scores_path} cannot be checked against "
                       f"it (a run of an older version, or an edited file); {RERUN}")
    if sha256_file(scores_path) != recorded:
        raise DraError(f"{scores_path}: its SHA-256 differs from the scores_sha256 in {metrics_path}: the scores "
                       f"were edited or corrupted after the run; {RERUN}")
    scores = read_scores(scores_path)
    computed = image_metrics(scores.label.to_numpy(), scores.score.to_numpy(), scores.anomaly_class.to_numpy(),
                             str(scores_path))
    if computed["auroc"] is None:
        raise DraError(f"{scores_path}: {computed['undefined']}; a run's test set holds normals and anomalies")
    for k in IMAGE_METRICS:
        if m.get(k) is not None and abs(m[k] - computed[k]) > TOLERANCE:
            raise DraError(f"{metrics_path}: {k} is {m[k]!r}, but its scores.csv ({scores_path}) gives "
                           f"{computed[k]:.6f}; the file was edited or belongs to another run; {RERUN}")
    recorded_classes = m.get("class_auroc")
    if recorded_classes:
        mismatch = sorted(c for c in set(recorded_classes) | set(computed["class_auroc"])
                          if abs(recorded_classes.get(c, -1) - computed["class_auroc"].get(c, -1)) > TOLERANCE)
        if mismatch:
            raise DraError(f"{metrics_path}: class_auroc of {mismatch[:3]} differs from what its scores.csv "
                           f"({scores_path}) gives; {RERUN}")
    return computed, scores


def pair_run_files(paths: list[Path]) -> list[tuple[Path, Path | None]]:
    """(metrics.json, scores.csv or None) per run folder, from a list holding either or both."""
    by_folder: dict[Path, dict[str, Path]] = {}
    for p in paths:
        p = Path(p)
        kind = {RUN_FILES["metrics"]: "metrics", RUN_FILES["scores"]: "scores"}.get(p.name)
        if kind is None:
            raise DraError(f"{p}: not a run file; expected <run folder>/{RUN_FILES['metrics']} or "
                           f"<run folder>/{RUN_FILES['scores']}")
        by_folder.setdefault(p.parent, {})[kind] = p
    out = []
    for folder, files in by_folder.items():
        if "metrics" not in files:
            raise DraError(f"{files['scores']}: given without its run's {RUN_FILES['metrics']}")
        out.append((files["metrics"], files.get("scores")))
    return out


def verified_runs_frame(paths: list[Path], require_scores: bool = True) -> tuple[pd.DataFrame, dict]:
    """runs_frame from the given run files, each run's image metrics recomputed from its scores.csv
    (checked as verify_run does); also {run key: its scores (DataFrame)}."""
    rows, scores = [], {}
    for metrics_path, scores_path in pair_run_files(paths):
        if scores_path is None:
            if require_scores:
                raise DraError(f"{metrics_path}: given without its run's {RUN_FILES['scores']}, which the table "
                               "needs to check the metrics and to bootstrap")
            rows.append(read_metrics(metrics_path))
            continue
        computed, table = verify_run(metrics_path, scores_path)
        row = read_metrics(metrics_path)
        row.update({k: computed[k] for k in (*IMAGE_METRICS, "class_auroc")})
        rows.append(row)
        scores[tuple(row[k] for k in KEYS)] = table
    return pd.DataFrame(rows, columns=KEYS + FIELDS + ["path", "spec"]), scores

