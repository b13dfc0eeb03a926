"""The synthetic world of the embedded default: problems, styles, mistakes, tiny models."""
