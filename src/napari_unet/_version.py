"""The package version (read by hatch at build time; imported by the package and model files)."""

__version__ = "0.1.0"
