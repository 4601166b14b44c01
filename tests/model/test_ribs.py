"""Ribs as evidence for the lumbar count: the phantom's ribs, the rib flags, and the naming that uses them."""

from __future__ import annotations

import numpy as np

from pipeline.labels import RIB, VERTEBRA_LABELS
from pipeline.levels import name_vertebrae
from pipeline.phantom import generate
from pipeline.result import QualityControl
from pipeline.ribs import rib_flags, rib_voxels_per_vertebra
from tests.model.test_levels import chain

LUMBAR_L6 = ["T11", "T12", "L1", "L2", "L3", "L4", "L5", "L6", "S1"]


def _flags(names: list[str]) -> list[bool | None]:
    """Rib flags as a perfect detector gives them: thoracic yes, lumbar no, sacrum not judged."""
    return [None if n == "S1" else n.startswith("T") for n in names]


def test_six_rib_less_vertebrae_above_the_sacrum_are_named_with_an_l6() -> None:
    kinds = ["vertebra"] * 8 + ["sacrum"]
    naming = name_vertebrae(*chain(kinds), ribs=_flags(LUMBAR_L6))
    assert naming.names == LUMBAR_L6
    assert naming.transitional == "L6"
    assert naming.basis == "sacrum and ribs"
    assert not naming.certain  # a T13 with a rib too small to see would look the same
    assert naming.ribs["T12"] is True and naming.ribs["L1"] is False
    assert naming.disc_between(7, 8) == ("L6", "S1")


def test_without_rib_evidence_the_same_column_is_counted_by_the_convention() -> None:
    kinds = ["vertebra"] * 8 + ["sacrum"]
    for ribs in (None, [None] * 9):
        naming = name_vertebrae(*chain(kinds), ribs=ribs)
        assert naming.names == ["T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1"]
        assert naming.basis == "sacrum"


def test_an_ordinary_column_with_ribs_keeps_its_names_and_says_the_ribs_agree() -> None:
    names = ["T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1"]
    naming = name_vertebrae(*chain(["vertebra"] * 8 + ["sacrum"]), ribs=_flags(names))
    assert naming.names == names
    assert naming.transitional is None
    assert any("as expected" in w for w in naming.warnings)


def test_one_unjudged_vertebra_between_the_last_rib_and_the_sacrum_breaks_the_count() -> None:
    flags = _flags(LUMBAR_L6)
    flags[4] = None  # L3 could not be judged
    naming = name_vertebrae(*chain(["vertebra"] * 8 + ["sacrum"]), ribs=flags)
    assert naming.names[-2] == "L5"  # the convention, not an L6 resting on a gap in the evidence


def test_a_lone_rib_flag_is_not_taken_for_the_last_rib() -> None:
    # Only one ribbed vertebra above six rib-less ones: it could be a transverse process read as rib.
    flags: list[bool | None] = [None, True, False, False, False, False, False, False, None]
    naming = name_vertebrae(*chain(["vertebra"] * 8 + ["sacrum"]), ribs=flags)
    assert naming.transitional is None
    assert naming.names[-2] == "L5"


def test_a_count_disagreeing_with_the_convention_other_than_six_keeps_the_names_and_warns() -> None:
    flags: list[bool | None] = [True, True, True, True, False, False, False, False, None]
    naming = name_vertebrae(*chain(["vertebra"] * 8 + ["sacrum"]), ribs=flags)
    assert naming.names[-2] == "L5"
    assert any("4 rib-less vertebrae" in w for w in naming.warnings)


def test_whole_spine_with_23_presacral_vertebrae_and_five_rib_less_is_a_t13() -> None:
    kinds = ["vertebra", "c2"] + ["vertebra"] * 23 + ["sacrum"]
    names_true = ["C1", "C2", *[f"C{i}" for i in range(3, 8)], *[f"T{i}" for i in range(1, 14)],
                  *[f"L{i}" for i in range(1, 6)], "S1"]  # fmt: skip
    flags = [None, None, *[n.startswith("T") for n in names_true[2:-1]], None]
    naming = name_vertebrae(*chain(kinds, step=25.0), ribs=flags)
    assert naming.names == names_true
    assert naming.transitional == "T13"
    assert not naming.certain
    # The same count with six rib-less vertebrae stays an L6.
    flags_l6 = [None, None, *[True] * 17, *[False] * 6, None]
    naming = name_vertebrae(*chain(kinds, step=25.0), ribs=flags_l6)
    assert naming.names[-2] == "L6" and naming.names[-8] == "T12"


def test_rib_flags_judge_against_the_series_own_ribs() -> None:
    kinds = ["vertebra"] * 5 + ["sacrum"]
    assert rib_flags(np.array([400.0, 380, 5, 0, 40, 900]), kinds) == [True, True, False, False, None, None]
    # Ribs seen on fewer than two vertebrae: nothing can be judged (a grazing slab, no rib class).
    assert rib_flags(np.array([400.0, 0, 0, 0, 0, 0]), kinds) == [None] * 6


def test_rib_components_go_to_the_vertebra_level_with_them() -> None:
    spacing = (4.0, 1.25, 1.25)
    mask = np.zeros((9, 200, 100), dtype=bool)
    centres = [np.array([16.0, 30.0 * i + 20, 60.0]) for i in range(6)]  # rows 16..
    # One rib piece level with vertebra 1 (far behind it, on a lateral slice), one level with vertebra 3.
    mask[0, 40:46, 10:16] = True  # row 43 * 1.25 = 54 mm: vertebra 1 sits at 50 mm
    mask[8, 88:94, 12:18] = True  # 114 mm: vertebra 3 at 110 mm
    voxels = rib_voxels_per_vertebra(mask, centres, spacing)
    assert voxels[1] == 36 and voxels[3] == 36 and voxels.sum() == 72


def test_the_reader_is_told_when_the_ribs_gave_the_count() -> None:
    qc = QualityControl(naming_certain=False, naming_basis="sacrum and ribs")
    assert "6 lumbar" in qc.naming_statement and "check" in qc.naming_statement


def test_phantom_ribs_are_drawn_on_thoracic_vertebrae_only_and_only_when_asked() -> None:
    plain = generate(1234, region="thoracolumbar", contrast="T2", truth=False)
    assert not (plain.labels == RIB).any()
    ribbed = generate(1234, region="thoracolumbar", contrast="T2", truth=False, ribs=True)
    rib = ribbed.labels == RIB
    assert rib.sum() > 500
    # The bodies keep their outlines: the ribs are painted before them.
    for name in ("T11", "T12", "L1"):
        lab = VERTEBRA_LABELS[name]
        assert abs(int((ribbed.labels == lab).sum()) - int((plain.labels == lab).sum())) < 0.02 * (
            plain.labels == lab
        ).sum()
    # Rib bone lies level with the thoracic bodies: all of it above the centre of L2 (patient z is up).
    affine = ribbed.volume.affine

    def z_of(mask: np.ndarray) -> np.ndarray:
        idx = np.argwhere(mask)
        return (affine[:3, :3] @ idx.T + affine[:3, 3:4])[2]

    assert z_of(rib).min() > z_of(ribbed.labels == VERTEBRA_LABELS["L2"]).mean()
    assert z_of(rib).max() > z_of(ribbed.labels == VERTEBRA_LABELS["T11"]).mean()
