"""MVTec AD: the official train/test split; anomaly classes are the defect folders; every anomaly's
pixel mask from ground_truth/<class>/<name>_mask.png."""

from dra.data.base import Expected
from dra.data.download import RawFile
from dra.data.mvtec_layout import empty_class_folders  # noqa: F401
from dra.data.mvtec_layout import items as _items

NAME = "mvtecad"
SUBSETS = ("carpet", "grid", "leather", "tile", "wood", "bottle", "capsule", "pill", "transistor",
           "zipper", "cable", "hazelnut", "metal_nut", "screw", "toothbrush")
LICENCE = "CC BY-NC-SA 4.0"
HOMEPAGE = "https://www.mvtec.com/company/research/datasets/mvtec-ad"

# The link has moved several times: the hash is pinned, and when the link is dead the download stage
# says where to put an archive fetched by hand from HOMEPAGE.
FILES = (
    RawFile("mvtec_anomaly_detection.tar.xz",
            "https://www.mydrive.ch/shares/38536/3830184030e49fe74747669442f0f282/download/420938113-1629952094/"
            "mvtec_anomaly_detection.tar.xz",
            "cf4313b13603bec67abb49ca959488f7eedce2a9f7795ec54446c649ac98cd3d",
            note=f"from {HOMEPAGE} (free registration; 4.9 GB)", size_mb=4900),
)

# Paper Table 5 (train normal, test normal, anomalies); totals 3,629 / 467 / 1,258.
EXPECTED = {
    "carpet": Expected(280, 28, 89), "grid": Expected(264, 21, 57), "leather": Expected(245, 32, 92),
    "tile": Expected(230, 33, 84), "wood": Expected(247, 19, 60), "bottle": Expected(209, 20, 63),
    "capsule": Expected(219, 23, 109), "pill": Expected(267, 26, 141), "transistor": Expected(213, 60, 40),
    "zipper": Expected(240, 32, 119), "cable": Expected(224, 58, 92), "hazelnut": Expected(391, 40, 70),
    "metal_nut": Expected(220, 22, 93), "screw": Expected(320, 41, 119), "toothbrush": Expected(60, 12, 30),
}


def items(raw, subset):
    return _items(raw, subset, require_masks=True)
