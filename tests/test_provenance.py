"""Provenance a reader needs where they look (issue 22, item 9): every parameter set away from the
paper's protocol and AHL's textures in each table's footer (Markdown, HTML and the LaTeX's comments)
and in summary.md; runs.csv's weights, image size and texture source; the reproduction table under
the names the tables use. Every name escaped for its format."""

from __future__ import annotations

import json
import re

import pandas as pd

from conftest import ROOT
from dra.plan.config import deep_merge, load_config, run_spec
from dra.plan.configcheck import check_config, coerce
from dra.plan.matrix import all_runs, provenance, table_layout
from dra.report.reproduction import flagged, markdown as reproduction_markdown, read_tables, summary
from dra.report.runs import csv_frame, runs_frame
from dra.report.summary import markdown as summary_markdown
from dra.report.cells import cells, stats
from dra.report.tables import latex, markdown, to_html
from runfiles import write_run

HOSTILE = "Dev<b>|Net_$%"


def study(**over) -> dict:
    cfg = load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "studies" / "elpv-cpu.yaml")
    sel = {"select": {"datasets": ["elpv"], "variants": ["devnet", "ahl_devnet"], "tables": ["table_ahl"],
                      "shots": [10]}, "seeds": [0],
           "methods": {"ahl_devnet": {"texture_source": "synthetic", "inner_steps": 4}}}
    return check_config(coerce(deep_merge(deep_merge(cfg, sel), over)))


def test_provenance_lists_what_a_config_sets_away_from_the_protocol_and_ahls_textures():
    p = provenance(study(), all_runs(study()))
    assert p["overrides"]["devnet"]["iterations"] == ["2", "20"]  # elpv-cpu: 2 steps per epoch, not 20
    assert p["overrides"]["ahl_devnet"]["inner_steps"] == ["4", "41"]
    assert p["overrides"]["ahl_devnet"]["texture_source"] == ["synthetic", "dtd"]
    assert "epochs" not in p["overrides"]["devnet"]  # the budget and the epochs line say it
    assert p["textures"] == {"ahl_devnet": ["synthetic"]}
    protocol = check_config(coerce(deep_merge(load_config(ROOT / "config" / "config.yaml"),
                                              {"select": {"datasets": ["elpv"], "tables": ["table_ahl"]}})))
    assert provenance(protocol, all_runs(protocol))["overrides"] == {}


def _table(tmp_path, cfg):
    layout = table_layout(cfg, "table_ahl")
    layout["labels"] = {**layout["labels"], "devnet": HOSTILE}
    rows = []
    for d, s, st in layout["rows"]:
        for v, k in layout["columns"]:
            rows.append({"variant": v, "dataset": d, "subset": s, "setting": st, "shots": k, "seed": 0,
                         "auroc": 0.5 if v == "devnet" else 0.6, "git_commit": "abc"})
    runs = pd.DataFrame(rows)
    paper = pd.read_csv(ROOT / "config" / "paper_results.csv")
    df = cells(layout, runs, paper)
    return layout, runs, df


def test_each_table_footer_says_the_overrides_and_textures_in_every_format_escaped(tmp_path):
    layout, runs, df = _table(tmp_path, study())
    ranks, tests = stats(df)
    md = markdown(layout, df, ranks, tests, runs).split("\n---\n")[-1]
    assert "Set away from the paper's protocol" in md and "iterations 2 (20)" in md and "inner_steps 4 (41)" in md
    assert "AHL's pseudo-anomaly textures" in md and "generated noise (texture_source: synthetic)" in md
    assert "Epochs: " in md
    assert "Dev\\<b\\>\\|Net" in md and "Dev<b>" not in md
    html = to_html(layout, df, ranks, tests, runs)
    assert "iterations 2 (20)" in html and "Dev&lt;b&gt;|Net" in html and "Dev<b>" not in html
    tex = latex(layout, df, runs=runs)
    footer = tex.split("\\end{tabular}")[-1]
    assert all(line.startswith("% ") for line in footer.strip().splitlines())
    assert "iterations 2 (20)" in footer and "texture\\_source synthetic (dtd)" in footer
    assert "Net\\_\\$\\%" in footer and "Net_$%" not in footer


def test_summary_md_says_the_overrides_too(tmp_path):
    cfg = study()
    runs = all_runs(cfg)
    plan = {"provenance": provenance(cfg, runs), "runs": [list(r.words().values()) for r in runs],
            "tables": ["table_ahl"], "plots": []}
    done = pd.DataFrame([{**r.words(), "git_commit": "abc"} for r in runs[:2]])
    text = summary_markdown(plan, done, None)
    assert "iterations 2 (20)" in text and "generated noise (texture_source: synthetic)" in text
    assert "2 done, 4 missing, of 6" in text


def test_runs_csv_has_weights_image_size_and_texture_source(tmp_path):
    folder = write_run(tmp_path, "ahl_devnet", "elpv", "elpv", "general", 10, 0, [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9],
                       weights="none", image_size=64, params={"texture_source": "synthetic"})
    m = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**m, "texture_source": "synthetic"}))
    row = csv_frame(runs_frame([folder / "metrics.json"])).iloc[0]
    assert (row["weights"], row["image_size"], row["texture_source"]) == ("none", 64, "synthetic")


def test_the_reproduction_table_uses_the_names_the_tables_use(tmp_path):
    cfg = check_config(coerce(deep_merge(load_config(ROOT / "config" / "config.yaml"),
                                         {"select": {"datasets": ["elpv"], "variants": ["devnet"],
                                                     "tables": ["table1_general"], "shots": [10]}})))
    layout = table_layout(cfg, "table1_general")
    layout["labels"] = {"devnet": HOSTILE}
    runs = pd.DataFrame([{"variant": "devnet", "dataset": "elpv", "subset": "elpv", "setting": "general",
                          "shots": 10, "seed": s, "auroc": 0.3,
                          "spec": run_spec(cfg, "devnet", "elpv", "elpv", "general", 10, s)} for s in (0, 1, 2)])
    df = cells(layout, runs, pd.read_csv(ROOT / "config" / "paper_results.csv"))
    assert df.flagged.any(), "ELPV DevNet 10-shot at 0.3 is flagged against the paper's number"
    df.to_csv(tmp_path / "t.csv", index=False)
    back = read_tables([tmp_path / "t.csv"])
    text = reproduction_markdown(summary(back), flagged(back))
    flagged_part = text.split("## Flagged cells")[1]
    assert "ELPV" in flagged_part and "Dev\\<b\\>\\|Net" in flagged_part
    header, row = [line for line in flagged_part.splitlines() if line.startswith("|")][0::2][:2]
    cells_of = lambda line: [c.strip() for c in re.split(r"(?<!\\)\|", line)]  # noqa: E731 - `\|` is text
    shown = dict(zip(cells_of(header), cells_of(row)))
    assert shown["dataset"] == "ELPV" and shown["variant"] == "Dev\\<b\\>\\|Net_$%", shown
