"""Instance separation on hand-built class maps: C2 found at the top of the column, lateral fragments."""

from __future__ import annotations

import numpy as np

from pipeline.instances import VertebraInstance, _drop_off_curve, separate_instances
from pipeline.levels import name_vertebrae
from pipeline.model import BODY, C1, C2, CANAL, DISC, SACRUM

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


def with_atlas(classes: np.ndarray, top_row: int = 40) -> np.ndarray:
    """C1 as the network's own class: anterior arch in front of the dens, posterior arch behind the canal."""
    classes = classes.copy()
    classes[3:6, top_row - 6 : top_row, 72:78] = C1  # anterior arch
    classes[3:6, top_row - 6 : top_row, 30:36] = C1  # posterior arch, 45 mm behind it
    return classes


def test_the_networks_c1_ring_is_one_vertebra_named_c1_above_c2() -> None:
    inst = separate_instances(with_atlas(cervical_column()), SPACING)
    assert [v.kind for v in inst.vertebrae[:2]] == ["c1", "c2"]
    assert sum(v.kind == "c1" for v in inst.vertebrae) == 1  # both arches, one ring
    assert names(with_atlas(cervical_column()))[:4] == ["C1", "C2", "C3", "C4"]


def test_c1_finds_c2_where_the_column_top_rule_cannot() -> None:
    # Bone-like voxels above the column (skull base) stop the column-top rule from taking the first
    # body for C2; the atlas right above it still says which body is C2.
    classes = cervical_column()
    classes[3:6, 14:24, 30:90] = BODY
    assert names(classes)[1] != "C2"
    named = names(with_atlas(classes))
    assert named[named.index("C1") + 1] == "C2"


def test_c1_like_voxels_below_the_top_of_the_column_are_ignored() -> None:
    classes = cervical_column()
    classes[3:6, 150:156, 72:78] = C1
    inst = separate_instances(classes, SPACING)
    assert all(v.kind != "c1" for v in inst.vertebrae)
    assert any("C1-like" in w for w in inst.warnings)


def thoracic_column_with_canal(drift_mm_per_level: float = 0.0) -> np.ndarray:
    """Eight bodies 16 rows tall with discs, the dural sac behind them, 30 slices (3 mm) wide; with a drift
    the column and its canal move sideways level by level (scoliosis)."""
    classes = np.zeros((30, 230, 120), np.uint8)
    row = 10
    for k in range(8):
        s0 = 12 + round(k * drift_mm_per_level / 3.0)
        classes[s0 : s0 + 6, row : row + 16, 50:75] = BODY
        classes[s0 : s0 + 6, row + 16 : row + 21, 50:75] = DISC
        classes[s0 + 1 : s0 + 5, row : row + 21, 35:45] = CANAL
        row += 21
    return classes


def test_a_body_sized_piece_beside_the_canal_is_not_a_vertebra() -> None:
    # A rib head or lateral mass coloured as body: level with the gap between bodies 3 and 4, as large as
    # a body, 25 mm to one side of the canal, on the column's curve in the sagittal plane.
    classes = thoracic_column_with_canal()
    classes[3:9, 66:82, 50:75] = BODY
    inst = separate_instances(classes, SPACING)
    assert len(inst.vertebrae) == 8
    assert any("beside the spinal canal" in w for w in inst.warnings)
    without_canal = classes.copy()
    without_canal[without_canal == CANAL] = 0
    assert len(separate_instances(without_canal, SPACING).vertebrae) == 9  # what the canal test prevents


def test_a_column_drifting_sideways_keeps_every_body() -> None:
    # 5 mm sideways per level, 35 mm over the view: the canal moves with the bodies, nothing is beside it.
    inst = separate_instances(thoracic_column_with_canal(drift_mm_per_level=5.0), SPACING)
    assert len(inst.vertebrae) == 8
    assert not any("beside" in w for w in inst.warnings)


def test_a_few_c1_voxels_or_a_c1_above_a_cut_body_do_not_make_a_c2() -> None:
    # On a real lumbar case 74 C1-coloured voxels at the top edge made the cut T10 below them "C2".
    speck = cervical_column(top_row=0)
    speck[3:5, 1:3, 72:74] = C1
    cut = cervical_column(top_row=0)
    cut[3:6, 1:5, 72:80] = C1  # as large as a small anterior arch, above a body cut by the image edge
    for classes in (speck, cut):
        inst = separate_instances(classes, SPACING)
        assert all(v.kind == "vertebra" for v in inst.vertebrae)


