"""Issue 21 in the report layer: run files are checked, not trusted (an edited metrics.json or
scores.csv is refused with an error naming the file), and every name a table or the report shows is
escaped: hostile class folders, dataset labels, variant labels and captions stay text."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from dra.errors import DraError
from dra.escape import latex_text, rst_text
from dra.report.runs import csv_frame, runs_frame, verified_runs_frame
from runfiles import files, layout, write_run

LABELS = np.r_[np.zeros(30, int), np.ones(20, int)]


@pytest.fixture
def run(tmp_path):
    scores = np.random.default_rng(0).normal(LABELS * 1.0, 1.0)
    classes = [""] * 30 + ["crack", "hole"] * 10
    return write_run(tmp_path, "dra", "elpv", "elpv", "hard-mono", 10, 0, LABELS, scores, classes)


def table_cli(tmp_path, folders, lay) -> subprocess.CompletedProcess:
    (tmp_path / "layout.json").write_text(json.dumps(lay))
    return subprocess.run([sys.executable, "-m", "dra", "table", lay["name"], *map(str, files(folders)),
                           "--layout", f"@{tmp_path / 'layout.json'}", "--paper", str(ROOT / "config/paper_results.csv"),
                           "--out", str(tmp_path / "out" / "t"), "--classes-out", str(tmp_path / "out" / "c")],
                          capture_output=True, text=True)


# --- run files are checked ------------------------------------------------------------------------

def edit_metrics(folder: Path, **changes) -> None:
    m = json.loads((folder / "metrics.json").read_text())
    for k, v in changes.items():
        if k in m["spec"]:
            m["spec"][k] = v
        else:
            m[k] = v
    (folder / "metrics.json").write_text(json.dumps(m))


@pytest.mark.parametrize("edit, says", [
    ({"auroc": 7.5}, "auroc is 7.5; expected a number in [0, 1]"),
    ({"auroc": "abc"}, "auroc is 'abc'; expected a number in [0, 1]"),
    ({"auroc": 0.999}, "auroc is 0.999, but its scores.csv"),
    ({"tpr_at_fpr_5": 0.001}, "tpr_at_fpr_5 is 0.001, but its scores.csv"),
    ({"variant": "devnet"}, "its spec names the run runs/devnet/elpv/elpv/hard-mono/10shot/seed0, but the file is in"),
    ({"seed": "0"}, "spec.seed is '0'; expected a whole number"),
])
def test_an_edited_metrics_json_is_refused_naming_it(tmp_path, run, edit, says):
    edit_metrics(run, **edit)
    with pytest.raises(DraError, match=re.escape(says)) as e:
        verified_runs_frame(files([run]))
    assert str(run / "metrics.json") in str(e.value)


def test_an_edited_scores_csv_is_refused_naming_it(tmp_path, run):
    text = (run / "scores.csv").read_text().splitlines()
    head, first = text[0], text[1].split(",")
    first[-1] = str(float(first[-1]) + 5.0)  # one score raised: the ranking changes
    (run / "scores.csv").write_text("\n".join([head, ",".join(first), *text[2:]]) + "\n")
    with pytest.raises(DraError, match="SHA-256 differs from the scores_sha256") as e:
        verified_runs_frame(files([run]))
    assert str(run / "scores.csv") in str(e.value)


def test_a_metrics_json_without_a_digest_is_refused(tmp_path, run):
    """Deleting the digest does not switch the check off."""
    m = json.loads((run / "metrics.json").read_text())
    del m["scores_sha256"]
    (run / "metrics.json").write_text(json.dumps(m))
    with pytest.raises(DraError, match="records no scores_sha256") as e:
        verified_runs_frame(files([run]))
    assert str(run / "metrics.json") in str(e.value)


def test_scores_edited_with_a_matching_digest_are_caught_by_the_recomputed_metrics(tmp_path, run):
    """A scores.csv replaced and its digest updated: the image metrics recomputed from it disagree."""
    scores = pd.read_csv(run / "scores.csv", keep_default_na=False)
    scores["score"] = -scores["score"]
    scores.to_csv(run / "scores.csv", index=False)
    m = json.loads((run / "metrics.json").read_text())
    m["scores_sha256"] = hashlib.sha256((run / "scores.csv").read_bytes()).hexdigest()
    (run / "metrics.json").write_text(json.dumps(m))
    with pytest.raises(DraError, match="auroc is .*, but its scores.csv"):
        verified_runs_frame(files([run]))


def test_a_broken_scores_csv_and_a_missing_one_are_named(tmp_path, run):
    with pytest.raises(DraError, match="given without its run's scores.csv"):
        verified_runs_frame([run / "metrics.json"])
    (run / "scores.csv").write_text("id,label,anomaly_class,score\na,0,,0.1\nb,1,x,abc\n")
    m = json.loads((run / "metrics.json").read_text())
    m["scores_sha256"] = hashlib.sha256((run / "scores.csv").read_bytes()).hexdigest()
    (run / "metrics.json").write_text(json.dumps(m))
    with pytest.raises(DraError, match="1 scores are not finite") as e:
        verified_runs_frame(files([run]))
    assert str(run / "scores.csv") in str(e.value)


def test_the_table_command_refuses_without_a_traceback(tmp_path, run):
    edit_metrics(run, auroc="abc")
    lay = layout("t", [("elpv", "elpv", "hard-mono")], ["dra"])
    r = table_cli(tmp_path, [run], lay)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert str(run / "metrics.json") in r.stderr and "auroc is 'abc'" in r.stderr
    assert not (tmp_path / "out" / "t.csv").exists()


def test_runs_csv_holds_the_new_per_run_metrics(tmp_path, run):
    df = csv_frame(runs_frame([run / "metrics.json"]))
    row = df.iloc[0]
    assert 0 <= row.tpr_at_fpr_1 <= row.tpr_at_fpr_5 <= 1 and 0 <= row.fpr_at_tpr_95 <= 1
    assert set(json.loads(row.class_auroc)) == {"crack", "hole"} and len(row.scores_sha256) == 64
    assert row.deviations == "" and "spec" not in df.columns


# --- every name is escaped ------------------------------------------------------------------------

HOSTILE_CLASS = "<svg onload=alert(2)>"
HOSTILE_DATASET = "<img src=x onerror=alert(1)>&_$%#{}\\"
HOSTILE_VARIANT = "<script>alert(3)</script>_x"
HOSTILE_CAPTION = "T </script><script>alert(4)</script> 50% & $x$ #1 {a} \\b\n\n.. raw:: html\n\n   <b onmouseover=x>"


class Elements(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def live_markup(page: str) -> list:
    p = Elements()
    p.feed(page)
    return [(t, a) for t, a in p.tags if t == "script" or any(k.lower().startswith("on") for k in a)]


@pytest.fixture(scope="module")
def hostile_tables(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(1)
    folders = []
    for v in ("dra", "devnet", "kdad"):
        for seed in (0, 1):
            folders.append(write_run(tmp_path, v, "own", "own", "hard-seen", 10, seed, LABELS,
                                     rng.normal(LABELS, 1.0), [""] * 30 + [HOSTILE_CLASS, "fine"] * 10))
    lay = layout("t", [("own", "own", "hard-seen")], ["dra", "devnet", "kdad"], seeds=[0, 1],
                 caption=HOSTILE_CAPTION, labels={"dra": HOSTILE_VARIANT}, dataset_labels={"own": HOSTILE_DATASET})
    r = table_cli(tmp_path, folders, lay)
    assert r.returncode == 0, r.stderr
    return tmp_path / "out"


def test_hostile_names_are_text_in_the_html(hostile_tables):
    for page in ("t.html", "c.html"):
        html = (hostile_tables / page).read_text()
        assert not live_markup(html), (page, live_markup(html))
        assert "&lt;svg onload=alert(2)&gt;" in html or page == "t.html"  # the class is shown, as text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in (hostile_tables / "t.html").read_text()
    # our own markup survives: the best in bold
    assert "<b>" in (hostile_tables / "t.html").read_text()


SPECIAL = set("\\{}$&%#_")


def unescaped(tex: str) -> list[str]:
    """Special characters of `tex` outside our own markup (bold, superscripts, ±, †, rules) and the
    escapes latex_text writes."""
    for token in (r"$\pm$", r"$^\dagger$", r"\bottomrule", r"\textbackslash{}", r"\textasciitilde{}",
                  r"\textasciicircum{}"):
        tex = tex.replace(token, " ")
    tex = re.sub(r"\\(textbf|textsuperscript)\{([^{}]*)\}", r" \2 ", tex)
    for token in (r"\{", r"\}", r"\$", r"\&", r"\%", r"\#", r"\_"):
        tex = tex.replace(token, " ")
    return [ch for ch in tex if ch in SPECIAL]


def test_hostile_names_are_escaped_in_the_latex(hostile_tables):
    tex = (hostile_tables / "t.tex").read_text()
    body = tex[tex.index(r"\begin{tabular}"):tex.index(r"\end{tabular}")]
    rows = body.split(r"\midrule")[1]
    head = body.split(r"\midrule")[0].split(r"\toprule")[1]
    assert latex_text(HOSTILE_DATASET) in rows and latex_text(HOSTILE_VARIANT) in head
    # outside the tabular's own structure (& between cells, \\ at row ends), nothing special is left
    structure = (rows + head).replace(r"\\", " ").replace(" & ", " ")
    assert unescaped(structure) == [], unescaped(structure)
    comments = [x for x in tex.splitlines() if x.startswith("%")]
    assert latex_text(HOSTILE_CAPTION) in comments[0]  # the caption stays one comment line
    assert all(x.startswith("%") or x.startswith("\\") or "&" in x or not x.strip() for x in tex.splitlines())


def test_latex_text_leaves_no_special_character_unescaped():
    for name in (HOSTILE_DATASET, HOSTILE_CAPTION, "a_b\\c{d}$e&f%g#h~i^j"):
        assert unescaped(latex_text(name)) == []
        assert "\n" not in latex_text(name)


@pytest.mark.workflow  # parses the Snakefile
def test_a_hostile_caption_stays_text_in_the_snakemake_report():
    """The report renders a caption file (workflow/report/table.rst) with Jinja and docutils, and
    embeds the result and the job's parameters in a <script> element as JSON: the table rule's
    caption parameter must give neither a directive nor a `</script>`."""
    import jinja2
    from docutils.core import publish_parts
    from snakemake.logging import format_dict

    caption, local = parsed_workflow(HOSTILE_CAPTION)
    assert {"table", "table_with_classes"} <= local  # tables are made where the report is, never on a cluster
    params = {"prefix": "results/tables/t", "caption": caption}
    rst = (ROOT / "workflow" / "report" / "table.rst").read_text()
    rendered = jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(rst).render(
        snakemake=SimpleNamespace(params=SimpleNamespace(**params), wildcards=SimpleNamespace(table="t")))
    html = publish_parts(rendered, writer="html")["body"]
    embedded = json.dumps({"caption": html, "job_properties": {"params": format_dict(params)}})
    assert "</script" not in embedded.lower() and "<!--" not in embedded
    assert not live_markup(html)
    assert "&lt;/script&gt;&lt;script&gt;alert(4)" in html  # shown as the text it is


def parsed_workflow(text: str) -> tuple[str, set[str]]:
    """The caption parameter the workflow's table rule gives its report item, for a table whose
    config caption is `text` (the rule parsed by Snakemake, its parameter function called), and the
    workflow's local rules."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, Quietness, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf = api.workflow(resource_settings=ResourceSettings(),
                          config_settings=ConfigSettings(configfiles=[ROOT / "config" / "demo.yaml"],
                                                         config={"tables": {"table1_general": {
                                                             "caption": text, "variants": ["dra"],
                                                             "sections": [{"setting": "general",
                                                                           "datasets": ["demo/weave"]}]}}}),
                          snakefile=ROOT / "workflow" / "Snakefile", workdir=ROOT)
        rule = next(r for r in wf._workflow.rules if r.name == "table")  # pinned Snakemake 9.27
        return rule.params.caption(SimpleNamespace(table="table1_general")), set(wf._workflow._localrules)


def test_rst_text_is_inert():
    out = rst_text(HOSTILE_CAPTION)
    assert "\n" not in out and "</" not in out and ".. " not in out


def test_the_report_landing_page_keeps_a_hostile_label_as_text():
    """summary.rst, which the report's landing page includes, shows dataset labels as text."""
    from docutils.core import publish_parts
    from dra.report.summary import rst

    plan = {"provenance": {"datasets": {"own": HOSTILE_CAPTION}, "variants": [HOSTILE_VARIANT], "seeds": [0],
                           "budget": 1.0, "weights": "imagenet", "image_sizes": {"own": [224]},
                           "epochs": {HOSTILE_VARIANT: [30]}},
            "runs": [], "tables": ["t"], "plots": []}
    runs = pd.DataFrame(columns=["variant", "dataset", "subset", "setting", "shots", "seed", "git_commit"])
    html = publish_parts(rst(plan, runs, None), writer="html")["body"]
    assert not live_markup(html) and "</script" not in html.lower()
    assert "&lt;/script&gt;&lt;script&gt;alert(4)" in html
