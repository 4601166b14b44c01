"""Instance separation on hand-built class maps: C2 found at the top of the column, lateral fragments."""

from __future__ import annotations

import numpy as np

from pipeline.instances import separate_instances
from pipeline.levels import name_vertebrae
from pipeline.model import BODY, DISC

SPACING = (3.0, 1.25, 1.25)


def cervical_column(top_row: int = 40, bodies: int = 7, split_c2: bool = False) -> np.ndarray:
    """Bodies 12 rows tall (15 mm), discs 4 rows, 5 slices thick, the column ending inside the image.

    With ``split_c2`` the top body is drawn as the network often leaves C2: a dens piece and a body
    piece, two components a few rows apart.
    """
    classes = np.zeros((9, 220, 120), np.uint8)
    row = top_row
    for k in range(bodies):
        if k == 0 and split_c2:
            classes[2:7, row : row + 5, 52:62] = BODY  # dens piece
            classes[2:7, row + 7 : row + 16, 45:70] = BODY  # body piece
        else:
            classes[2:7, row : row + 12, 45:70] = BODY
        classes[2:7, row + 12 + (4 if k == 0 and split_c2 else 0) : row + 16, 45:70] = DISC
        row += 16 + (4 if k == 0 and split_c2 else 0)
    return classes


def names(classes: np.ndarray) -> list[str]:
    inst = separate_instances(classes, SPACING)
    return name_vertebrae([v.kind for v in inst.vertebrae], [v.center_mm for v in inst.vertebrae]).names


def test_the_top_of_a_column_ending_inside_the_image_is_c2() -> None:
    assert names(cervical_column())[:3] == ["C2", "C3", "C4"]


def test_a_c2_left_in_pieces_by_the_network_is_merged_and_still_c2() -> None:
    inst = separate_instances(cervical_column(split_c2=True), SPACING)
    assert inst.vertebrae[0].kind == "c2"
    assert len(inst.vertebrae) == 7  # the dens piece joined C2 instead of counting as a vertebra
    assert names(cervical_column(split_c2=True))[:2] == ["C2", "C3"]


def test_a_column_cut_by_the_top_of_the_image_gets_no_c2() -> None:
    inst = separate_instances(cervical_column(top_row=0), SPACING)
    assert all(v.kind == "vertebra" for v in inst.vertebrae)


def test_a_small_piece_off_the_midline_between_two_bodies_is_not_a_vertebra() -> None:
    classes = np.zeros((15, 200, 120), np.uint8)
    for k in range(6):
        r = 10 + 30 * k
        classes[5:10, r : r + 22, 40:75] = BODY
        classes[5:10, r + 22 : r + 30, 40:75] = DISC
    # A third of a body, 16 mm beside the column, between bodies 3 and 4 (a sacral ala or pedicle): too
    # big to be a speck, too small and too far out to be a vertebra.
    classes[11:15, 100:116, 50:70] = BODY
    inst = separate_instances(classes, SPACING)
    assert len(inst.vertebrae) == 6
    assert any("small or lateral" in w for w in inst.warnings)


def cervicothoracic_column() -> np.ndarray:
    """Four small cervical bodies (10 rows tall, 2-row discs) above seven thoracic ones twice their volume,
    as a cervicothoracic view shows them: the column's typical body is a thoracic one."""
    classes = np.zeros((15, 330, 120), np.uint8)
    row = 10
    for k in range(11):
        h, w, gap = (10, 12, 2) if k < 4 else (18, 15, 5)
        classes[5:10, row : row + h, 50 : 50 + w] = BODY
        classes[5:10, row + h : row + h + gap, 50 : 50 + w] = DISC
        row += h + gap
    return classes


def test_small_cervical_bodies_are_judged_against_their_neighbours_not_the_thoracic_ones() -> None:
    inst = separate_instances(cervicothoracic_column(), SPACING)
    # Two neighbouring cervical bodies together are smaller than one thoracic body, and closer than
    # three quarters of its height: judged against the whole column they looked like two halves of one.
    assert len(inst.vertebrae) == 11


def test_a_piece_of_c2_below_it_is_not_counted_as_c3() -> None:
    classes = cervical_column()
    # C2's lower lip (rows 49-51 of the body at rows 40-51) cut off by a one-row band taken for disc: a
    # quarter of a body, between C2 and C3.
    classes[2:7, 48, 45:70] = DISC
    inst = separate_instances(classes, SPACING)
    assert names(classes)[:3] == ["C2", "C3", "C4"]
    assert len(inst.vertebrae) == 7


def test_a_cervical_body_a_tenth_of_a_lumbar_one_is_not_a_speck() -> None:
    """In a whole-spine view C3 holds a tenth of L4's voxels: judged against the column's largest bodies it
    was dropped as a speck before anything else looked at it."""
    classes = np.zeros((15, 330, 120), np.uint8)
    row = 10
    # (slices, rows, columns) per tier: cervical 3 x 8 x 10, thoracic 5 x 12 x 14, lumbar 9 x 16 x 21.
    tiers = [((6, 9), 8, 10)] * 4 + [((5, 10), 12, 14)] * 3 + [((3, 12), 16, 21)] * 3
    for (s0, s1), h, w in tiers:
        classes[s0:s1, row : row + h, 50 : 50 + w] = BODY
        classes[s0:s1, row + h : row + h + 5, 50 : 50 + w] = DISC
        row += h + 5
    inst = separate_instances(classes, SPACING)
    assert len(inst.vertebrae) == 10
