"""The heatmap figure: per row (a dataset or subset) a few test anomalies, each as the image with its
mask's outline, then every variant's anomaly map over it (each map scaled to its own range: the
figure shows where, the table how well)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dra.errors import DraError  # noqa: E402
from dra.report.tables import row_label  # noqa: E402


def read_maps(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DraError(f"{path}: unreadable anomaly maps ({e}); delete it and rerun") from None


def heatmap_figure(layout: dict, files: list[Path]):
    runs = [read_maps(Path(f)) for f in files]
    labels = layout.get("labels", {})
    variants = [v for v, _ in layout["columns"]]
    present = {(str(r["dataset"]), str(r["subset"])) for r in runs}
    rows = [(d, s) for d, s, _ in layout["rows"] if (d, s) in present]  # the layout's order
    by = {(str(r["dataset"]), str(r["subset"]), str(r["variant"])): r for r in runs}
    n_img = min(layout.get("images", 3), min(len(r["ids"]) for r in runs))
    per = 1 + len(variants)
    fig, axes = plt.subplots(len(rows), n_img * per, figsize=(1.6 * n_img * per, 1.8 * len(rows) + 0.6),
                             squeeze=False)
    for i, (d, s) in enumerate(rows):
        first = next(by[(d, s, v)] for v in variants if (d, s, v) in by)
        name = row_label(d, s, "general", layout.get("dataset_labels"))[0]
        for j in range(n_img):
            image, mask = first["images"][j], first["masks"][j]
            panels = [("image", None)] + [(labels.get(v, v), by.get((d, s, v))) for v in variants]
            for k, (title, run) in enumerate(panels):
                ax = axes[i, j * per + k]
                ax.imshow(image)
                if run is not None:
                    m = run["maps"][j].astype(np.float32)
                    m = (m - m.min()) / (np.ptp(m) or 1.0)
                    ax.imshow(m, cmap="jet", alpha=0.45, vmin=0, vmax=1)
                if mask.any():
                    ax.contour(mask.astype(float), levels=[0.5], colors="white", linewidths=0.8)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(title, fontsize=7)
                if j == 0 and k == 0:
                    ax.set_ylabel(name, fontsize=7)
    fig.suptitle("\n".join(textwrap.wrap(layout["caption"], 110)), fontsize=8)
    fig.tight_layout()
    return fig
