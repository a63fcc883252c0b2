"""Shape and content checks of config/paper_results.csv, the published numbers transcribed once.

Column `source` says which paper a cell comes from: `dra2022` (the DRA paper, CVPR 2022) or
`ahl2024` (AHL, Zhu et al., CVPR 2024, Tables 1-2 as transcribed in shared/methods/AHL.md section 4).
The expected key sets are built here from the protocol's lists (PROTOCOL.md sections 1, 2 and 5, and
AHL.md section 4), independently of the CSV, so a missing, extra or mislabelled cell fails.
"""

from itertools import product
from pathlib import Path

import pandas as pd
import pytest

CSV = Path(__file__).resolve().parents[1] / "config" / "paper_results.csv"

COLUMNS = [
    "source", "table", "paper_row", "paper_column", "dataset", "subset", "setting",
    "method", "shots", "metric", "mean", "std",
]
KEY = ["table", "dataset", "subset", "setting", "method", "shots"]
FULL_KEY = ["source"] + KEY
SOURCES = {"dra2022", "ahl2024"}

MVTEC = [
    "carpet", "grid", "leather", "tile", "wood", "bottle", "capsule", "pill",
    "transistor", "zipper", "cable", "hazelnut", "metal_nut", "screw", "toothbrush",
]
OTHER = ["aitex", "sdd", "elpv", "optical", "mastcam", "brainmri", "headct", "hyperkvasir"]
TEXTURES = ["carpet", "grid", "leather", "tile", "wood"]

# (dataset, subset) -> hard classes, as the dataset folders spell them
HARD = {
    ("mvtecad", "carpet"): ["color", "cut", "hole", "metal_contamination", "thread"],
    ("mvtecad", "metal_nut"): ["bent", "color", "flip", "scratch"],
    ("aitex", "aitex"): ["Broken_end", "Broken_pick", "Cut_selvage", "Fuzzyball", "Nep", "Weft_crack"],
    ("elpv", "elpv"): ["mono", "poly"],
    ("mastcam", "mastcam"): [
        "bedrock", "broken-rock", "drill-hole", "drt", "dump-pile", "float",
        "meteorite", "scuff", "veins",
    ],
    ("hyperkvasir", "hyperkvasir"): [
        "barretts", "barretts-short-segment", "esophagitis-a", "esophagitis-b-d",
    ],
}
# Tables 3 and 4 report the hard setting of four datasets only
HARD_SMALL = [("mvtecad", "carpet"), ("aitex", "aitex"), ("elpv", "elpv"), ("hyperkvasir", "hyperkvasir")]

MAIN_METHODS = ["devnet", "flos", "saoe", "mlep", "dra"]


def general_subsets(with_mvtec_categories=True):
    out = [("mvtecad", c) for c in MVTEC] if with_mvtec_categories else []
    out.append(("mvtecad", "mean"))
    out += [(d, d) for d in OTHER]
    return out


def hard_subsets(groups):
    out = []
    for ds, sub in groups:
        out += [(ds, sub, f"hard-{c}") for c in HARD[(ds, sub)]]
        out.append((ds, sub, "hard-mean"))
    return out


def main_keys(table, cells):
    keys = set()
    for ds, sub, setting in cells:
        keys.add((table, ds, sub, setting, "kdad", 0))
        for m, shots in product(MAIN_METHODS, (1, 10)):
            keys.add((table, ds, sub, setting, m, shots))
    return keys


def ten_shot_keys(table, cells, methods):
    return {(table, ds, sub, setting, m, 10) for ds, sub, setting in cells for m in methods}


GENERAL = [(ds, sub, "general") for ds, sub in general_subsets()]
EXPECTED = {
    "table1_general": main_keys("table1_general", GENERAL),
    "table2_hard": main_keys("table2_hard", hard_subsets(HARD)),
    "table3_ablation": ten_shot_keys(
        "table3_ablation",
        [(ds, sub, "general") for ds, sub in general_subsets(with_mvtec_categories=False)]
        + hard_subsets(HARD_SMALL),
        ["dra_1a", "dra_2a", "dra_3ar", "dra_3an", "dra"],
    ),
    "table4_pseudo": ten_shot_keys(
        "table4_pseudo",
        hard_subsets(HARD_SMALL),
        ["dra_cpscar", "dra_cpmix", "dra_cutmix", "dra_extmvtec", "dra_extlag"],
    ),
    "table7_general_extra": ten_shot_keys("table7_general_extra", GENERAL, ["deepsad", "minns", "dra"]),
    "table8_hard_extra": ten_shot_keys("table8_hard_extra", hard_subsets(HARD), ["deepsad", "minns", "dra"]),
    "table9_crossdomain": {
        ("table9_crossdomain", "mvtecad", tgt, f"from-{src}", "dra_xdomain", 10)
        for tgt, src in product(TEXTURES, TEXTURES)
        if tgt != src
    }
    | {("table9_crossdomain", "mvtecad", tgt, "general", "kdad", 0) for tgt in TEXTURES},
}
EXPECTED_COUNTS = {
    "table1_general": 24 * 11,
    "table2_hard": 36 * 11,
    "table3_ablation": 30 * 5,
    "table4_pseudo": 21 * 5,
    "table7_general_extra": 24 * 3,
    "table8_hard_extra": 36 * 3,
    "table9_crossdomain": 20 + 5,
}


