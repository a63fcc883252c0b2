"""The critical-difference figure of a table (`fig_cd_<table>`): per metric and shot count, each
method at its average rank over the table's rows (1: best), methods joined by a bar where Nemenyi's
post-hoc test (after Friedman's test over the rows) finds no difference at alpha 0.05, and Nemenyi's
critical difference of average ranks drawn as a scale bar above the rank axis. Drawn by
scikit-posthocs (the scale bar by us)."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402

from dra.escape import mpl_text  # noqa: E402
from dra.report.stats import ALPHA, Ranking  # noqa: E402
from dra.report.tables import METRIC_LABELS  # noqa: E402

NO_RANKING = ("No ranking: a Friedman test needs at least three methods with values on at least two common rows "
              "(per metric and shot count); this table has none.")


def scale_bar(ax, fig, start: float, cd: float) -> None:
    """The critical difference as a bar from the best rank, a fixed height above the rank axis and its
    tick labels (scikit-posthocs draws it half a rank level up, over the tick labels when a panel is
    short)."""
    from matplotlib.transforms import offset_copy

    def above(points: float):
        return offset_copy(ax.transData, fig=fig, y=points, units="points")

    ax.plot([start, start + cd], [0, 0], color="k", lw=2, transform=above(26), clip_on=False)
    ax.text(start + cd / 2, 0, f"CD = {cd:.2f}", transform=above(29), ha="center", va="bottom", fontsize=8,
            clip_on=False)
    low, high = ax.get_xlim()  # a bar in points does not widen the axis: make room for it
    ax.set_xlim(low, max(high, start + cd + 0.05 * (high - low)))


def cd_figure(rankings: list[Ranking], caption: str, labels: dict | None = None):
    """One panel per ranking; a figure that says so where there is none."""
    import scikit_posthocs as sp

    labels = labels or {}
    n = max(len(rankings), 1)
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 1.0 + 2.0 * n), squeeze=False)
    title = "\n".join(textwrap.wrap(mpl_text(f"{caption}: critical differences"), 90))
    if not rankings:
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "\n".join(textwrap.wrap(NO_RANKING, 80)), ha="center", va="center", fontsize=9)
    for ax, r in zip(axes[:, 0], rankings):
        names = {v: mpl_text(labels.get(v, v)) for v in r.ranks.index}
        sig = r.nemenyi.rename(index=names, columns=names)
        sp.critical_difference_diagram(r.ranks.rename(index=names), sig, ax=ax, alpha=ALPHA,
                                       label_props={"fontsize": 8})
        scale_bar(ax, fig, float(r.ranks.min()), r.cd)
        shots = f", {r.shots}-shot" if r.shots else ""
        ax.set_title(f"{METRIC_LABELS.get(r.metric, r.metric)}{shots}: {r.rows} rows, Friedman p = {r.p_value:.3g}, "
                     f"CD = {r.cd:.2f}", fontsize=9, pad=44)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
