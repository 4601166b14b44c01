"""The phantom generator: every region and contrast, truth that agrees with its own label map."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import definitions
from pipeline.labels import CANAL, CORD, POSTERIOR_ELEMENTS, VERTEBRA_LABELS
from pipeline.phantom import generate
from tests.phantom import measure

FAST = {"supersample": 1}
SMALL = {"supersample": 1, "matrix": 256}


@pytest.mark.parametrize(
    ("region", "contrast"),
    [
        ("lumbar", "T2"),
        ("lumbar", "T1"),
        ("lumbar", "STIR"),
        ("thoracolumbar", "T2"),
        ("cervical", "T1"),
        ("whole", "STIR"),
    ],
)
def test_every_region_and_contrast_generates(region: str, contrast: str) -> None:
    case = generate(11, region=region, contrast=contrast, **SMALL)
    vol = case.volume
    assert vol.array.dtype == np.float32 and case.labels.dtype == np.uint8
    assert case.labels.shape == vol.shape
    assert 9 <= vol.shape[0] <= 25 and 256 <= vol.shape[1] <= 640 and 256 <= vol.shape[2] <= 640
    assert 0.4 <= vol.spacing[1] <= 1.2 and 3.0 <= vol.spacing[0] <= 6.5
    assert vol.contrast == contrast
    present = set(np.unique(case.labels).tolist())
    assert CANAL in present or CORD in present
    assert POSTERIOR_ELEMENTS in present
    assert len(case.truth["discs"]) >= 3 and len(case.truth["vertebrae"]) >= 4
    for disc in case.truth["discs"]:
        assert disc["label"] in present
        assert disc["level"] == f"{disc['upper']}/{disc['lower']}"
    expected = {"cervical": "C4", "lumbar": "L3", "thoracolumbar": "T12", "whole": "T6"}[region]
    assert VERTEBRA_LABELS[expected] in present


def test_same_seed_same_case_and_other_contrast_same_patient() -> None:
    a = generate(5, **SMALL)
    b = generate(5, truth=False, **SMALL)
    assert np.array_equal(a.volume.array, b.volume.array) and np.array_equal(a.labels, b.labels)
    t1 = generate(5, contrast="T1", **SMALL)
    assert np.array_equal(a.labels, t1.labels)
    assert a.truth["discs"] == t1.truth["discs"]


def test_contrast_follows_tissue_physics() -> None:
    """CSF bright on T2 and STIR, dark on T1; fat bright on T1 and T2 TSE, dark on STIR."""
    means = {}
    for contrast in ("T2", "T1", "STIR"):
        case = generate(3, contrast=contrast, bias=False, truth=False, **SMALL)
        body = case.labels == VERTEBRA_LABELS["L3"]
        canal = case.labels == CANAL
        means[contrast] = (case.volume.array[canal].mean(), case.volume.array[body].mean())
    assert means["T2"][0] > 1.5 * means["T2"][1]
    assert means["T1"][0] < means["T1"][1]
    assert means["STIR"][0] > 2.0 * means["STIR"][1]


@pytest.mark.parametrize(
    "geometry",
    [
        {"row_direction": "anterior", "oblique_deg": 0.0},
        {"row_direction": "posterior", "oblique_deg": 0.0},
        {"row_direction": "anterior", "oblique_deg": 7.0},
        {"row_direction": "posterior", "oblique_deg": 5.0},
    ],
)
def test_label_centroids_match_truth_in_every_orientation(geometry: dict) -> None:
    case = generate(21, n_slices=25, slice_thickness=4.0, slice_gap=1.0, **geometry, **SMALL)
    checked = 0
    for entry in case.truth["vertebrae"] + case.truth["discs"]:
        if "centroid_lps" not in entry or measure.touches_border(case.labels, entry["label"]):
            continue
        found = measure.centroid_lps(case.volume, case.labels, entry["label"])
        assert found is not None
        assert np.linalg.norm(found - np.array(entry["centroid_lps"])) < 2.5, entry.get("name", entry.get("level"))
        checked += 1
    assert checked >= 8


def _fine(seed: int, **force) -> object:
    return generate(
        seed,
        pixel_spacing=0.5,
        n_slices=9,
        slice_thickness=3.0,
        slice_gap=1.0,
        oblique_deg=0.0,
        acquisition_factor=1,
        force=force,
        **FAST,
    )


@pytest.mark.parametrize(("seed", "slip"), [(2, 7.0), (8, -4.5), (13, 0.0)])
def test_slip_on_label_map_equals_truth(seed: int, slip: float) -> None:
    case = _fine(seed, **{"L4/L5": {"slip": slip}})
    truth = next(d for d in case.truth["discs"] if d["level"] == "L4/L5")
    assert truth["listhesis"]["mm"] == pytest.approx(slip, abs=0.05)
    measured = measure.posterior_wall_slip(case.volume, case.labels, case.truth, "L4/L5")
    assert measured == pytest.approx(truth["listhesis"]["mm"], abs=0.5)
    expected = definitions.meyerding_grade(slip, truth["listhesis"]["lower_endplate_length_mm"])
    assert truth["listhesis"]["meyerding"] == expected


def test_canal_ap_on_label_map_equals_truth() -> None:
    no_slip = {level: {"slip": 0.0} for level in ("L2/L3", "L5/S1")}
    case = _fine(
        4,
        **no_slip,
        **{
            "L4/L5": {"flavum": 6.5, "herniation": "protrusion", "slip": 0.0},
            "L3/L4": {"flavum": 2.0, "slip": 0.0, "herniation": "none"},
        },
    )
    for level in ("L2/L3", "L3/L4", "L4/L5", "L5/S1"):
        truth = next(d for d in case.truth["discs"] if d["level"] == level)
        measured = measure.canal_ap(case.volume, case.labels, case.truth, level, {CANAL, CORD})
        assert measured == pytest.approx(truth["canal_ap_mm"], abs=0.5), level
        assert truth["stenosis"] == definitions.stenosis_grade(truth["canal_ap_mm"], level)
    narrowed = next(d for d in case.truth["discs"] if d["level"] == "L4/L5")
    normal = next(d for d in case.truth["discs"] if d["level"] == "L3/L4")
    assert narrowed["canal_ap_mm"] < normal["canal_ap_mm"] - 3.0
    assert narrowed["herniation"]["class"] == "protrusion"


def test_herniation_extent_on_label_map_equals_truth() -> None:
    kinds = {"L3/L4": "bulge", "L4/L5": "protrusion", "L5/S1": "extrusion"}
    case = _fine(15, **{level: {"herniation": kind, "slip": 0.0} for level, kind in kinds.items()})
    for level, kind in kinds.items():
        truth = next(d for d in case.truth["discs"] if d["level"] == level)
        assert truth["herniation"]["class"] == kind, level
        measured = measure.herniation_extent(case.volume, case.labels, case.truth, level)
        assert measured == pytest.approx(truth["herniation"]["posterior_extent_mm"], abs=0.5), level


def test_forced_pathology_appears_in_truth() -> None:
    case = _fine(
        6,
        **{
            "L5/S1": {
                "pfirrmann": 5,
                "herniation": "extrusion",
                "modic_upper": 1,
                "endplate_defect_lower": True,
            },
            "L1": {"wedge_loss": 0.35},
        },
    )
    disc = next(d for d in case.truth["discs"] if d["level"] == "L5/S1")
    assert disc["pfirrmann"] == 5 and disc["narrowing"] in ("moderate", "severe")
    assert disc["herniation"]["class"] == "extrusion"
    assert disc["modic_upper"] == 1 and disc["endplate_defect_lower"] is True
    l1 = next(v for v in case.truth["vertebrae"] if v["name"] == "L1")
    assert l1["fracture"]["present"] and l1["fracture"]["genant"] == 2


def test_transitional_anatomy_names_levels() -> None:
    l6 = generate(9, transitional="L6", **SMALL)
    assert "L6/S1" in [d["level"] for d in l6.truth["discs"]]
    assert VERTEBRA_LABELS["L6"] in set(np.unique(l6.labels).tolist())
    sacral = generate(9, transitional="sacralised_L5", **SMALL)
    disc = next(d for d in sacral.truth["discs"] if d["level"] == "L5/S1")
    assert disc["narrowing"] == "severe"


def test_domain_randomisation_changes_intensities_not_anatomy() -> None:
    plain = generate(12, truth=False, **SMALL)
    free = generate(12, domain_randomisation=True, truth=False, **SMALL)
    assert np.array_equal(plain.labels, free.labels)
    assert not np.allclose(plain.volume.array, free.volume.array)


def _sample(case, vertebra: dict, u: float, v: float, w: float) -> float:
    """Mean image value of a 3 x 3 patch at a point given in a vertebra's local frame (truth axes)."""
    axes = vertebra["axes_lps"]
    point = np.array(vertebra["center_lps"]) + u * np.array(axes["left"]) + v * np.array(axes["anterior"])
    point = point + w * np.array(axes["superior"])
    k, j, i = np.round(case.volume.lps_to_index(point)).astype(int)
    return float(case.volume.array[k, j - 1 : j + 2, i - 1 : i + 2].mean())


