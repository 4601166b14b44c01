"""Level naming on hand-made candidate lists: anchors, counts, transitional anatomy, no anchor."""

from __future__ import annotations

import numpy as np

from pipeline.levels import Naming, name_vertebrae


def chain(kinds: list[str], step: float = 30.0) -> tuple[list[str], np.ndarray]:
    """Candidates evenly spaced head to feet (only distances matter to the naming)."""
    centres = np.array([[0.0, i * step, 0.0] for i in range(len(kinds))])
    return kinds, centres


def _spacing_warnings(naming: Naming) -> list[str]:
    return [w for w in naming.warnings if "missing" in w or "doubled" in w]


def test_sacrum_anchor_names_the_vertebra_above_it_l5() -> None:
    naming = name_vertebrae(*chain(["vertebra"] * 7 + ["sacrum"]))
    assert naming.names == ["T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1"]
    assert naming.anchors == ("sacrum",)
    assert naming.region == "lumbar" or naming.region == "thoracolumbar"
    assert naming.disc_between(6, 7) == ("L5", "S1")
    assert naming.disc_between(-1, 0) == ("T10", "T11")
    # One anchor gives conventional names, never certain ones: an L6 or T13 would shift them all.
    assert not naming.certain
    assert naming.basis == "sacrum"
    assert any("assuming 5 lumbar" in w for w in naming.warnings)


def test_c2_anchor_counts_down_and_names_c1_above() -> None:
    naming = name_vertebrae(*chain(["vertebra", "c2"] + ["vertebra"] * 6, step=18.0))
    assert naming.names == ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1"]
    assert naming.anchors == ("C2",)
    assert naming.region == "cervical"
    assert not naming.certain  # nothing in view confirms the count
    assert naming.basis == "C2"


def test_no_anchor_is_never_certain() -> None:
    naming = name_vertebrae(*chain(["vertebra"] * 8))
    assert not naming.certain
    assert naming.anchors == ()
    assert any("guess" in w for w in naming.warnings)
    assert len(naming.names) == 8


def test_whole_spine_with_ordinary_count() -> None:
    kinds = ["vertebra", "c2"] + ["vertebra"] * 22 + ["sacrum"]
    naming = name_vertebrae(*chain(kinds, step=25.0))
    assert naming.names[1] == "C2"
    assert naming.names[-2] == "L5"
    assert naming.names[7] == "T1"
    assert naming.certain  # the only certain case: two anchors agree on the count
    assert naming.basis == "C2 and sacrum"
    assert naming.transitional is None
    assert naming.region == "whole"


def test_whole_spine_with_23_presacral_vertebrae_names_l6() -> None:
    kinds = ["c2"] + ["vertebra"] * 23 + ["sacrum"]
    naming = name_vertebrae(*chain(kinds, step=25.0))
    assert naming.names[-2] == "L6"
    assert naming.names[-3] == "L5"
    assert naming.names[-8] == "T12"
    assert naming.transitional == "L6"
    assert not naming.certain  # a T13 would give the same count
    assert naming.disc_between(len(kinds) - 2, len(kinds) - 1) == ("L6", "S1")


def test_whole_spine_with_21_presacral_vertebrae_is_a_sacralised_l5() -> None:
    """An L5 fused into the sacrum's outline moves the sacrum's centre further down (here 2 spacings)."""
    kinds, centres = chain(["c2"] + ["vertebra"] * 21 + ["sacrum"], step=25.0)
    centres[-1, 1] += 25.0
    naming = name_vertebrae(kinds, centres)
    assert naming.names[-2] == "L4"
    assert naming.transitional == "sacralised L5"
    assert not naming.certain  # a missed vertebra would give the same count
    assert any("sacralised" in w for w in naming.warnings)


