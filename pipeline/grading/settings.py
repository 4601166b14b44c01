"""Thresholds of the grading stage, one dataclass the node's ``[grading]`` config section fills.

Every default is read from :mod:`pipeline.definitions`, the module the phantom's truth is written with,
so an unchanged configuration grades exactly as the truth is defined. A site that prefers other
literature bands changes them in ``config.toml``; the grades then say so through the settings they
were computed with (see :func:`GradingSettings.describe`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pipeline import definitions


def _stenosis_default(region: str) -> tuple[float, float, float]:
    return tuple(definitions.STENOSIS_BANDS_MM[region])  # type: ignore[return-value]


@dataclass(frozen=True)
class GradingSettings:
    """Thresholds and switches of :func:`pipeline.grading.grade_analysis` (all lengths in mm)."""

    listhesis_min_mm: float = definitions.LISTHESIS_MIN_MM
    """Slips below this are reported as no listhesis (Meyerding "0")."""
    meyerding_bands_percent: tuple[float, float, float, float] = tuple(  # type: ignore[assignment]
        upper for upper, _ in definitions.MEYERDING_BANDS
    )
    """Exclusive upper bounds (% of the lower endplate length) of Meyerding I..IV (Meyerding 1932)."""
    narrowing_bands_percent: tuple[float, float, float] = tuple(  # type: ignore[assignment]
        upper for upper, _ in definitions.NARROWING_BANDS
    )
    """Exclusive upper bounds of the height loss (% of the level's normal index) of none/mild/moderate."""
    stenosis_lumbar_mm: tuple[float, float, float] = field(default_factory=lambda: _stenosis_default("lumbar"))
    """Lower bounds of none/mild/moderate on the dural-sac AP diameter, lumbar (Verbiest 1954)."""
    stenosis_thoracic_mm: tuple[float, float, float] = field(default_factory=lambda: _stenosis_default("thoracic"))
    stenosis_cervical_mm: tuple[float, float, float] = field(default_factory=lambda: _stenosis_default("cervical"))
    """Cervical bands (Edwards & LaRocca 1983: < 10 mm narrow)."""
    bulge_min_mm: float = definitions.BULGE_MIN_MM
    protrusion_min_mm: float = definitions.PROTRUSION_MIN_MM
    migration_min_mm: float = definitions.MIGRATION_MIN_MM
    """Herniation classes (Fardon et al. 2014, depth thresholds as a single-plane stand-in)."""
    marrow_bright_ratio: float = 1.02
    marrow_dark_ratio: float = 0.55
    """The endplate band (1-3.5 mm under the endplate, anterior 45 %) is called bright / dark when its
    median signal over the body's mid-height marrow is above / below these. A normal band reads ~0.8 on
    phantom T2 and T1 (partial volume with the cortical endplate), Modic I on T2 >= 1.07, Modic III
    ~0.2 (project convention, set on tuning phantoms 800000-800029, not on the evaluation seeds)."""
    endplate_defects: bool = True
    """Grade endplate defects (Schmorl nodes): the disc's label reaching focally into a vertebral body
    beyond the endplate's fitted profile (:mod:`pipeline.grading.endplate`). False: not assessed."""
    endplate_defect_depth_mm: float = 1.5
    """Depth (mm) of that focal reach from which an endplate defect is reported. Project convention, set on
    the calibration phantoms 500000-500099 (generator 0.2.1): 165 of 180 nodes reach it and none of 1734
    normal endplates (163 and 16 on ragged outlines); 2 mm would find 149 nodes."""
    pfirrmann_min_probability: float = 0.0
    """Below this top-class probability the Pfirrmann grade is reported as not assessed (0 = always grade)."""

    def __post_init__(self) -> None:
        for name, size in (("meyerding_bands_percent", 4), ("narrowing_bands_percent", 3)):
            bands = tuple(float(x) for x in getattr(self, name))
            if len(bands) != size or list(bands) != sorted(bands):
                raise ValueError(f"[grading] {name} needs {size} increasing bounds, got {bands}")
            object.__setattr__(self, name, bands)
        for name in ("stenosis_lumbar_mm", "stenosis_thoracic_mm", "stenosis_cervical_mm"):
            bands = tuple(float(x) for x in getattr(self, name))
            if len(bands) != 3 or list(bands) != sorted(bands, reverse=True):
                raise ValueError(f"[grading] {name} needs three decreasing bounds (none, mild, moderate), got {bands}")
            object.__setattr__(self, name, bands)
        if not 0 < self.bulge_min_mm <= self.protrusion_min_mm:
            raise ValueError("[grading] needs 0 < bulge_min_mm <= protrusion_min_mm")

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> GradingSettings:
        """Build from a ``[grading]`` TOML table; unknown keys are refused with their names."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown [grading] key(s): {sorted(unknown)}; known: {sorted(known)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

    def describe(self) -> dict[str, Any]:
        """Plain dict of the settings (for logs and findings provenance)."""
        return asdict(self)

    # --- grade functions with these thresholds: pipeline.definitions' own logic, our bands -------------

    def meyerding(self, slip_mm: float, lower_endplate_length_mm: float) -> str:
        return definitions.meyerding_grade(slip_mm, lower_endplate_length_mm, min_mm=self.listhesis_min_mm,
                                           bands_percent=self.meyerding_bands_percent)

    def listhesis_direction(self, slip_mm: float) -> str:
        return definitions.listhesis_direction(slip_mm, min_mm=self.listhesis_min_mm)

    def narrowing(self, index: float, level: str) -> str:
        return definitions.narrowing_grade(index, level, bands_percent=self.narrowing_bands_percent)

    def stenosis_bands(self, level: str) -> tuple[float, float, float]:
        region = definitions.canal_region(level)
        return {
            "lumbar": self.stenosis_lumbar_mm,
            "thoracic": self.stenosis_thoracic_mm,
            "cervical": self.stenosis_cervical_mm,
        }[region]

    def stenosis(self, ap_diameter_mm: float, level: str) -> str:
        return definitions.stenosis_grade(ap_diameter_mm, level, bands_mm=self.stenosis_bands(level))

    def herniation(self, posterior_extent_mm: float, migration_mm: float) -> str:
        return definitions.herniation_class(posterior_extent_mm, migration_mm, bulge_min_mm=self.bulge_min_mm,
                                            protrusion_min_mm=self.protrusion_min_mm,
                                            migration_min_mm=self.migration_min_mm)
