"""qup: the Quality-Utility Paradox study as a reproducible pipeline."""

__version__ = "0.1.0"
