"""The DICOM-free result of one analysis, handed from `pipeline` to the SEG/SR/picture builders.

Every number a radiologist may see (SR, findings.json, the picture's grade table) is read from one
:class:`SpineAnalysis`, so the three outputs can never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

StructureKind = Literal["vertebra", "disc", "canal", "cord"]


@dataclass(frozen=True)
class Structure:
    """One labelled structure of the label map (a vertebra, a disc, the canal)."""

    label: int
    """Its value in :attr:`SpineAnalysis.label_map` (see :mod:`pipeline.labels`)."""
    name: str
    """Level name as reported: ``"L4"``, ``"L4/L5"``, ``"S1"`` for the sacrum, ``"spinal canal"``."""
    kind: StructureKind
    centroid_lps: tuple[float, float, float]
    """Centre of mass in patient LPS millimetres."""
    centroid_index: tuple[float, float, float]
    """Centre of mass in voxel indices ``(k, j, i)`` of the source grid."""
    voxel_count: int
    confidence: float
    """0..1: how sure the pipeline is of this structure and its name together."""


@dataclass(frozen=True)
class Measurement:
    """A number with its unit and what it was measured on, so every grade can be checked."""

    name: str
    """Stable key, e.g. ``"disc_height_middle"``, ``"slip"``, ``"canal_ap_diameter"``."""
    value: float
    unit: str
    """UCUM unit code: ``"mm"``, ``"%"``, ``"1"`` (a ratio), ``"mm2"``."""
    derived_from: str = ""
    """Plain words on the method, e.g. ``"posterior-wall method on the mid-sagittal slice"``."""


@dataclass(frozen=True)
class Grade:
    """A categorical finding. Not assessed is a value of its own, never a guess."""

    name: str
    """``"pfirrmann"``, ``"narrowing"``, ``"meyerding"``, ``"listhesis_direction"``,
    ``"canal_stenosis"``, ``"herniation"``, ``"modic_upper"``, ``"modic_lower"``,
    ``"endplate_defect_upper"``, ``"endplate_defect_lower"``, ``"marrow_change_upper"``, ..."""
    value: str | None
    """``"3"``, ``"moderate"``, ``"protrusion"``, ``"present"``; None when not assessed."""
    derived_from: tuple[str, ...] = ()
    """Names of the :class:`Measurement` objects this grade was computed from."""
    probabilities: dict[str, float] | None = None
    """Class probabilities when a classifier gives them."""
    note: str = ""
    """Why it was not assessed, or a caveat (``"Pfirrmann is validated for lumbar discs only"``)."""

    @property
    def assessed(self) -> bool:
        return self.value is not None


@dataclass
class LevelFindings:
    """Grades and measurements of one disc level (``"L4/L5"``)."""

    level: str
    disc_label: int
    upper_vertebra: str
    lower_vertebra: str
    grades: list[Grade] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)

    def grade(self, name: str) -> Grade | None:
        return next((g for g in self.grades if g.name == name), None)

    def measurement(self, name: str) -> Measurement | None:
        return next((m for m in self.measurements if m.name == name), None)


@dataclass
class VertebraFindings:
    """Measurements of one vertebral body (heights, wedge ratio)."""

    name: str
    label: int
    grades: list[Grade] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)


@dataclass
class QualityControl:
    """What the pipeline knows about the trustworthiness of this result."""

    naming_certain: bool
    """True only when C2 and the sacrum are both in view and the count between them checks out."""
    anchors: tuple[str, ...] = ()
    """Anchors the naming rests on: ``"sacrum"``, ``"C2"``."""
    region: str = "unknown"
    """``"lumbar"``, ``"thoracolumbar"``, ``"thoracic"``, ``"cervical"``, ``"whole"`` or ``"unknown"``."""
    warnings: list[str] = field(default_factory=list)
    naming_basis: str = "none"
    """What the level names rest on: ``"C2 and sacrum"`` (a checked count), ``"sacrum"`` or ``"C2"`` (counted
    from one anchor by the usual convention), ``"sacrum and ribs"`` (counted from the sacrum, six lumbar
    vertebrae read off the ribs), ``"none"`` (a guess)."""
    ribs: dict[str, bool] = field(default_factory=dict)
    """Per vertebra name, whether a rib was seen on it; only the vertebrae the rib evidence could judge
    (a network with the rib class, ribs in the slab)."""

    @property
    def naming_statement(self) -> str:
        """One sentence for a reader on what the level names rest on (picture, CLI, findings.json)."""
        if self.naming_certain:
            return "levels counted from C2 to the sacrum, count checked"
        if self.naming_basis == "sacrum and ribs":
            return (
                "levels counted up from the sacrum with 6 lumbar vertebrae (L6), read off the ribs: "
                "not confirmed, check"
            )
        if self.naming_basis == "sacrum":
            return "levels counted up from the sacrum assuming 5 lumbar vertebrae: not confirmed, check"
        if self.naming_basis == "C2":
            return "levels counted down from C2: not confirmed, check"
        if self.naming_basis == "C2 and sacrum":
            return "levels counted from C2 and the sacrum, but the count did not check out: check"
        return "level names are a guess (no C2 or sacrum in view): check"


@dataclass
class SpineAnalysis:
    """Everything one analysis found on one series, on the source grid."""

    label_map: NDArray[np.uint8]
    """Same shape and grid as the analysed :class:`pipeline.volume.Volume`; 0 is background."""
    structures: list[Structure]
    levels: list[LevelFindings]
    vertebrae: list[VertebraFindings]
    qc: QualityControl
    algorithm_name: str
    algorithm_version: str

    def structure(self, name: str) -> Structure | None:
        return next((s for s in self.structures if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (everything but the label map), the content of ``findings.json``."""
        return {
            "disclaimer": "Research / decision support output. Not for primary diagnosis.",
            "algorithm": {"name": self.algorithm_name, "version": self.algorithm_version},
            "qc": {**asdict(self.qc), "naming": self.qc.naming_statement},
            "structures": [asdict(s) for s in self.structures],
            "levels": [_level_dict(level) for level in self.levels],
            "vertebrae": [asdict(v) for v in self.vertebrae],
        }


def _level_dict(level: LevelFindings) -> dict[str, Any]:
    data = asdict(level)
    for grade, raw in zip(level.grades, data["grades"], strict=True):
        raw["assessed"] = grade.assessed
    return data
