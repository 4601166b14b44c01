"""Grading definitions shared by the phantom's truth and the grading stage.

The generator writes its truth with these functions and the grader measures images against the same
functions, so a disagreement between the two is a measurement error and never a definition mismatch.
Every function takes a *measured number* and returns a grade; how each number is measured is written in
the docstring so that both sides measure the same thing. The geometric conventions are:

* **mid-sagittal plane of a disc**: the plane through the disc centre spanned by the disc's
  anterior-posterior (AP) axis and its cranio-caudal axis (the mean of the normals of the two endplates).
* **posterior-inferior / posterior-superior corner**: the intersection, in that plane, of the vertebral
  body's posterior wall line with its inferior / superior endplate line.
* **posterior-wall line of a disc level**: the straight line through the posterior-inferior corner of the
  upper vertebra and the posterior-superior corner of the lower vertebra.

Thresholds that the literature states as a range or leaves to the reader are marked *project convention*;
change them here, in one place, and both sides follow.
"""

from __future__ import annotations

from typing import Literal

Narrowing = Literal["none", "mild", "moderate", "severe"]
Stenosis = Literal["none", "mild", "moderate", "severe"]
Herniation = Literal["none", "bulge", "protrusion", "extrusion"]
ListhesisDirection = Literal["none", "anterolisthesis", "retrolisthesis"]

# --- Spondylolisthesis ----------------------------------------------------------------------------------

LISTHESIS_MIN_MM = 3.0
"""Translations below 3 mm are reported as no listhesis (project convention; 3 mm is the usual
radiographic threshold for degenerative spondylolisthesis and retrolisthesis, below it positioning and
measurement error dominate)."""

MEYERDING_BANDS: tuple[tuple[float, str], ...] = ((25.0, "I"), (50.0, "II"), (75.0, "III"), (100.0, "IV"))
"""Upper bounds (percent of the lower endplate length, exclusive) of Meyerding grades I-IV; 100 % and
more is grade V (spondyloptosis). Meyerding HW, "Spondylolisthesis", Surg Gynecol Obstet 54:371-377,
1932."""


def slip_percent(slip_mm: float, lower_endplate_length_mm: float) -> float:
    """Slip as a percentage of the AP length of the lower vertebra's superior endplate.

    Posterior-wall method (as used for Meyerding grading, e.g. Meyerding 1932; Niggemann et al., Eur Spine
    J 2012): on the mid-sagittal plane, ``slip_mm`` is the signed distance, measured parallel to the lower
    vertebra's superior endplate (anterior positive), from the line of the lower vertebra's posterior
    wall to the posterior-inferior corner of the upper vertebra. For L5/S1 the lower endplate is S1's.
    """
    if lower_endplate_length_mm <= 0:
        raise ValueError("the lower endplate length must be positive")
    return 100.0 * slip_mm / lower_endplate_length_mm


def listhesis_direction(slip_mm: float, *, min_mm: float = LISTHESIS_MIN_MM) -> ListhesisDirection:
    """Anterolisthesis for a forward slip of the upper vertebra, retrolisthesis for a backward one."""
    if abs(slip_mm) < min_mm:
        return "none"
    return "anterolisthesis" if slip_mm > 0 else "retrolisthesis"


def meyerding_grade(
    slip_mm: float,
    lower_endplate_length_mm: float,
    *,
    min_mm: float = LISTHESIS_MIN_MM,
    bands_percent: tuple[float, ...] = tuple(upper for upper, _ in MEYERDING_BANDS),
) -> str:
    """Meyerding grade ``"0"``, ``"I"``..``"IV"`` or ``"V"`` from the posterior-wall slip.

    ``"0"`` means below ``min_mm`` (:data:`LISTHESIS_MIN_MM`). Retrolisthesis is graded on its absolute
    value, as most reports do. ``bands_percent`` are the upper bounds of I..IV (a site may configure them).
    """
    if abs(slip_mm) < min_mm:
        return "0"
    percent = abs(slip_percent(slip_mm, lower_endplate_length_mm))
    for upper, grade in zip(bands_percent, ("I", "II", "III", "IV"), strict=True):
        if percent < upper:
            return grade
    return "V"


# --- Disc height and narrowing ---------------------------------------------------------------------------

NORMAL_DISC_HEIGHT_INDEX: dict[str, float] = {
    "cervical": 0.4,
    "thoracic": 0.26,
    "L1/L2": 0.36,
    "L2/L3": 0.4,
    "L3/L4": 0.43,
    "L4/L5": 0.45,
    "lumbosacral": 0.41,
}
"""Expected disc height index of a healthy adult disc by level (project convention, set from typical
adult disc and vertebral-body heights, e.g. Frobin et al., Clin Biomech 1997 for the lumbar spine).
``lumbosacral`` is the disc above the sacrum (L5/S1, or L6/S1 with a transitional L6)."""

