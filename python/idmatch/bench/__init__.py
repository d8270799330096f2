"""Benchmarks of idmatch against its peers: ``python -m idmatch bench``.

- workloads: what is solved (LSA L1-L4 and T, identity W1-W4), a plain table;
  inputs from a seeded generator.
- runners: who solves it (idmatch and its peers) and the checks of their
  answers against the oracle, made before anything is timed.
- timing: samples and their medians, with torch.utils.benchmark.
- report: the JSON and the printed table; plot: the PNG.
- cli: the options and ``run``.
"""

from .cli import add_arguments, run

__all__ = ["add_arguments", "run"]
