"""``grade_analysis``: every disc level's measurements and grades, from the label map and the image.

The stage after segmentation. It reads only the label map (geometry) and the image (signal), never the
network, so a radiologist can check each grade against the number it came from, and the phantom can
check each number against its truth. The analysis is filled in place (and returned for convenience).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from pipeline import definitions
from pipeline.grading import endplate as endplate_defects
from pipeline.grading import marrow, measure, pfirrmann
from pipeline.grading.geometry import BodyFrame, body_frame, disc_axis, endplate_frame
from pipeline.grading.level import LevelMeasures, measure_level
from pipeline.grading.plane import Vec2, inplane_directions, largest_component
from pipeline.grading.settings import GradingSettings
from pipeline.grading.signal import DiscSignal, csf_reference, disc_signal
from pipeline.labels import SACRUM, VERTEBRA_LABELS
from pipeline.result import Grade, LevelFindings, Measurement, SpineAnalysis, VertebraFindings
from pipeline.volume import Volume

PFIRRMANN_LUMBAR_NOTE = "Pfirrmann is validated for lumbar discs only"
MODIC_T2_ONLY_NOTE = "Modic typing needs T1 and T2 of the same study; only T2 given"
ENDPLATE_DEFECT_OFF_NOTE = "endplate defects not assessed: switched off in the settings ([grading] endplate_defects)"
GRADE_NAMES = (
    "pfirrmann",
    "narrowing",
    "meyerding",
    "listhesis_direction",
    "canal_stenosis",
    "herniation",
    "modic_upper",
    "modic_lower",
    "marrow_change_upper",
    "marrow_change_lower",
    "endplate_defect_upper",
    "endplate_defect_lower",
)


@dataclass(frozen=True)
class _Context:
    volume: Volume
    labels: NDArray[np.integer]
    image: NDArray[np.float64]
    t1: Volume | None
    settings: GradingSettings
    anterior: Vec2
    superior: Vec2
    spacing2: tuple[float, float]


def grade_analysis(
    volume: Volume,
    analysis: SpineAnalysis,
    *,
    t1: Volume | None = None,
    settings: GradingSettings | None = None,
) -> SpineAnalysis:
    """Fill the measurements and grades of every level and vertebra of ``analysis`` (in place).

    ``volume`` is the analysed series (its ``contrast`` decides which signal grades apply); ``t1`` an
    optional T1 series of the same study in the same frame of reference (the caller checks the Frame of
    Reference UID), which enables Modic typing. Existing grades and measurements of the same names are
    replaced, others kept. Returns ``analysis``.
    """
    settings = settings or GradingSettings()
    if analysis.label_map.shape != volume.shape:
        raise ValueError(f"label map {analysis.label_map.shape} and volume {volume.shape} differ")
    try:
        anterior, superior = inplane_directions(volume)
    except ValueError as error:
        for level in analysis.levels:
            _replace(level, [], [Grade(name, None, note=str(error)) for name in GRADE_NAMES])
        return analysis
    ctx = _Context(
        volume,
        analysis.label_map,
        np.asarray(volume.array, dtype=np.float64),
        t1,
        settings,
        anterior,
        superior,
        (volume.spacing[1], volume.spacing[2]),
    )
    measured = [_measure(ctx, level) for level in analysis.levels]
    brightest = _brightest_peak(measured)
    for level, found in zip(analysis.levels, measured, strict=True):
        measurements, grades = grade_level(ctx, level, found, brightest)
        _replace(level, measurements, grades)
    for vertebra in analysis.vertebrae:
        fresh = vertebra_measurements(ctx, vertebra)
        names = {m.name for m in fresh} | {
            "vertebral_height_anterior",
            "vertebral_height_middle",
            "vertebral_height_posterior",
            "wedge_ratio",
        }
        vertebra.measurements = [m for m in vertebra.measurements if m.name not in names] + fresh
    return analysis


def _replace(target: LevelFindings, measurements: list[Measurement], grades: list[Grade]) -> None:
    names = {m.name for m in measurements}
    target.measurements = [m for m in target.measurements if m.name not in names] + measurements
    grade_names = {g.name for g in grades}
    target.grades = [g for g in target.grades if g.name not in grade_names] + grades


def _lower_label(name: str) -> int:
    return SACRUM if name in ("S1", "S", "sacrum") else VERTEBRA_LABELS[name]


@dataclass(frozen=True)
class _Measured:
    """First pass over a level: its geometry and numbers, and its disc signal on T2."""

    m: LevelMeasures | None
    signal: DiscSignal | None
    csf: float
    note: str = ""


def _measure(ctx: _Context, level: LevelFindings) -> _Measured:
    upper = VERTEBRA_LABELS.get(level.upper_vertebra)
    if upper is None or (
        level.lower_vertebra not in ("S1", "S", "sacrum") and level.lower_vertebra not in VERTEBRA_LABELS
    ):
        return _Measured(None, None, 0.0, f"unknown vertebra in {level.level!r}")
    lower = _lower_label(level.lower_vertebra)
    m = measure_level(
        ctx.volume, ctx.labels, upper, level.disc_label, lower, ctx.anterior, ctx.superior, lower == SACRUM
    )
    signal, csf = _disc_signal(ctx, level, m) if ctx.volume.contrast == "T2" else (None, 0.0)
    return _Measured(m, signal, csf)


def _brightest_peak(measured: list[_Measured]) -> float:
    peaks = [x.signal.peak_csf_ratio for x in measured if x.signal is not None]
    return max(peaks) if peaks else 0.0


def grade_level(
    ctx: _Context, level: LevelFindings, found: _Measured, brightest: float
) -> tuple[list[Measurement], list[Grade]]:
    """Measurements and grades of one level (each grade names the measurements it used)."""
    if found.m is None:
        return [], [Grade(name, None, note=found.note) for name in GRADE_NAMES]
    m = found.m
    out: list[Measurement] = []
    grades: list[Grade] = []
    why = m.notes.get("all") or m.notes.get("geometry") or ""
    where = f"sagittal slice {m.slice_index + 1}" if m.slice_index is not None else ""

    # --- heights and narrowing
    dhi = None
    if m.disc_heights:
        for key in ("anterior", "middle", "posterior"):
            method = (
                "run of the disc label along the disc axis through its centre"
                if key == "middle"
                else (f"distance between the endplate lines at the {key} corners, along the disc axis")
            )
            out.append(Measurement(f"disc_height_{key}", round(m.disc_heights[key], 2), "mm", f"{method}, {where}"))
        body = m.upper_body_heights.get("middle", 0.0)
        if body > 0 and m.disc_heights["middle"] > 0:
            dhi = definitions.disc_height_index(m.disc_heights["middle"], body)
            out.append(
                Measurement(
                    "disc_height_index",
                    round(dhi, 4),
                    "1",
                    f"middle disc height / middle height of {level.upper_vertebra} ({body:.1f} mm)",
                )
            )
    if dhi is not None:
        normal = definitions.normal_disc_height_index(level.level)
        grades.append(
            Grade(
                "narrowing",
                ctx.settings.narrowing(dhi, level.level),
                ("disc_height_middle", "disc_height_index"),
                note=f"height loss {definitions.height_loss_percent(dhi, level.level):.0f} % against a normal index "
                f"of {normal:.2f}",
            )
        )
    else:
        grades.append(Grade("narrowing", None, note=why or "disc or vertebral body height not measurable"))

    # --- listhesis
    if m.slip_mm is not None and m.lower_endplate_mm:
        percent = definitions.slip_percent(m.slip_mm, m.lower_endplate_mm)
        out.append(
            Measurement(
                "slip",
                round(m.slip_mm, 2),
                "mm",
                f"posterior-wall method, parallel to the {level.lower_vertebra} endplate, {where}",
            )
        )
        out.append(
            Measurement(
                "slip_percent",
                round(percent, 1),
                "%",
                f"of the {level.lower_vertebra} superior endplate length ({m.lower_endplate_mm:.1f} mm)",
            )
        )
        grades.append(
            Grade("meyerding", ctx.settings.meyerding(m.slip_mm, m.lower_endplate_mm), ("slip", "slip_percent"))
        )
        grades.append(Grade("listhesis_direction", ctx.settings.listhesis_direction(m.slip_mm), ("slip",)))
    else:
        grades += [
            Grade("meyerding", None, note=why or "slip not measurable"),
            Grade("listhesis_direction", None, note=why or "slip not measurable"),
        ]

    # --- canal
    if m.canal_ap_mm is not None:
        out.append(
            Measurement(
                "canal_ap_diameter",
                round(m.canal_ap_mm, 2),
                "mm",
                "dural sac along the disc's AP axis behind its centre, interpolated to the midline",
            )
        )
        bands = ctx.settings.stenosis_bands(level.level)
        grades.append(
            Grade(
                "canal_stenosis",
                ctx.settings.stenosis(m.canal_ap_mm, level.level),
                ("canal_ap_diameter",),
                note=f"{definitions.canal_region(level.level)} bands {bands[0]:g}/{bands[1]:g}/{bands[2]:g} mm",
            )
        )
    else:
        grades.append(Grade("canal_stenosis", None, note=m.notes.get("canal") or why or "no canal label"))

    # --- herniation
    if m.herniation_extent_mm is not None and m.migration_mm is not None:
        out.append(
            Measurement(
                "herniation_extent",
                round(m.herniation_extent_mm, 2),
                "mm",
                "disc beyond the posterior-wall line, perpendicular to it, at the midline",
            )
        )
        out.append(
            Measurement(
                "herniation_migration",
                round(m.migration_mm, 2),
                "mm",
                "disc behind the wall line beyond the endplate lines",
            )
        )
        grades.append(
            Grade(
                "herniation",
                ctx.settings.herniation(m.herniation_extent_mm, m.migration_mm),
                ("herniation_extent", "herniation_migration"),
            )
        )
    else:
        grades.append(Grade("herniation", None, note=why or "posterior wall line not measurable"))

    # --- signal: Pfirrmann, marrow, Modic, endplate defects
    signal_measures, signal_grades = _signal_grades(ctx, level, m, dhi, found, brightest)
    return out + signal_measures, grades + signal_grades


def _signal_grades(
    ctx: _Context, level: LevelFindings, m: LevelMeasures, dhi: float | None, found: _Measured, brightest: float
) -> tuple[list[Measurement], list[Grade]]:
    out: list[Measurement] = []
    grades: list[Grade] = []
    contrast = ctx.volume.contrast
    geo = m.geometry
    lumbar = level.upper_vertebra.startswith("L")
    caveat = "" if lumbar else PFIRRMANN_LUMBAR_NOTE
    if geo is None or m.slice_index is None:
        why = m.notes.get("all", "level geometry not measurable")
        return [], [
            Grade(n, None, note=why) for n in GRADE_NAMES if n.startswith(("pfirrmann", "modic", "marrow", "endplate"))
        ]
    k = m.slice_index
    # Pfirrmann
    if contrast != "T2":
        grades.append(
            Grade(
                "pfirrmann",
                None,
                note=f"Pfirrmann is defined on T2-weighted images; this series is {contrast or 'of unknown contrast'}",
            )
        )
    else:
        sig, csf = found.signal, found.csf
        if sig is None:
            grades.append(Grade("pfirrmann", None, note="no CSF reference or disc centre to read the signal from"))
        else:
            out.append(
                Measurement(
                    "nucleus_csf_ratio",
                    round(sig.nucleus_csf_ratio, 3),
                    "1",
                    f"mean central disc signal / CSF reference {csf:.0f} (90th percentile of the dural sac), "
                    f"sagittal slice {k + 1}",
                )
            )
            out.append(
                Measurement(
                    "nucleus_homogeneity",
                    round(sig.homogeneity, 3),
                    "1",
                    "1 - coefficient of variation of the central disc signal",
                )
            )
            rel = (dhi / definitions.normal_disc_height_index(level.level)) if dhi else 1.0
            result = pfirrmann.classify(pfirrmann.features(sig, rel, brightest))
            if result is None:
                grades.append(Grade("pfirrmann", None, note="the Pfirrmann classifier is not calibrated"))
            else:
                grade, probabilities = result
                if probabilities[grade] < ctx.settings.pfirrmann_min_probability:
                    grades.append(
                        Grade(
                            "pfirrmann",
                            None,
                            ("nucleus_csf_ratio", "nucleus_homogeneity"),
                            probabilities,
                            note=f"no grade reaches probability {ctx.settings.pfirrmann_min_probability:.2f}",
                        )
                    )
                else:
                    derived = ("nucleus_csf_ratio", "nucleus_homogeneity") + (("disc_height_index",) if dhi else ())
                    grades.append(Grade("pfirrmann", grade, derived, probabilities, note=caveat))
    # marrow, Modic, endplate defects, per endplate next to this disc
    upper_label = VERTEBRA_LABELS[level.upper_vertebra]
    lower_label = _lower_label(level.lower_vertebra)
    t1_slice = _t1_slice(ctx, k) if ctx.t1 is not None else None
    for side, frame, label, endplate in (
        ("upper", geo.upper, upper_label, "inferior"),
        ("lower", geo.lower, lower_label, "superior"),
    ):
        mask = ctx.labels[k] == label
        if frame.truncated:
            cut = "the vertebra is cut by the edge of the image"
            grades += [
                Grade(f"{name}_{side}", None, note=cut) for name in ("marrow_change", "modic", "endplate_defect")
            ]
            continue
        sig2 = marrow.endplate_signal(ctx.image[k], frame, mask, ctx.spacing2, endplate)
        if sig2 is None:
            grades.append(Grade(f"marrow_change_{side}", None, note="endplate band not measurable"))
            grades.append(Grade(f"modic_{side}", None, note="endplate band not measurable"))
        else:
            name = f"endplate_marrow_ratio_{side}"
            out.append(
                Measurement(
                    name,
                    round(sig2.ratio, 3),
                    "1",
                    f"{contrast or 'image'} signal 1-3.5 mm under the {endplate} endplate of "
                    f"{getattr(level, side + '_vertebra')} / its mid-body marrow",
                )
            )
            present = marrow.marrow_change(sig2, ctx.settings.marrow_bright_ratio, ctx.settings.marrow_dark_ratio)
            grades.append(Grade(f"marrow_change_{side}", "present" if present else "absent", (name,)))
            if t1_slice is None or contrast != "T2":
                grades.append(
                    Grade(
                        f"modic_{side}",
                        None,
                        note=MODIC_T2_ONLY_NOTE
                        if contrast == "T2"
                        else f"Modic typing needs T1 and T2 of the same study; {contrast or 'unknown'} given",
                    )
                )
            else:
                sig1 = marrow.endplate_signal(t1_slice, frame, mask, ctx.spacing2, endplate)
                if sig1 is None:
                    grades.append(Grade(f"modic_{side}", None, note="endplate band not measurable on T1"))
                else:
                    name1 = f"endplate_marrow_ratio_t1_{side}"
                    out.append(Measurement(name1, round(sig1.ratio, 3), "1", "the same band on the T1 series"))
                    grades.append(
                        Grade(
                            f"modic_{side}",
                            marrow.modic_type(
                                sig2, sig1, ctx.settings.marrow_bright_ratio, ctx.settings.marrow_dark_ratio
                            ),
                            (name, name1),
                        )
                    )
        if not ctx.settings.endplate_defects:
            grades.append(Grade(f"endplate_defect_{side}", None, note=ENDPLATE_DEFECT_OFF_NOTE))
        else:
            reading, at = _defect_reading(ctx, level, frame, label, endplate, m)
            name = f"endplate_defect_depth_{side}"
            where = f", sagittal slice {at + 1}" if at is not None else ""
            vertebra = getattr(level, side + "_vertebra")
            out.append(
                Measurement(
                    name,
                    round(reading.depth_mm, 2),
                    "mm",
                    f"deepest focal reach of the disc label into the {endplate} endplate of {vertebra} beyond "
                    f"its fitted profile, mid-sagittal slab{where}",
                )
            )
            present = reading.depth_mm >= ctx.settings.endplate_defect_depth_mm
            grades.append(Grade(f"endplate_defect_{side}", "present" if present else "absent", (name,)))
    return out, grades


def _disc_signal(ctx: _Context, level: LevelFindings, m: LevelMeasures) -> tuple[DiscSignal | None, float]:
    """The disc's signal features on its geometry slice and the CSF reference they are relative to."""
    geo, k = m.geometry, m.slice_index
    if geo is None or k is None:
        return None, 0.0
    near = [s for s in (k - 1, k, k + 1) if 0 <= s < ctx.labels.shape[0]]
    csf = csf_reference(ctx.image, ctx.labels, near, geo, ctx.spacing2)
    disc = ctx.labels[k] == level.disc_label
    height = m.disc_heights.get("middle") or measure.disc_heights(geo, disc, ctx.spacing2)["middle"]
    sig = disc_signal(ctx.image[k], disc, geo, csf, ctx.spacing2, height) if csf else None
    return sig, csf or 0.0


