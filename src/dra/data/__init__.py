"""Datasets: one module per raw layout, turned into one uniform layout plus a manifest."""