@pytest.fixture(scope="module")
def full():
    return pd.read_csv(CSV)


@pytest.fixture(scope="module")
def df(full):
    """The DRA paper's rows: every check below that takes `df` is about these."""
    return full[full["source"] == "dra2022"].reset_index(drop=True)


def test_columns(full):
    assert list(full.columns) == COLUMNS


def test_sources(full):
    assert full["source"].notna().all()
    assert set(full["source"]) == SOURCES


def test_rows_grouped_by_source(full):
    """DRA's rows first, AHL's appended after them."""
    n_dra = int((full["source"] == "dra2022").sum())
    assert (full["source"].iloc[:n_dra] == "dra2022").all()
    assert (full["source"].iloc[n_dra:] == "ahl2024").all()


def test_full_key_unique(full):
    dup = full[full.duplicated(FULL_KEY, keep=False)]
    assert dup.empty, dup[FULL_KEY].to_string()


def test_metric_and_types(df):
    assert set(df["metric"]) == {"auroc"}
    assert df["shots"].dtype.kind == "i"
    assert set(df["shots"]) == {0, 1, 10}
    assert df[["table", "paper_row", "paper_column", "dataset", "subset", "setting", "method"]].notna().all().all()


def test_tables_present(df):
    assert set(df["table"]) == set(EXPECTED)


@pytest.mark.parametrize("table", sorted(EXPECTED))
def test_expected_keys(df, table):
    sub = df[df["table"] == table]
    got = set(map(tuple, sub[KEY].itertuples(index=False, name=None)))
    assert got == EXPECTED[table], (
        f"missing {sorted(EXPECTED[table] - got)[:5]}, extra {sorted(got - EXPECTED[table])[:5]}"
    )
    assert len(sub) == EXPECTED_COUNTS[table] == len(EXPECTED[table])


def test_no_duplicate_keys(df):
    dup = df[df.duplicated(KEY, keep=False)]
    assert dup.empty, dup[KEY].to_string()


def test_no_duplicate_paper_cells(df):
    dup = df[df.duplicated(["table", "paper_row", "paper_column"], keep=False)]
    assert dup.empty, dup.to_string()


def test_values_in_unit_interval(df):
    assert df["mean"].notna().all()
    assert df["mean"].between(0, 1).all()
    std = df["std"].dropna()
    assert std.between(0, 1).all()


def test_std_printed_everywhere_but_table9(df):
    t9 = df["table"] == "table9_crossdomain"
    assert df.loc[~t9, "std"].notna().all()
    assert df.loc[t9, "std"].isna().all()


def test_kdad_only_unsupervised_zero_shots(df):
    assert set(df.loc[df["method"] == "kdad", "shots"]) == {0}
    assert (df.loc[df["shots"] == 0, "method"] == "kdad").all()