def pfirrmann_features(
    volume: Volume, labels: NDArray[np.integer], levels: list[LevelFindings]
) -> list[NDArray[np.float64] | None]:
    """The classifier's feature vectors of a series' levels (what :mod:`pipeline.grading.calibrate` fits)."""
    anterior, superior = inplane_directions(volume)
    ctx = _Context(
        volume,
        labels,
        np.asarray(volume.array, dtype=np.float64),
        None,
        GradingSettings(),
        anterior,
        superior,
        (volume.spacing[1], volume.spacing[2]),
    )
    measured = [_measure(ctx, level) for level in levels]
    brightest = _brightest_peak(measured)
    out: list[NDArray[np.float64] | None] = []
    for level, found in zip(levels, measured, strict=True):
        if found.m is None or found.signal is None:
            out.append(None)
            continue
        body = found.m.upper_body_heights.get("middle", 0.0)
        middle = found.m.disc_heights.get("middle", 0.0)
        rel = 1.0
        if body > 0 and middle > 0:
            rel = definitions.disc_height_index(middle, body) / definitions.normal_disc_height_index(level.level)
        out.append(pfirrmann.features(found.signal, rel, brightest))
    return out


def _defect_reading(
    ctx: _Context, level: LevelFindings, frame: BodyFrame, label: int, endplate: str, m: LevelMeasures
) -> tuple[endplate_defects.DefectReading, int | None]:
    """Deepest focal reach of the disc into one endplate over the endplate's mid-sagittal slab (the
    body's frame is found again on each slice), and the slice it was found on."""
    best, at = endplate_defects.NO_DEFECT, None
    discs = ctx.labels == level.disc_label
    sacrum = frame.inferior_mid is None
    for k in endplate_defects.slab_slices(np.count_nonzero(discs, axis=(1, 2))):
        if k == m.slice_index:
            f: BodyFrame | None = frame
        else:
            mask = largest_component(ctx.labels[k] == label)
            if sacrum:
                f = endplate_frame(mask, discs[k], ctx.spacing2, ctx.anterior)
            else:
                f = body_frame(mask, ctx.spacing2, ctx.anterior, frame.w)
        if f is None or f.truncated:
            continue
        reading = endplate_defects.defect_on_slice(discs[k], f, ctx.spacing2, endplate)
        if reading.depth_mm > best.depth_mm:
            best, at = reading, int(k)
    return best, at