def test_sacralised_l5_with_its_own_body_is_still_l5() -> None:
    """A sacralised L5 that is still a separate body (thin rudimentary disc) keeps its name."""
    kinds, centres = chain(["vertebra"] * 5 + ["sacrum"])
    centres[-1, 1] -= 6.0  # the rudimentary disc brings the sacrum closer
    naming = name_vertebrae(kinds, centres)
    assert naming.names[-2] == "L5"
    assert not _spacing_warnings(naming)


def test_whole_spine_with_a_missed_vertebra_is_uncertain() -> None:
    kinds = ["c2"] + ["vertebra"] * 18 + ["sacrum"]
    naming = name_vertebrae(*chain(kinds, step=25.0))
    assert not naming.certain
    assert naming.names[-2] == "L5"  # the lower half is still named from the sacrum
    assert naming.names[1] == "C3"  # and the upper half from C2


def test_a_gap_in_the_spacing_makes_the_naming_uncertain() -> None:
    kinds, centres = chain(["vertebra"] * 6 + ["sacrum"])
    centres[:2, 1] -= 32.0  # one vertebra missed between the 2nd and 3rd candidate
    naming = name_vertebrae(kinds, centres)
    assert not naming.certain
    assert any("missing" in w for w in naming.warnings)


def test_sacrum_and_c1_distances_do_not_count_as_gaps() -> None:
    """The sacrum's centre lies far below S1's endplate; C1's ring sits on C2's dens."""
    kinds, centres = chain(["vertebra"] * 6 + ["sacrum"])
    centres[-1, 1] += 20.0  # 1.7 spacings: the sacrum's centroid lies 1.1-1.9 spacings below L5's
    assert not _spacing_warnings(name_vertebrae(kinds, centres))
    assert name_vertebrae(kinds, centres).names[-2] == "L5"
    kinds, centres = chain(["vertebra", "c2"] + ["vertebra"] * 6, step=18.0)
    centres[0, 1] += 12.0
    assert not _spacing_warnings(name_vertebrae(kinds, centres))


def test_a_doubled_vertebra_makes_the_naming_uncertain() -> None:
    _kinds, centres = chain(["vertebra"] * 6 + ["sacrum"])
    centres = np.insert(centres, 3, centres[3] - [0, 8.0, 0], axis=0)
    naming = name_vertebrae(["vertebra"] * 7 + ["sacrum"], centres)
    assert not naming.certain
    assert any("doubled" in w for w in naming.warnings)


def test_c2_below_the_sacrum_is_rejected() -> None:
    naming = name_vertebrae(*chain(["sacrum", "vertebra", "c2"]))
    assert not naming.certain


def test_nothing_found() -> None:
    naming = name_vertebrae([], np.zeros((0, 3)))
    assert naming.names == []
    assert not naming.certain


def test_whole_spine_with_a_wrong_count_is_uncertain_even_with_both_anchors() -> None:
    kinds = ["c2"] + ["vertebra"] * 24 + ["sacrum"]
    naming = name_vertebrae(*chain(kinds, step=25.0))
    assert not naming.certain
    assert naming.basis == "C2 and sacrum"


def test_the_reader_is_told_what_the_names_rest_on() -> None:
    from pipeline.result import QualityControl

    assert "count checked" in QualityControl(True, naming_basis="C2 and sacrum").naming_statement
    assert "sacrum assuming 5 lumbar" in QualityControl(False, naming_basis="sacrum").naming_statement
    assert "down from C2" in QualityControl(False, naming_basis="C2").naming_statement
    assert "guess" in QualityControl(False).naming_statement


def test_a_vertebra_missed_between_two_bodies_skips_its_level() -> None:
    """A body the segmentation missed leaves a gap two spacings wide: the names above it skip a level
    instead of all moving down by one (and the naming is still not certain)."""
    _kinds, centres = chain(["vertebra"] * 7 + ["sacrum"])
    centres = np.delete(centres, 3, axis=0)  # L2 missed (a body the network did not find)
    naming = name_vertebrae(["vertebra"] * 6 + ["sacrum"], centres)
    assert naming.names == ["T11", "T12", "L1", "L3", "L4", "L5", "S1"]
    assert not naming.certain
    assert any("missed in wide gap" in w for w in naming.warnings)


