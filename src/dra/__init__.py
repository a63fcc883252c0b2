"""Reference pipeline for open-set supervised anomaly detection (DRA, CVPR 2022)."""

__version__ = "0.1.0"