@pytest.mark.parametrize("contrast", ["T1", "T2", "STIR"])
def test_modic_changes_have_the_right_sign_per_contrast(contrast: str) -> None:
    force = {"L3/L4": {"modic_upper": 1, "modic_lower": 2, "slip": 0.0}, "L1/L2": {"modic_upper": 3}}
    case = generate(
        19,
        contrast=contrast,
        force=force,
        bias=False,
        noise=0.005,
        pixel_spacing=0.5,
        n_slices=9,
        slice_thickness=3.0,
        slice_gap=1.0,
        oblique_deg=0.0,
        acquisition_factor=1,
    )
    verts = {v["name"]: v for v in case.truth["vertebrae"]}

    def band_vs_core(name: str, side: float) -> float:
        vert = verts[name]
        near = _sample(case, vert, 0.0, 0.25 * vert["depth_mm"], side * (vert["posterior_height_mm"] / 2 - 2.6))
        core = _sample(case, vert, 0.0, 0.1 * vert["depth_mm"], 0.0)
        return near / core

    modic1, modic2, modic3 = band_vs_core("L3", -1), band_vs_core("L4", 1), band_vs_core("L1", -1)
    expected = {  # Modic 1988: I T1 hypo / T2 hyper / STIR hyper; II T1 hyper / STIR hypo; III hypo
        "T1": (modic1 < 0.8, modic2 > 1.1, modic3 < 0.8),
        "T2": (modic1 > 1.2, True, modic3 < 0.8),
        "STIR": (modic1 > 1.5, modic2 < 1.0, modic3 < 1.0),
    }[contrast]
    assert all(expected), (contrast, modic1, modic2, modic3)