def test_c3_missed_below_c2_is_counted() -> None:
    """C2's centroid sits about 1.5 spacings above C3's (the dens lifts it); 2.5 spacings to the next body
    means C3 is missing, so that body is C4."""
    step = 16.0
    centres = np.array([[0.0, 0.0, 0.0]] + [[0.0, 24.0 + step * k, 0.0] for k in range(1, 7)])
    naming = name_vertebrae(["c2"] + ["vertebra"] * 6, centres)
    assert naming.names[:3] == ["C2", "C4", "C5"]
    # The ordinary C2-C3 distance is not a gap.
    centres = np.array([[0.0, 0.0, 0.0]] + [[0.0, 24.0 + step * k, 0.0] for k in range(6)])
    assert name_vertebrae(["c2"] + ["vertebra"] * 6, centres).names[:3] == ["C2", "C3", "C4"]


def test_a_missed_vertebra_between_both_anchors_splits_the_naming_at_its_gap() -> None:
    kinds, centres = chain(["c2"] + ["vertebra"] * 22 + ["sacrum"], step=25.0)
    centres[0, 1] -= 12.5  # the C2 centroid sits half a spacing higher than a plain body's would
    keep = [i for i in range(len(kinds)) if i != 10]
    naming = name_vertebrae([kinds[i] for i in keep], centres[keep])
    assert naming.names[-2] == "L5" and naming.names[1] == "C3"
    assert naming.names[9:11] == ["T4", "T6"]  # T5 (index 10) was missed
    assert naming.transitional is None  # an estimated count never finds an L6 or a sacralised L5
    assert not naming.certain


def test_one_short_between_both_anchors_with_a_wide_gap_is_a_missed_vertebra_not_a_sacralised_l5() -> None:
    kinds, centres = chain(["c2"] + ["vertebra"] * 22 + ["sacrum"], step=25.0)
    centres[0, 1] -= 12.5
    keep = [i for i in range(len(kinds)) if i != 3]  # C4 missed: the gap C3-C5 is 50 mm, 2 spacings
    centres = centres[keep]
    centres[3:, 1] -= 10.0  # ... made narrower so it is not counted as a missed body by itself (1.6 spacings)
    naming = name_vertebrae([kinds[i] for i in keep], centres)
    assert naming.transitional is None
    assert naming.names[-2] == "L5"  # named up from the sacrum below the gap, not shifted as a sacralised L5
    assert naming.names[1:3] == ["C3", "C4"]  # and down from C2 above it (the missed body's name lost)
    assert not naming.certain


def test_one_short_with_the_sacrum_at_its_usual_distance_is_a_missed_vertebra() -> None:
    """C3 inside C2's outline: the C2-C4 gap a little wide (a third of a spacing over the 1.5 expected, not
    enough on its own), the sacrum where it always is. Not a sacralised L5, which would shift C4..L5 by one."""
    kinds, centres = chain(["c2"] + ["vertebra"] * 22 + ["sacrum"], step=25.0)
    keep = [i for i in range(len(kinds)) if i != 1]  # C3 missed
    centres = centres[keep]
    centres[1:, 1] -= 4.0  # C2's centroid to C4's: 46 mm = 1.84 spacings, 0.34 over the 1.5 expected
    centres[-1, 1] += 7.5  # the sacrum 1.3 spacings below the last body, its usual place
    naming = name_vertebrae([kinds[i] for i in keep], centres)
    assert naming.transitional is None
    assert naming.names[1] == "C4" and naming.names[-2] == "L5"
    assert not naming.certain


def test_a_sacrum_far_below_the_last_body_holds_l5() -> None:
    """L5 coloured as sacrum (dark discs on STIR or a degenerate real scan): the sacrum component's centroid
    moves a body further down (2.2-3.2 spacings on phantoms, against 1.1-1.9)."""
    kinds, centres = chain(["vertebra"] * 6 + ["sacrum"])
    centres[-1, 1] += 45.0  # 2.5 spacings
    naming = name_vertebrae(kinds, centres)
    assert naming.names[-2] == "L4"
    assert not naming.certain


