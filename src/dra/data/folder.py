"""Any folder of subsets in the MVTec layout, with no expected counts: the generated demo data."""

from dra.data.mvtec_layout import discover_subsets, items  # noqa: F401

NAME = "folder"
SUBSETS: tuple = ()  # discovered from the raw folder
LICENCE = "generated"
HOMEPAGE = "python -m dra synth"
EXPECTED: dict = {}
