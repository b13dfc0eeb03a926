"""The study's corpora beyond the native one: Oracle-synthesized, Oracle-refined, style-aligned and reference."""