def test_two_close_pieces_holding_a_large_body_between_them_are_one_vertebra() -> None:
    # C3 left as two pieces 7 mm apart (a false disc line through it), together 1.5 times the bodies
    # around it (it is deeper): one vertebra, not C3 and C4 (a real neighbour sits a body height plus a
    # disc away). The pair's volume used to be capped at 1.3 bodies.
    classes = cervical_column()
    classes[2:7, 56:68, 30:70] = BODY
    classes[2:7, 61, 30:70] = DISC
    inst = separate_instances(classes, SPACING)
    assert len(inst.vertebrae) == 7
    assert names(classes)[:3] == ["C2", "C3", "C4"]


def bridged_column(groups: list[int], h: int = 12, gap: int = 4, depth: int = 25) -> np.ndarray:
    """Bodies in runs: each number in ``groups`` is a run of bodies joined by narrow bone bridges where the
    network missed their discs (one component), runs separated by real discs."""
    classes = np.zeros((9, 60 + sum(groups) * (h + gap), 120), np.uint8)
    row = 30
    for run in groups:
        for b in range(run):
            classes[2:7, row : row + h, 45 : 45 + depth] = BODY
            if b < run - 1:
                classes[2:7, row + h : row + h + gap, 52 : 38 + depth] = BODY
            else:
                classes[2:7, row + h : row + h + gap, 45 : 45 + depth] = DISC
            row += h + gap
    return classes


def test_a_long_merged_run_above_merged_pairs_is_cut_into_single_bodies() -> None:
    # The first cuts are scaled by neighbours that are merged pairs themselves, so the long run comes out
    # in pieces of two bodies; once the pairs are cut, the pieces are cut again (a whole-spine STIR series
    # had C3+C4 left as one and every name below it one level high).
    groups = [1, 8, 2, 2, 2, 1, 1, 1]
    inst = separate_instances(bridged_column(groups), SPACING)
    assert len(inst.vertebrae) == sum(groups)
    heights = [v.height_mm for v in inst.vertebrae[1:]]
    assert max(heights) < 1.5 * float(np.median(heights))


def growing_column(lateral_blob: bool = False) -> tuple[np.ndarray, list[tuple[slice, ...]]]:
    """Twelve bodies growing from cervical to lumbar size, as a whole-spine view shows them, each disc as
    wide and deep as the body above it. Returns the class map and the boxes of the three lowest discs."""
    classes = np.zeros((40, 360, 140), np.uint8)
    boxes = []
    row = 10
    for k in range(12):
        f = k / 11
        h, gap = round(10 + 12 * f), round(2 + 6 * f)
        half_slices, half_cols = round(2 + 5 * f), round(6 + 10 * f)
        slices, cols = slice(19 - half_slices, 20 + half_slices), slice(66 - half_cols, 66 + half_cols)
        classes[slices, row : row + h, cols] = BODY
        disc = (slices, slice(row + h, row + h + gap), cols)
        classes[disc] = DISC
        boxes.append(disc)
        row += h + gap
    if lateral_blob:
        # Disc-like signal 50 mm to one side of the column, level with a lumbar gap: bowel, not a disc.
        classes[36:40, 290:298, 55:75] = DISC
    return classes, boxes[-4:-1]


def test_a_lumbar_disc_is_given_whole_to_its_gap_in_a_whole_spine_view() -> None:
    # The lumbar discs' front, back and sides lie 20-30 mm from the line through the body centres, further
    # than the column's median spacing (set by the smaller bodies above) allowed: their corners were left
    # without a level, and whole-spine lumbar discs lost a tenth of their Dice.
    classes, lumbar_discs = growing_column()
    inst = separate_instances(classes, SPACING)
    assert len(inst.vertebrae) == 12
    given = np.zeros(classes.shape, bool)
    for d in inst.discs:
        given |= d.mask
    for box in lumbar_discs:
        assert given[box].mean() > 0.99
        owners = {d.upper for d in inst.discs if d.mask[box].any()}
        assert len(owners) == 1


def test_disc_signal_far_beside_the_column_is_given_to_no_gap() -> None:
    classes, _ = growing_column(lateral_blob=True)
    inst = separate_instances(classes, SPACING)
    assert len(inst.vertebrae) == 12
    assert not any(d.mask[36:40, 290:298, 55:75].any() for d in inst.discs)


