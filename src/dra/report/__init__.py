"""Runs -> tidy tables -> Markdown / LaTeX / plots. Imports neither torch nor the methods."""