SPOT = [
    # table, dataset, subset, setting, method, shots, mean, std
    ("table1_general", "mvtecad", "carpet", "general", "dra", 10, 0.940, 0.027),
    ("table1_general", "mvtecad", "carpet", "general", "kdad", 0, 0.774, 0.005),
    ("table1_general", "mvtecad", "mean", "general", "dra", 1, 0.883, 0.008),
    ("table1_general", "mvtecad", "screw", "general", "devnet", 1, 0.399, 0.187),
    ("table1_general", "hyperkvasir", "hyperkvasir", "general", "mlep", 10, 0.600, 0.069),
    ("table1_general", "optical", "optical", "general", "saoe", 1, 0.815, 0.014),
    ("table2_hard", "mvtecad", "carpet", "hard-metal_contamination", "flos", 10, 0.678, 0.083),
    ("table2_hard", "mvtecad", "metal_nut", "hard-mean", "kdad", 0, 0.734, 0.005),
    ("table2_hard", "aitex", "aitex", "hard-Weft_crack", "mlep", 10, 0.370, 0.037),
    ("table2_hard", "mastcam", "mastcam", "hard-drill-hole", "dra", 10, 0.725, 0.005),
    ("table2_hard", "hyperkvasir", "hyperkvasir", "hard-mean", "saoe", 1, 0.406, 0.018),
    ("table2_hard", "hyperkvasir", "hyperkvasir", "hard-barretts-short-segment", "dra", 1, 0.674, 0.018),
    ("table3_ablation", "mvtecad", "mean", "general", "dra_1a", 10, 0.938, 0.009),
    ("table3_ablation", "optical", "optical", "general", "dra_1a", 10, 0.760, 0.038),
    ("table3_ablation", "hyperkvasir", "hyperkvasir", "hard-esophagitis-b-d", "dra_3an", 10, 0.805, 0.006),
    ("table4_pseudo", "mvtecad", "carpet", "hard-color", "dra_cpmix", 10, 0.967, 0.048),
    ("table4_pseudo", "aitex", "aitex", "hard-Weft_crack", "dra_cpmix", 10, 0.507, 0.293),
    ("table4_pseudo", "hyperkvasir", "hyperkvasir", "hard-mean", "dra_cutmix", 10, 0.751, 0.021),
    ("table7_general_extra", "mvtecad", "capsule", "general", "deepsad", 10, 0.476, 0.022),
    ("table7_general_extra", "hyperkvasir", "hyperkvasir", "general", "minns", 10, 0.647, 0.051),
    ("table8_hard_extra", "mvtecad", "metal_nut", "hard-flip", "minns", 10, 1.000, 0.000),
    ("table8_hard_extra", "mastcam", "mastcam", "hard-float", "deepsad", 10, 0.408, 0.022),
    ("table9_crossdomain", "mvtecad", "carpet", "from-grid", "dra_xdomain", 10, 0.833, None),
    ("table9_crossdomain", "mvtecad", "grid", "from-carpet", "dra_xdomain", 10, 0.983, None),
    ("table9_crossdomain", "mvtecad", "leather", "from-wood", "dra_xdomain", 10, 1.000, None),
    ("table9_crossdomain", "mvtecad", "wood", "from-tile", "dra_xdomain", 10, 0.948, None),
    ("table9_crossdomain", "mvtecad", "tile", "general", "kdad", 0, 0.911, None),
]


@pytest.mark.parametrize("key,mean,std", [(s[:6], s[6], s[7]) for s in SPOT])
def test_spot_values(df, key, mean, std):
    row = df.set_index(KEY).loc[[key]]
    assert len(row) == 1
    assert row["mean"].iloc[0] == pytest.approx(mean, abs=1e-9)
    if std is None:
        assert pd.isna(row["std"].iloc[0])
    else:
        assert row["std"].iloc[0] == pytest.approx(std, abs=1e-9)


def _cells(df, mask):
    return df[mask].set_index(["dataset", "subset", "setting"])[["mean", "std"]].sort_index()


def test_dra_repeated_cells_agree(df):
    """The paper repeats DRA's ten-shot numbers in Tables 3, 4, 7 and 8; they must equal Tables 1/2."""
    ref = _cells(df, df["table"].isin(["table1_general", "table2_hard"])
                 & (df["method"] == "dra") & (df["shots"] == 10))
    for table in ["table3_ablation", "table7_general_extra", "table8_hard_extra"]:
        got = _cells(df, (df["table"] == table) & (df["method"] == "dra"))
        pd.testing.assert_frame_equal(got, ref.loc[got.index])
    # Table 4: the default pseudo source is CutMix, except LAG on the medical dataset Hyper-Kvasir
    t4 = df["table"] == "table4_pseudo"
    default = t4 & (((df["method"] == "dra_cutmix") & (df["dataset"] != "hyperkvasir"))
                    | ((df["method"] == "dra_extlag") & (df["dataset"] == "hyperkvasir")))
    got = _cells(df, default)
    pd.testing.assert_frame_equal(got, ref.loc[got.index])


def test_table9_kdad_is_table1_kdad(df):
    t9 = _cells(df, (df["table"] == "table9_crossdomain") & (df["method"] == "kdad"))["mean"]
    t1 = _cells(df, (df["table"] == "table1_general") & (df["method"] == "kdad"))["mean"]
    pd.testing.assert_series_equal(t9, t1.loc[t9.index])


# ---------------------------------------------------------------- AHL (CVPR 2024), Tables 1 and 2
# Built from AHL.md section 4, independently of the CSV.
AHL_TABLE = "table_ahl"
AHL_GENERAL = [(d, d) for d in OTHER] + [("mvtecad", "mean")]  # Table 1 rows, in the paper's order
AHL_HARD = [  # Table 2 rows (mean over each dataset's seen classes), in the paper's order
    ("mvtecad", "carpet"), ("mvtecad", "metal_nut"), ("aitex", "aitex"),
    ("elpv", "elpv"), ("mastcam", "mastcam"), ("hyperkvasir", "hyperkvasir"),
]
# the printed columns, in order: (shots, method); each AHL(x) column follows its base x
AHL_COLUMNS = [
    (10, "devnet"), (10, "ahl_devnet"), (10, "dra"), (10, "ahl_dra"),
    (1, "devnet"), (1, "ahl_devnet"), (1, "dra"), (1, "ahl_dra"),
]
AHL_BASE = {"ahl_devnet": "devnet", "ahl_dra": "dra"}
AHL_ROWS = [(ds, sub, "general") for ds, sub in AHL_GENERAL] + [(ds, sub, "hard-mean") for ds, sub in AHL_HARD]
AHL_ORDER = [(AHL_TABLE, ds, sub, setting, m, shots) for ds, sub, setting in AHL_ROWS for shots, m in AHL_COLUMNS]
AHL_EXPECTED = set(AHL_ORDER)