NARROWING_BANDS: tuple[tuple[float, Narrowing], ...] = ((15.0, "none"), (33.0, "mild"), (66.0, "moderate"))
"""Upper bounds (exclusive) of the height loss in percent of the level's normal index; 66 % and more is
severe. Bands in thirds follow the semi-quantitative 0-3 narrowing scales of radiographic atlases (Lane
et al., "Atlas of standardized radiographs of the spine", J Rheumatol 1993 and the Kellgren tradition);
the 15 % floor for "none" absorbs normal variation (project convention)."""


def disc_height_index(disc_height_mm: float, upper_body_height_mm: float) -> float:
    """Disc height index: middle disc height divided by the upper vertebral body's middle height.

    Middle disc height: on the disc's mid-sagittal plane, along the disc axis through the disc centre, the
    distance from the upper vertebra's inferior endplate to the lower vertebra's superior endplate (the
    length of the disc label on that line). Upper body height: on the same plane, the vertebral body's
    extent along its own cranio-caudal axis through its centre. Normalising by the body removes patient
    size and pixel-spacing errors (in the spirit of Farfan's and Dabbs' indices).
    """
    if upper_body_height_mm <= 0:
        raise ValueError("the vertebral body height must be positive")
    return disc_height_mm / upper_body_height_mm


def normal_disc_height_index(level: str) -> float:
    """The healthy reference index of a level name such as ``"L4/L5"``, ``"C5/C6"`` or ``"T8/T9"``."""
    upper, _, lower = level.partition("/")
    if lower in ("S1", "S"):
        return NORMAL_DISC_HEIGHT_INDEX["lumbosacral"]
    if level in NORMAL_DISC_HEIGHT_INDEX:
        return NORMAL_DISC_HEIGHT_INDEX[level]
    if upper.startswith("C"):
        return NORMAL_DISC_HEIGHT_INDEX["cervical"]
    if upper.startswith("T"):
        return NORMAL_DISC_HEIGHT_INDEX["thoracic"]
    # L5/L6 of a transitional spine behaves like a lower lumbar disc.
    return NORMAL_DISC_HEIGHT_INDEX["L4/L5"]


def height_loss_percent(index: float, level: str) -> float:
    """Height loss relative to the level's normal index, in percent (negative: taller than normal)."""
    return 100.0 * (1.0 - index / normal_disc_height_index(level))


def narrowing_grade(
    index: float, level: str, *, bands_percent: tuple[float, ...] = tuple(upper for upper, _ in NARROWING_BANDS)
) -> Narrowing:
    """Disc narrowing grade from the disc height index (see :data:`NARROWING_BANDS`)."""
    loss = height_loss_percent(index, level)
    grades: tuple[Narrowing, ...] = ("none", "mild", "moderate")
    for upper, grade in zip(bands_percent, grades, strict=True):
        if loss < upper:
            return grade
    return "severe"


# --- Central canal stenosis -------------------------------------------------------------------------------

STENOSIS_BANDS_MM: dict[str, tuple[float, float, float]] = {
    "lumbar": (12.0, 10.0, 7.0),
    "thoracic": (11.0, 9.0, 6.0),
    "cervical": (10.0, 8.0, 6.0),
}
"""Lower bounds (mm) of none / mild / moderate on the dural-sac AP diameter; below the last is severe.
Lumbar: Verbiest's relative (10-12 mm) and absolute (< 10 mm) stenosis of the AP diameter (Verbiest H,
J Bone Joint Surg Br 36:230-237, 1954; Verbiest, 1977), with < 7 mm as severe (project convention, the
CSF is then nearly obliterated). Cervical: < 10 mm is the classic threshold for a narrow cervical canal
(e.g. Edwards & LaRocca, Spine 1983); thoracic in between (project convention)."""


def canal_region(level: str) -> str:
    """``"cervical"``, ``"thoracic"`` or ``"lumbar"`` by the upper vertebra of a disc level."""
    upper = level.partition("/")[0]
    return {"C": "cervical", "T": "thoracic"}.get(upper[:1], "lumbar")


def stenosis_grade(
    ap_diameter_mm: float, level: str, *, bands_mm: tuple[float, float, float] | None = None
) -> Stenosis:
    """Central canal stenosis grade from the dural-sac AP diameter at a disc level.

    Measurement: on the disc's mid-sagittal plane, along the line from the disc centre backwards parallel
    to the disc's AP axis (45 mm long), the longest uninterrupted stretch of dural sac (label CANAL or
    CORD); the mean over five such lines 0.25 mm apart cranio-caudally (-0.5..+0.5 mm around the centre).
    "Longest" rather than "first" keeps a sliver of CSF beside a herniation from counting; the mean of
    five lines keeps one pixel step at a grazing posterior corner (L5/S1) from deciding the number.
    """
    none_min, mild_min, moderate_min = bands_mm or STENOSIS_BANDS_MM[canal_region(level)]
    if ap_diameter_mm >= none_min:
        return "none"
    if ap_diameter_mm >= mild_min:
        return "mild"
    if ap_diameter_mm >= moderate_min:
        return "moderate"
    return "severe"


