"""Thin DVC stage entry points: ``main(params, [name])`` -> qup calls -> outputs.

Each module reads params.yaml only under ``__main__``, so tests call ``main`` with params they build.
"""
