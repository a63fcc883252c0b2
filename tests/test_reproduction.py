"""The reproduction table gathers the flagged cells of every table, largest difference first."""

import subprocess
import sys

import pandas as pd
import pytest

from dra.report.reproduction import flagged, markdown, read_tables, summary
from dra.report.cells import CELL_COLUMNS


def table(name, rows):
    """rows: (subset, variant, mean, std, n, paper_mean, paper_std, flagged)"""
    out = []
    for s, v, m, sd, n, pm, ps, f in rows:
        out.append({"table": name, "dataset": "mvtecad", "subset": s, "setting": "general", "variant": v, "shots": 10,
                    "metric": "auroc", "mean": m, "std": sd, "n": n, "seeds": "", "values": "", "missing_seeds": "",
                    "paper_mean": pm, "paper_std": ps, "diff": m - pm if pm == pm else float("nan"),
                    "flagged": f, "best": False})
    return pd.DataFrame(out, columns=CELL_COLUMNS)


@pytest.fixture
def csvs(tmp_path):
    nan = float("nan")
    t1 = table("table1_general", [("carpet", "dra", 0.90, 0.01, 3, 0.94, 0.01, True),
                                  ("grid", "dra", 0.70, 0.01, 3, 0.99, 0.01, True),
                                  ("tile", "dra", 0.95, 0.01, 3, 0.95, 0.01, False),
                                  ("wood", "devnet", 0.80, 0.01, 3, nan, nan, False)])
    t2 = table("table2_hard", [("carpet", "dra", nan, nan, 0, 0.90, 0.02, False),
                               ("grid", "devnet", 0.60, 0.00, 3, 0.50, 0.01, True)])
    paths = [tmp_path / "t1.csv", tmp_path / "t2.csv"]
    t1.to_csv(paths[0], index=False)
    t2.to_csv(paths[1], index=False)
    return paths


def test_flagged_cells_and_counts(csvs):
    cells = read_tables(csvs)
    s = summary(cells).set_index("table")
    assert s.loc["table1_general", ["cells", "compared", "flagged"]].tolist() == [4, 3, 2]
    assert s.loc["table2_hard", ["cells", "compared", "flagged"]].tolist() == [2, 1, 1]  # a missing cell is not compared
    assert s.loc["table1_general", "mean_abs_diff"] == pytest.approx((0.04 + 0.29 + 0.0) / 3)
    f = flagged(cells)
    assert list(zip(f.table, f.subset)) == [("table1_general", "grid"), ("table1_general", "carpet"),
                                           ("table2_hard", "grid")]
    md = markdown(summary(cells), f)
    assert "4 cells have both our number and the paper's; 3 differ" in md and "| table2_hard" in md


def test_command_writes_csv_and_markdown(csvs, tmp_path):
    out = tmp_path / "res" / "reproduction"
    r = subprocess.run([sys.executable, "-m", "dra", "reproduction", *map(str, csvs), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "4 cells compared with the paper, 3 flagged" in r.stdout
    assert len(pd.read_csv(f"{out}.csv")) == 3 and (tmp_path / "res" / "reproduction.md").is_file()


def test_a_file_that_is_not_a_table_is_named(tmp_path):
    bad = tmp_path / "runs.csv"
    pd.DataFrame({"variant": ["dra"], "auroc": [0.9]}).to_csv(bad, index=False)
    r = subprocess.run([sys.executable, "-m", "dra", "reproduction", str(bad), "--out", str(tmp_path / "r")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and str(bad) in r.stderr and "lacks columns" in r.stderr
    assert not list(tmp_path.glob("r.*"))
