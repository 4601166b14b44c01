"""Synthetic sagittal spine MR series with exact ground truth (pure numpy/scipy).

``generate(seed, region, contrast, **options) -> PhantomCase`` builds a spine model in patient
coordinates, images it with a scanner model and measures its truth with :mod:`pipeline.definitions`.
See ``docs/phantom.md``.
"""

from pipeline.phantom.generate import GENERATOR_VERSION, REGIONS, PhantomCase, generate

__all__ = ["GENERATOR_VERSION", "REGIONS", "PhantomCase", "generate"]
