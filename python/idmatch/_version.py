"""The package's version: its one home (pyproject.toml and CMakeLists.txt read it)."""

__version__ = "0.1.0"