def _t1_slice(ctx: _Context, k: int) -> NDArray[np.float64] | None:
    """The T1 series sampled on slice ``k`` of the analysed grid (through patient coordinates)."""
    t1 = ctx.t1
    assert t1 is not None
    vol = ctx.volume
    if t1.shape == vol.shape and np.allclose(t1.affine, vol.affine, atol=1e-3):
        return np.asarray(t1.array[k], dtype=np.float64)
    jj, ii = np.meshgrid(np.arange(vol.shape[1]), np.arange(vol.shape[2]), indexing="ij")
    index = np.stack([np.full(jj.shape, k), jj, ii], axis=-1).reshape(-1, 3)
    target = t1.lps_to_index(vol.index_to_lps(index))
    values = ndimage.map_coordinates(
        np.asarray(t1.array, dtype=np.float32), target.T, order=1, mode="constant", cval=np.nan
    )
    if np.isnan(values).mean() > 0.5:
        return None
    return values.reshape(vol.shape[1], vol.shape[2]).astype(np.float64)


def vertebra_measurements(ctx: _Context, vertebra: VertebraFindings) -> list[Measurement]:
    """Anterior, middle and posterior body heights on the slice nearest the body's centroid."""
    if vertebra.label == SACRUM or vertebra.label not in VERTEBRA_LABELS.values():
        return []
    counts = np.count_nonzero(ctx.labels == vertebra.label, axis=(1, 2))
    if counts.sum() == 0:
        return []
    k = round(float((np.arange(counts.size) * counts).sum() / counts.sum()))
    mask = ctx.labels[k] == vertebra.label
    hint = _disc_hint(ctx, k, vertebra.label)
    frame = body_frame(mask, ctx.spacing2, ctx.anterior, hint)
    if frame is None or frame.truncated:
        return []
    heights = measure.body_heights(frame, largest_component(mask), ctx.spacing2)
    where = f"sagittal slice {k + 1}"
    out = [
        Measurement(
            f"vertebral_height_{key}",
            round(heights[key], 2),
            "mm",
            f"run of the body label along its axis ({'centre' if key == 'middle' else key + ' wall - 2 mm'}), {where}",
        )
        for key in ("anterior", "middle", "posterior")
        if heights[key] > 0
    ]
    if heights["anterior"] > 0 and heights["posterior"] > 0:
        out.append(
            Measurement(
                "wedge_ratio",
                round(heights["anterior"] / heights["posterior"], 3),
                "1",
                "anterior / posterior body height",
            )
        )
    return out


def _disc_hint(ctx: _Context, k: int, label: int) -> Vec2:
    """Cranio-caudal direction at a vertebra: the thin axis of an adjacent disc, else patient superior."""
    for disc_label in (label + 100, label + 99):
        disc = ctx.labels[k] == disc_label
        axis = disc_axis(disc, ctx.spacing2) if disc.any() else None
        if axis is not None:
            return axis if axis @ ctx.superior >= 0 else -axis
    return ctx.superior
