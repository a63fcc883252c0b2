"""Paper figures drawn with seaborn: mean AUROC per row and variant, std over seeds as error bars."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from dra.report.tables import row_label  # noqa: E402


def figure(layout: dict, df: pd.DataFrame, labels: dict | None = None):
    """Grouped bars: one group per row (dataset/setting), one bar per variant (and shot count)."""
    df = df[df.n > 0].copy()
    df["row"] = [" ".join(x for x in row_label(d, s, st, layout.get("dataset_labels")) if x != "general")
                 for d, s, st in zip(df.dataset, df.subset, df.setting)]
    multi_shot = df.shots.nunique() > 1
    df["method"] = [(labels or {}).get(v, v) + (f" ({k}-shot)" if multi_shot else "")
                    for v, k in zip(df.variant, df.shots)]
    sns.set_theme(style="whitegrid", context="paper")
    width = max(6.0, 0.5 * df.row.nunique() * max(1, df.method.nunique()) / 2 + 2)
    fig, ax = plt.subplots(figsize=(width, 3.2))
    sns.barplot(data=df, x="row", y="mean", hue="method", ax=ax, errorbar=None)
    for bars, (_, g) in zip(ax.containers, df.groupby("method", sort=False)):
        g = g.set_index("row").reindex([t.get_text() for t in ax.get_xticklabels()])
        ax.errorbar([b.get_x() + b.get_width() / 2 for b in bars], g["mean"], yerr=g["std"], fmt="none",
                    ecolor="black", elinewidth=0.8, capsize=2)
    ax.set_ylim(max(0.0, df["mean"].min() - 0.15), 1.0)
    ax.set_xlabel("")
    ax.set_ylabel("AUROC")
    ax.set_title("\n".join(textwrap.wrap(layout["caption"], 70)), fontsize=9)
    ax.tick_params(axis="x", rotation=30)
    # beside the axes, never over a bar
    ax.legend(fontsize=7, title=None, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


def heatmaps(layout: dict, files: list) -> "plt.Figure":
    """Per run (dataset) a few test anomalies: the image, its anomaly map over it, the mask's outline."""
    from dra.report.heatmaps import heatmap_figure

    return heatmap_figure(layout, files)
