"""Any folder of subsets in the MVTec layout, with no expected counts: a dataset of your own
(config `layout: mvtec`) or the generated demo data."""

from dra.data.mvtec_layout import discover_subsets, empty_class_folders, items  # noqa: F401

NAME = "folder"
SUBSETS: tuple = ()  # discovered from the raw folder
LICENCE = "yours"
HOMEPAGE = "(your folder, or python -m dra synth)"
EXPECTED: dict = {}