def test_a_count_of_22_with_l6_inside_the_sacrum_is_not_certain() -> None:
    """An L6 coloured as sacrum leaves the ordinary count; only the sacrum's distance betrays it."""
    kinds, centres = chain(["c2"] + ["vertebra"] * 22 + ["sacrum"], step=25.0)
    centres[0, 1] -= 12.5
    centres[-1, 1] += 25.0  # 2.0 spacings (still named from C2: within the range a checked count allows)
    naming = name_vertebrae(kinds, centres)
    assert not naming.certain
    assert any("hidden" in w for w in naming.warnings)


def test_two_pieces_of_one_vertebra_side_by_side_read_as_doubled() -> None:
    _kinds, centres = chain(["vertebra"] * 6 + ["sacrum"])
    piece = centres[3] + [30.0, 4.0, 0.0]  # 30 mm to the side, 4 mm lower: the same level
    naming = name_vertebrae(["vertebra"] * 7 + ["sacrum"], np.insert(centres, 4, piece, axis=0))
    assert any("doubled" in w for w in naming.warnings)


def test_errors_that_cancel_in_the_count_are_not_certain() -> None:
    """A body missed in the neck and a piece counted twice in the chest still add up to 22."""
    kinds, centres = chain(["c2"] + ["vertebra"] * 22 + ["sacrum"], step=25.0)
    centres[0, 1] -= 12.5
    centres[3:, 1] += 10.0  # a wider gap below C4 (1.4 spacings: not enough to count a missed body)
    centres[12:, 1] -= 8.0  # and a narrower one lower down
    naming = name_vertebrae(kinds, centres)
    assert not naming.certain
    assert any("uneven" in w for w in naming.warnings)


def test_the_networks_c1_is_named_c1_and_takes_no_part_in_the_count() -> None:
    # The ring's centre lies in the dens, a few millimetres above C2's centroid: as a plain candidate it
    # would read as a doubled vertebra; as C1 it is set aside before any spacing test.
    kinds = ["c1", "c2"] + ["vertebra"] * 6
    centres = np.array([[0.0, 8.0, 0.0], [0.0, 15.0, 0.0]] + [[0.0, 15.0 + 27.0 + 18.0 * i, 0.0] for i in range(6)])
    naming = name_vertebrae(kinds, centres)
    assert naming.names == ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1"]
    assert not _spacing_warnings(naming)
    assert naming.region == "cervical"


def test_a_piece_between_the_networks_c1_and_c2_is_left_unnamed() -> None:
    kinds = ["c1", "vertebra", "c2"] + ["vertebra"] * 5
    centres = np.array([[0.0, 0.0, 0.0], [0.0, 10.0, 0.0]] + [[0.0, 20.0 + 18.0 * i, 0.0] for i in range(6)])
    naming = name_vertebrae(kinds, centres)
    assert naming.names[:4] == ["C1", "?", "C2", "C3"]
    assert naming.names.count("C1") == 1


def test_a_small_last_body_above_the_sacrum_is_not_certain() -> None:
    # Counts and spacing all check out, but L5 holds under half of L4's and L3's voxels: the rest of it was
    # outlined as sacrum, so the result is not a checked one even though each name is right.
    kinds = ["c2"] + ["vertebra"] * 22 + ["sacrum"]
    volumes = [800.0] + [1000.0] * 21 + [400.0] + [30000.0]
    assert name_vertebrae(*chain(kinds, step=25.0), [800.0] + [1000.0] * 22 + [30000.0]).certain
    naming = name_vertebrae(*chain(kinds, step=25.0), volumes)
    assert naming.names[-2] == "L5"
    assert not naming.certain
    assert any("part of it may be outlined as sacrum" in w for w in naming.warnings)
