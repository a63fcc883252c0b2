"""Everything that runs while Snakemake plans, torch-free: the run key (six words, the setting
grammar, every path), the configuration and its checks, the methods' declared parameters and the
method registry, the job matrix, the pre-flight and code-file tracking. The Snakefile imports only
this package (tests/test_architecture.py checks that none of it imports torch)."""

from dra.errors import DraError  # noqa: E402,F401 - the workflow's one error type, for the Snakefile
