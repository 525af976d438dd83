"""The hf-d2 version (read by the package face, the records and pyproject.toml)."""

__version__ = "0.2.0"
