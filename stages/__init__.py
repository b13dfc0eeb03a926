"""Thin DVC stage entry points: params + inputs -> qup calls -> outputs."""