@pytest.fixture(scope="module")
def ahl(full):
    return full[full["source"] == "ahl2024"].reset_index(drop=True)


def test_ahl_expected_keys(ahl):
    assert set(ahl["table"]) == {AHL_TABLE}
    got = set(map(tuple, ahl[KEY].itertuples(index=False, name=None)))
    assert got == AHL_EXPECTED, (
        f"missing {sorted(AHL_EXPECTED - got)[:5]}, extra {sorted(got - AHL_EXPECTED)[:5]}"
    )
    assert len(ahl) == len(AHL_EXPECTED) == 9 * 8 + 6 * 8 == 120


def test_ahl_no_duplicate_keys(ahl):
    dup = ahl[ahl.duplicated(KEY, keep=False)]
    assert dup.empty, dup[KEY].to_string()
    # Tables 1 and 2 print the same row labels (AITEX, ELPV, ...); setting tells them apart
    dup = ahl[ahl.duplicated(["table", "setting", "paper_row", "paper_column"], keep=False)]
    assert dup.empty, dup.to_string()


def test_ahl_row_order(ahl):
    got = list(map(tuple, ahl[KEY].itertuples(index=False, name=None)))
    assert got == AHL_ORDER


def test_ahl_types_and_values(ahl):
    assert set(ahl["metric"]) == {"auroc"}
    assert ahl["shots"].dtype.kind == "i"
    assert set(ahl["shots"]) == {1, 10}
    assert ahl[["table", "paper_row", "paper_column", "dataset", "subset", "setting", "method"]].notna().all().all()
    assert ahl["mean"].notna().all() and ahl["mean"].between(0, 1).all()
    assert ahl["std"].notna().all() and ahl["std"].between(0, 1).all()


def test_ahl_paper_column_matches_key(ahl):
    head = {10: "Ten Training Anomaly Examples", 1: "One Training Anomaly Example"}
    label = {"devnet": "DevNet", "ahl_devnet": "AHL(Dev)", "dra": "DRA", "ahl_dra": "AHL(DRA)"}
    want = [f"{head[s]} / {label[m]}" for s, m in zip(ahl["shots"], ahl["method"])]
    assert list(ahl["paper_column"]) == want


def test_ahl_improves_on_its_base(ahl):
    """Every published AHL(x) cell is at least x's cell in the same row and shot count."""
    mean = ahl.set_index(["dataset", "subset", "setting", "method", "shots"])["mean"]
    bad = []
    for ds, sub, setting in AHL_ROWS:
        for shots in (1, 10):
            for m, base in AHL_BASE.items():
                a, b = mean.loc[(ds, sub, setting, m, shots)], mean.loc[(ds, sub, setting, base, shots)]
                if a < b:
                    bad.append((ds, sub, setting, shots, m, a, b))
    assert not bad, bad


AHL_SPOT = [
    # dataset, subset, setting, method, shots, mean, std (read off AHL.md section 4)
    ("aitex", "aitex", "general", "ahl_dra", 10, 0.925, 0.013),
    ("headct", "headct", "general", "dra", 10, 0.978, 0.001),  # CVPR value; arXiv Table 7 prints .988
    ("mvtecad", "mean", "general", "ahl_devnet", 1, 0.843, 0.021),
    ("mvtecad", "carpet", "hard-mean", "ahl_dra", 1, 0.932, 0.003),
    ("mvtecad", "metal_nut", "hard-mean", "devnet", 10, 0.970, 0.009),
    ("hyperkvasir", "hyperkvasir", "hard-mean", "dra", 1, 0.699, 0.009),
]


@pytest.mark.parametrize("key,mean,std", [((AHL_TABLE,) + s[:5], s[5], s[6]) for s in AHL_SPOT])
def test_ahl_spot_values(ahl, key, mean, std):
    row = ahl.set_index(KEY).loc[[key]]
    assert len(row) == 1
    assert row["mean"].iloc[0] == pytest.approx(mean, abs=1e-9)
    assert row["std"].iloc[0] == pytest.approx(std, abs=1e-9)
