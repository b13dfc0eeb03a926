"""Scoring corpora: reward models (perceived quality), adaptation cost (SLM perplexity) and style distance."""