def lumbar_column_with_sacrum() -> np.ndarray:
    """Six lumbar-sized bodies (27.5 mm tall, 10 mm discs) over a sacrum whose centre lies 1.6 spacings below L5's."""
    classes = np.zeros((15, 300, 300), np.uint8)
    for k in range(6):
        r = 10 + 30 * k
        classes[5:10, r : r + 22, 200:235] = BODY
        classes[5:10, r + 22 : r + 30, 200:235] = DISC
    classes[5:10, 190:250, 210:250] = SACRUM  # 60 rows tall: its centre lies well below the last body's
    return classes


def test_a_larger_sacrum_coloured_patch_in_front_of_the_spine_is_not_the_sacrum() -> None:
    """Bowel in front of the lumbar spine coloured as sacrum, larger than the sacrum, 200 mm in front."""
    classes = lumbar_column_with_sacrum()
    classes[3:12, 120:200, 20:60] = SACRUM
    inst = separate_instances(classes, SPACING)
    sacrum = [v for v in inst.vertebrae if v.kind == "sacrum"]
    assert len(sacrum) == 1 and sacrum[0].center_mm[2] > 200 * SPACING[2]
    assert all(v.center_mm[2] > 150 * SPACING[2] for v in inst.vertebrae)  # no piece of the patch is a body
    assert names(classes)[-2:] == ["L5", "S1"]
    assert any("in front of or behind" in w for w in inst.warnings)


def test_the_front_of_s1_coloured_as_body_is_given_to_the_sacrum() -> None:
    """A body-coloured piece touching the sacrum, its centre level with the sacrum's (a third of a spacing
    above it): part of S1, not an L6 or an L5 that would move every name above it up a level."""
    classes = lumbar_column_with_sacrum()
    classes[5:10, 190:250, 210:250] = 0
    classes[5:10, 190:260, 225:250] = SACRUM  # centre row 225
    classes[5:10, 205:225, 205:225] = BODY  # centre row 215, touching the sacrum's front
    inst = separate_instances(classes, SPACING)
    assert [v.kind for v in inst.vertebrae][-2:] == ["vertebra", "sacrum"]
    assert len(inst.vertebrae) == 7
    assert names(classes)[-2:] == ["L5", "S1"]
    assert any("level with the sacrum" in w for w in inst.warnings)


def column_with_a_body_coloured_disc() -> tuple[np.ndarray, np.ndarray]:
    """Six bodies, the disc between the third and fourth coloured as body, with its disc probability 0.3
    (the winning class elsewhere has 0.9): a thin or dark disc the network does not let win."""
    classes = np.zeros((15, 200, 120), np.uint8)
    disc_p = np.zeros(classes.shape, np.float32)
    for k in range(6):
        r = 10 + 30 * k
        classes[5:10, r : r + 22, 40:75] = BODY
        classes[5:10, r + 22 : r + 30, 40:75] = DISC
        disc_p[5:10, r + 22 : r + 30, 40:75] = 0.9
    classes[5:10, 92:100, 40:75] = BODY
    disc_p[5:10, 92:100, 40:75] = 0.3
    return classes, disc_p


def test_a_disc_coloured_as_bone_is_given_back_to_its_gap() -> None:
    classes, disc_p = column_with_a_body_coloured_disc()
    inst = separate_instances(classes, SPACING, disc_probability=disc_p)
    assert len(inst.vertebrae) == 6  # the weak disc still separates the two bodies
    hidden = [d for d in inst.discs if d.hidden is not None]
    assert [(d.upper, d.lower) for d in hidden] == [(2, 3)]
    assert hidden[0].hidden[5:10, 92:100, 40:75].all()
    assert not any(v.mask[5:10, 92:100, 40:75].any() for v in inst.vertebrae)


def test_the_blurred_rim_of_a_disc_that_shows_stays_bone() -> None:
    """Disc probability 0.3 on the body row above and below every disc: where the disc itself won, the
    cut rim is the bones' edge, not disc."""
    classes, disc_p = column_with_a_body_coloured_disc()
    classes[5:10, 92:100, 40:75] = DISC
    disc_p[5:10, 92:100, 40:75] = 0.9
    for k in range(6):
        r = 10 + 30 * k
        disc_p[5:10, r + 21, 40:75] = 0.3
        disc_p[5:10, r + 30, 40:75] = 0.3
    inst = separate_instances(classes, SPACING, disc_probability=disc_p)
    assert len(inst.vertebrae) == 6 and len(inst.discs) >= 5
    assert all(d.hidden is None for d in inst.discs)