def test_pfirrmann_grades_darken_the_nucleus_on_t2() -> None:
    grades = {"L1/L2": 1, "L2/L3": 2, "L3/L4": 3, "L4/L5": 4, "L5/S1": 5}
    force = {level: {"pfirrmann": g, "slip": 0.0, "herniation": "none"} for level, g in grades.items()}
    case = generate(
        23,
        force=force,
        bias=False,
        noise=0.005,
        pixel_spacing=0.5,
        n_slices=9,
        slice_thickness=3.0,
        slice_gap=1.0,
        oblique_deg=0.0,
        acquisition_factor=1,
    )
    signal = {}
    for disc in case.truth["discs"]:
        if disc["level"] in grades:
            frame = {"center_lps": disc["center_lps"], "axes_lps": {**disc["axes_lps"], "left": [1.0, 0, 0]}}
            offset = 0.25 * disc["height_mm"]  # off the mid-plane, where grade 2 has its cleft
            signal[grades[disc["level"]]] = max(
                _sample(case, frame, 0.0, 0.0, offset), _sample(case, frame, 0.0, 0.0, -offset)
            )
    assert signal[1] > signal[3] > signal[5]
    assert signal[2] > signal[4]
    assert case.truth["discs"][-1]["narrowing"] in ("moderate", "severe")


def test_a_schmorl_node_is_disc_material_reaching_into_the_body() -> None:
    """A node is labelled as its disc, as deep into the body as its radius (2.5-5.5 mm) beyond the
    endplate surface, lateral of the midline; without a node the disc's label stops at the endplate."""
    levels = ("T12/L1", "L1/L2", "L2/L3", "L3/L4", "L4/L5", "L5/S1")
    force = {level: {"endplate_defect_upper": False, "endplate_defect_lower": False} for level in levels}
    force["L2/L3"]["endplate_defect_lower"] = True
    case = generate(14, transitional="none", force=force, **SMALL)
    verts = {v["name"]: v for v in case.truth["vertebrae"]}
    discs = {d["level"]: d for d in case.truth["discs"]}
    kk, jj, ii = np.indices(case.labels.shape)
    lps = case.volume.index_to_lps(np.stack([kk, jj, ii], axis=-1).astype(np.float64))

    def reach(level: str, name: str, side: float) -> float:
        """How far (mm) the disc's label lies beyond the body's flat endplate plane, into the body, away
        from the rounded rims (the central 70 % of the endplate's depth and width)."""
        vert = verts[name]
        local = lps - np.array(vert["center_lps"])
        into = local @ np.array(vert["axes_lps"]["superior"]) * -side
        central = (np.abs(local @ np.array(vert["axes_lps"]["anterior"])) <= 0.35 * vert["depth_mm"]) & (
            np.abs(local @ np.array(vert["axes_lps"]["left"])) <= 0.35 * vert["width_mm"]
        )
        beyond = into[(case.labels == discs[level]["label"]) & central] + vert["posterior_height_mm"] / 2
        return float(beyond.max())

    node = next(v for v in case.spine.vertebrae if v.name == "L3").superior.schmorl
    assert node is not None and discs["L2/L3"]["endplate_defect_lower"]
    assert abs(node[0]) >= node[2] + 4.5 - 0.5  # off the midline, where heights are measured
    assert reach("L2/L3", "L3", 1.0) >= node[2] - 1.0  # the concavity and a 1 mm pixel at most
    for level, upper, lower in (("L1/L2", "L1", "L2"), ("L3/L4", "L3", "L4"), ("L4/L5", "L4", "L5")):
        assert reach(level, upper, -1.0) < 1.3 and reach(level, lower, 1.0) < 1.3, level  # the concavity
