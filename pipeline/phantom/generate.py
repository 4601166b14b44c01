"""``generate(seed, region, contrast, **options)``: one synthetic sagittal series with its truth.

Independent random streams (anatomy, pathology, scanner, noise) are spawned from the seed, so asking
for another contrast or resolution keeps the same patient: ``generate(7, contrast="T1")`` and
``generate(7, contrast="T2")`` image the same spine.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.labels import CANAL, CORD
from pipeline.phantom import background, layout, pathology, scanner
from pipeline.phantom.paint import Canvas, paint_spine
from pipeline.phantom.tissues import CONTRASTS, signal_table
from pipeline.phantom.truth import build_truth
from pipeline.volume import Volume

GENERATOR_VERSION = "0.2.1"
REGIONS = ("lumbar", "thoracolumbar", "cervical", "whole")
KNOWN_OPTIONS = {
    "pathology",
    "force",
    "transitional",
    "domain_randomisation",
    "ringing",
    "motion",
    "noise",
    "bias",
    "row_direction",
    "oblique_deg",
    "pixel_spacing",
    "matrix",
    "slice_thickness",
    "slice_gap",
    "n_slices",
    "acquisition_factor",
    "supersample",
    "size",
    "truth",
    "ribs",
}


@dataclass
class PhantomCase:
    """One generated series: the image, its label map on the same grid, and the truth."""

    volume: Volume
    labels: NDArray[np.uint8]
    truth: dict[str, Any]
    seed: int
    region: str
    contrast: str
    plan: scanner.Plan
    spine: layout.Spine


def generate(seed: int, region: str = "lumbar", contrast: str = "T2", **options: Any) -> PhantomCase:
    """Generate one sagittal spine MR series in memory.

    Options (all optional): ``pathology`` (0..1+, default 1: how much degeneration a spine may carry),
    ``force`` (per level, e.g. ``{"L4/L5": {"slip": 6.0, "pfirrmann": 4, "herniation": "protrusion"},
    "L1": {"wedge_loss": 0.3}}``), ``transitional`` (``"none"``, ``"L6"``, ``"sacralised_L5"``, ``"T13"``),
    ``domain_randomisation`` (free intensity per tissue), ``ringing``, ``motion``, ``noise`` (sigma as a
    fraction of the CSF signal), ``bias`` (coil field, default True), geometry overrides ``row_direction``,
    ``oblique_deg``, ``pixel_spacing``, ``matrix``, ``slice_thickness``, ``slice_gap``, ``n_slices``,
    ``acquisition_factor``, ``supersample`` (sub-slices per slice), ``size`` (patient scale),
    ``truth`` (False skips the truth measurements, for speed) and ``ribs`` (paint ribs and thoracic
    transverse processes, label :data:`pipeline.labels.RIB`; off by default so that the series drawn
    for the published figures stay as they were).
    """
    unknown = set(options) - KNOWN_OPTIONS
    if unknown:
        raise TypeError(f"unknown phantom option(s): {sorted(unknown)}")
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
    if contrast not in CONTRASTS:
        raise ValueError(f"contrast must be one of {CONTRASTS}, got {contrast!r}")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    rng_anatomy, rng_pathology, rng_scan, rng_signal, rng_noise, rng_tissue = streams

    transitional = options.get("transitional")
    if transitional is None:
        roll = rng_anatomy.random()
        transitional = "L6" if roll < 0.05 else "sacralised_L5" if roll < 0.1 else "T13" if roll < 0.12 else "none"
    size = float(options.get("size", rng_anatomy.uniform(0.88, 1.12)))
    force = options.get("force", {}) or {}
    names = layout._names("L6" if transitional == "L6" else "T13" if transitional == "T13" else "none")
    chain = [*names[1:], "S1"]
    levels = [f"{a}/{b}" for a, b in pairwise(chain)]
    drawn = pathology.draw_before_build(rng_pathology, levels, names, float(options.get("pathology", 1.0)), force)
    if transitional == "sacralised_L5":
        drawn.setdefault("L5/S1", {})["height_factor"] = rng_anatomy.uniform(0.15, 0.35)
    spine = layout.build_spine(rng_anatomy, transitional if transitional in ("L6", "T13") else "none", size, drawn)
    spine.transitional = transitional
    spine.ribs = bool(options.get("ribs", False))
    pathology.apply_after_build(rng_pathology, spine, drawn, force)
    if transitional == "sacralised_L5":
        lumbosacral = spine.discs[-1]
        lumbosacral.rudimentary, lumbosacral.herniation, lumbosacral.pfirrmann = True, None, 5
        # a rudimentary, partly fused disc has no nucleus to push into its neighbours: no Schmorl nodes
        spine.vertebrae[lumbosacral.upper].inferior.schmorl = None
        spine.vertebrae[lumbosacral.lower].superior.schmorl = None

    plan = scanner.plan_series(rng_scan, spine, region, contrast, options)
    roots = _draw_roots(rng_anatomy)
    table = signal_table(contrast, rng_signal, free=bool(options.get("domain_randomisation", False)))
    habitus = background.draw_habitus(rng_anatomy, size)

    factor = plan.acquisition_factor
    n_sub = int(options.get("supersample", 3))
    offsets = scanner.subslice_offsets(plan.slice_thickness, n_sub)
    central = plan.body_grid(0.0, factor)
    base = background.paint_background(central, spine, habitus, rng_tissue)
    image = np.zeros(central.shape, dtype=np.float32)
    labels = None
    for offset, shift in offsets:
        grid = plan.body_grid(float(offset), factor, shift)
        canvas = Canvas(grid, np.zeros(grid.shape, dtype=np.uint8), base.copy())
        paint_spine(canvas, spine, roots, detail=True)
        image += table[canvas.tissue]
        if factor == 1 and abs(offset) < 1e-9 and shift == (0.0, 0.0):
            labels = canvas.label
    image /= np.float32(len(offsets))
    if labels is None:  # label map on the output grid, point-sampled at the slice centres
        out_grid = plan.body_grid(0.0, 1)
        canvas = Canvas(out_grid, np.zeros(out_grid.shape, dtype=np.uint8), None)
        paint_spine(canvas, spine, roots, detail=False)
        labels = canvas.label

    image = _texture(image, central, rng_tissue)
    image = scanner.kspace_recon(
        image, factor, rng_noise, bool(options.get("ringing", False)), bool(options.get("motion", False))
    )
    if options.get("bias", True):
        image *= scanner.bias_field(plan.body_grid(0.0, 1), spine, rng_noise)
    scale = float(rng_noise.uniform(600.0, 2400.0))
    sigma = float(options.get("noise", rng_noise.uniform(0.012, 0.035)))
    image = scanner.rician(np.maximum(image, 0) * np.float32(scale), sigma * scale, rng_noise)
    image = np.clip(np.round(image), 0, 65535).astype(np.float32)

    volume = Volume(
        image,
        plan.spacing,
        plan.direction,
        plan.origin,
        contrast,
        {"series_description": str(plan.sequence["description"]), "source": "phantom"},
    )
    present = set(np.unique(labels).tolist())
    extra = {
        "schema": "dicomnode.phantom.truth/1",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "region": region,
        "contrast": contrast,
        "geometry": {
            "shape": list(plan.shape),
            "spacing": list(plan.spacing),
            "direction": plan.direction.round(8).tolist(),
            "origin": plan.origin.round(4).tolist(),
            "slice_thickness": plan.slice_thickness,
            "row_direction": plan.row_direction,
            "oblique_deg": round(plan.oblique_deg, 3),
            "acquisition_factor": factor,
        },
        "sequence": plan.sequence,
        "anatomy": {
            "transitional": transitional,
            "ribs": spine.ribs,
            "lordosis_deg": round(spine.lordosis_deg, 1),
            "kyphosis_deg": round(spine.kyphosis_deg, 1),
            "scoliosis_deg": round(float(spine.scoliosis_deg), 1),
            "sacral_slope_deg": round(spine.sacral_slope_deg, 1),
            "size": round(size, 3),
            "conus_level": str(spine.conus_level),
            "canal_present": CANAL in present,
            "cord_present": CORD in present,
        },
        "options": {k: v for k, v in options.items() if k != "force"} | ({"force": force} if force else {}),
        "domain_randomisation": bool(options.get("domain_randomisation", False)),
    }
    truth = build_truth(spine, plan, present, extra) if options.get("truth", True) else extra
    return PhantomCase(volume, labels, truth, seed, region, contrast, plan, spine)


def _draw_roots(rng: np.random.Generator) -> NDArray[np.float64]:
    """Positions of the cauda equina roots in the sac's cross-section (normalised v, u; radius mm).

    Supine, the roots settle dorsally, so most lie in the posterior half."""
    n = int(rng.integers(6, 11))
    v = rng.uniform(-0.8, 0.15, n)
    u = rng.uniform(-0.65, 0.65, n)
    radius = rng.uniform(0.7, 1.2, n)
    return np.column_stack([v, u, radius])


def _texture(image: NDArray[np.float32], grid: Any, rng: np.random.Generator) -> NDArray[np.float32]:
    """Gentle multiplicative heterogeneity (marrow trabeculae, muscle fibres, field inhomogeneity)."""
    fine = background._coarse_noise(grid, rng, 2.0)
    coarse = background._coarse_noise(grid, rng, 8.0)
    return image * (np.float32(1.0) + np.float32(0.07) * fine + np.float32(0.05) * coarse)