# --- Disc herniation -------------------------------------------------------------------------------------

BULGE_MIN_MM = 1.5
"""Posterior extent beyond the posterior-wall line below which the disc margin counts as normal."""
PROTRUSION_MIN_MM = 3.0
"""Focal extent from which a displacement counts as a protrusion rather than a bulge."""
MIGRATION_MIN_MM = 2.0
"""Disc material more than this far beyond the cranial or caudal endplate line makes an extrusion."""


def herniation_class(
    posterior_extent_mm: float,
    migration_mm: float = 0.0,
    *,
    bulge_min_mm: float = BULGE_MIN_MM,
    protrusion_min_mm: float = PROTRUSION_MIN_MM,
    migration_min_mm: float = MIGRATION_MIN_MM,
) -> Herniation:
    """Herniation class from the disc's posterior extent and its cranio-caudal migration.

    ``posterior_extent_mm``: on the disc's mid-sagittal plane, the largest distance of disc tissue
    posterior to the posterior-wall line, measured perpendicular to that line. ``migration_mm``: the largest
    distance by which disc tissue posterior to the posterior-wall line extends above the upper vertebra's
    inferior endplate line or below the lower vertebra's superior endplate line.

    Classes after the combined task forces' nomenclature (Fardon DF et al., "Lumbar disc nomenclature:
    version 2.0", Spine J 14:2525-2545, 2014): displaced material that stays within the disc space is a
    bulge when shallow and broad and a protrusion when it reaches further; material that escapes beyond
    the endplates (migration, a "neck" narrower than the fragment) is an extrusion. Fardon separates bulge
    from protrusion by the share of the circumference (> 25 % bulge); a single sagittal plane cannot see
    that, so the depth thresholds :data:`BULGE_MIN_MM` and :data:`PROTRUSION_MIN_MM` stand in for it
    (project convention).
    """
    if migration_mm > migration_min_mm and posterior_extent_mm >= bulge_min_mm:
        return "extrusion"
    if posterior_extent_mm >= protrusion_min_mm:
        return "protrusion"
    if posterior_extent_mm >= bulge_min_mm:
        return "bulge"
    return "none"


# --- Pfirrmann, Modic, fractures ------------------------------------------------------------------------

PFIRRMANN: dict[int, str] = {
    1: "homogeneous bright white nucleus, clear distinction of nucleus and annulus, normal disc height",
    2: "inhomogeneous white nucleus with or without horizontal bands, clear distinction, normal height",
    3: "inhomogeneous grey nucleus, unclear distinction of nucleus and annulus, normal to slightly decreased height",
    4: "inhomogeneous grey to black nucleus, lost distinction of nucleus and annulus, normal to moderately "
    "decreased height",
    5: "inhomogeneous black disc, lost distinction, collapsed disc space",
}
"""Pfirrmann C et al., "Magnetic resonance classification of lumbar intervertebral disc degeneration",
Spine 26(17):1873-1878, 2001 (on T2-weighted images; validated for lumbar discs)."""

MODIC: dict[int, dict[str, str]] = {
    1: {"T1": "hypo", "T2": "hyper", "STIR": "hyper", "meaning": "oedema, inflammation"},
    2: {"T1": "hyper", "T2": "iso-hyper", "STIR": "hypo", "meaning": "fatty replacement"},
    3: {"T1": "hypo", "T2": "hypo", "STIR": "hypo", "meaning": "sclerosis"},
}
"""Signal of endplate marrow changes per contrast. Modic MT et al., Radiology 166:193-199, 1988 and
Modic et al., Radiology 168:177-186, 1988. Typing needs T1 with T2 or STIR; from one contrast alone the
type is ambiguous and should be reported as not assessed."""

GENANT_BANDS: tuple[tuple[float, int], ...] = ((20.0, 0), (25.0, 1), (40.0, 2))
"""Upper bounds (exclusive, percent height reduction) of Genant semi-quantitative grades 0-2; 40 % and
more is grade 3. Genant HK et al., J Bone Miner Res 8:1137-1148, 1993."""


def genant_grade(height_loss_percent_: float) -> int:
    """Genant grade 0-3 of a vertebral body from its largest height reduction (anterior, middle or
    posterior height against the expected height; for a wedge, anterior against posterior)."""
    for upper, grade in GENANT_BANDS:
        if height_loss_percent_ < upper:
            return grade
    return 3