def test_a_body_sliver_at_the_top_edge_of_the_image_is_a_vertebra() -> None:
    """A body cut by the top of the image, three rows thin and blurred by the disc below it all through
    (disc probability 0.3): it was cut away whole, and its bone was then named after that disc."""
    classes, disc_p = column_with_a_body_coloured_disc()
    classes[5:10, 92:100, 40:75] = DISC
    disc_p[5:10, 92:100, 40:75] = 0.9
    classes[5:10, 0:3, 40:75] = BODY
    disc_p[5:10, 0:3, 40:75] = 0.3
    classes[5:10, 3:10, 40:75] = DISC
    disc_p[5:10, 3:10, 40:75] = 0.9
    inst = separate_instances(classes, SPACING, disc_probability=disc_p)
    assert len(inst.vertebrae) == 7
    assert inst.vertebrae[0].mask[5:10, 0:3, 40:75].all()


def _candidate(kind: str, row_mm: float, col_mm: float, voxels: int) -> VertebraInstance:
    """A candidate with only what the column test reads: its centre and its volume."""
    return VertebraInstance(kind, np.ones((1, voxels), bool), np.array([30.0, row_mm, col_mm]), 0.0)  # type: ignore[arg-type]


def test_bone_below_the_sacrum_does_not_bend_the_column_away_from_l5() -> None:
    """A real case on 4 mm slices (fold model): two pelvic pieces coloured as body, 130 mm in front of the
    sacrum and below it, outvoted L5 and the curve dropped L5. Below the sacrum nothing votes; those
    pieces are still tested against the curve, and dropped."""
    column = [(3, 229, 677), (28, 227, 3827), (60, 222, 4440), (94, 215, 4811), (130, 205, 5238),
              (168, 197, 5786), (208, 191, 6218), (247, 194, 5638)]  # fmt: skip
    cands = [_candidate("vertebra", r, c, v) for r, c, v in column]
    cands += [_candidate("sacrum", 289, 221, 15601), _candidate("vertebra", 331, 70, 4803),
              _candidate("vertebra", 331, 63, 4527)]  # fmt: skip
    kept = _drop_off_curve(cands, [])
    assert cands[7] in kept  # L5
    assert cands[8] in kept  # the sacrum
    assert not any(c in kept for c in cands[9:])


def test_a_c1_or_c2_less_than_a_whole_spine_above_the_sacrum_is_no_anchor() -> None:
    """Found by ``python -m pipeline.stress``: on real lumbar views resliced to 3 mm or turned by 15 degrees
    the network coloured a speck above the top body as C1 (or the top body as C2), and T10-L2 were named
    C2-C5 from it. A view that holds both ends of the column is over 400 mm tall; this one is 230 mm."""
    base = lumbar_column_with_sacrum()
    atlas = base.copy()
    atlas[6:9, 3:9, 212:222] = C1  # above the top body, which lies whole in the image
    c2 = base.copy()
    c2[5:10, 10:32, 200:235] = C2  # the top body coloured as C2
    for classes, message in ((atlas, "C1-like"), (c2, "C2-like")):
        inst = separate_instances(classes, SPACING)
        assert [v.kind for v in inst.vertebrae].count("vertebra") == 6
        assert not any(v.kind in ("c1", "c2") for v in inst.vertebrae)
        assert any(message in w and "whole spine" in w for w in inst.warnings)
        assert names(classes) == names(base)
    assert names(base)[-2:] == ["L5", "S1"]


def test_a_c2_a_whole_spine_above_the_sacrum_stays_the_anchor() -> None:
    classes = np.zeros((9, 420, 120), np.uint8)
    for k in range(15):
        r = 5 + 25 * k
        classes[2:7, r : r + 20, 45:70] = C2 if k == 0 else BODY
        classes[2:7, r + 20 : r + 25, 45:70] = DISC
    classes[2:7, 380:415, 50:80] = SACRUM  # its centre 490 mm below C2's
    inst = separate_instances(classes, SPACING)
    assert inst.vertebrae[0].kind == "c2" and inst.vertebrae[-1].kind == "sacrum"
    assert not any("whole spine" in w for w in inst.warnings)


def test_a_cervical_c2_keeps_its_anchor_over_a_sacrum_coloured_piece_below() -> None:
    """In a cervical view (bodies 20 mm apart) the sacrum-coloured piece is the mistake, not C2."""
    classes = cervical_column(bodies=8)
    classes[2:7, 40:52, 45:70] = C2
    classes[2:7, 170:200, 45:75] = SACRUM
    inst = separate_instances(classes, SPACING)
    assert inst.vertebrae[0].kind == "c2"
    assert not any("whole spine" in w for w in inst.warnings)
