"""The border between the last body and the sacrum is drawn on the image, not on the network's colours."""

from __future__ import annotations

import numpy as np

from pipeline.instances import SpineInstances, VertebraInstance, component_centre_mm
from pipeline.sacrum_border import redraw_sacrum_border

SPACING = (3.0, 1.25, 1.25)
SHAPE = (5, 90, 40)


def _instance(kind: str, rows: slice, shape: tuple[int, int, int] = SHAPE) -> VertebraInstance:
    mask = np.zeros(shape, bool)
    mask[:, rows, 10:30] = True
    return VertebraInstance(kind, mask, component_centre_mm(mask, np.asarray(SPACING)), 0.0)  # type: ignore[arg-type]


def _image(dark_rows: slice) -> np.ndarray:
    """Bone rows 10-79 at one brightness, crossed by a dark line (endplates and a thin disc) at ``dark_rows``."""
    image = np.full(SHAPE, 0.2, np.float32)
    image[:, 10:80, 10:30] = 0.6
    image[:, dark_rows, 10:30] = 0.05
    return image


def _rows(mask: np.ndarray) -> set[int]:
    return {int(r) for r in np.nonzero(mask.any(axis=(0, 2)))[0]}


def test_the_part_of_the_last_body_coloured_as_sacrum_goes_back_to_it() -> None:
    # L5 spans rows 10-30 in the image, the L5/S1 line is rows 31-32; the network coloured only rows
    # 10-20 as body and everything from row 21 down as sacrum.
    body, sacrum = _instance("vertebra", slice(10, 21)), _instance("sacrum", slice(21, 80))
    inst = redraw_sacrum_border(SpineInstances([body, sacrum], []), _image(slice(31, 33)), SPACING)
    new_body, new_sacrum = inst.vertebrae
    assert set(range(10, 31)) <= _rows(new_body.mask) <= set(range(10, 33))
    assert _rows(new_sacrum.mask) >= set(range(33, 80)) and not _rows(new_sacrum.mask) & set(range(10, 31))
    assert not (new_body.mask & new_sacrum.mask).any()
    assert (new_body.mask | new_sacrum.mask).sum() == (body.mask | sacrum.mask).sum()  # nothing lost
    assert new_body.center_mm[1] > body.center_mm[1]  # the centre follows the mask
    assert any("coloured as sacrum" in w for w in inst.warnings)


def test_the_border_follows_the_image_not_the_colours() -> None:
    # Same colours, but the image's dark line is at rows 25-26: the body stops there.
    body, sacrum = _instance("vertebra", slice(10, 21)), _instance("sacrum", slice(21, 80))
    inst = redraw_sacrum_border(SpineInstances([body, sacrum], []), _image(slice(25, 27)), SPACING)
    rows = _rows(inst.vertebrae[0].mask)
    assert set(range(10, 25)) <= rows <= set(range(10, 27))


def test_a_body_kept_apart_from_the_sacrum_by_its_disc_is_left_alone() -> None:
    body, sacrum = _instance("vertebra", slice(10, 29)), _instance("sacrum", slice(33, 80))
    inst = SpineInstances([body, sacrum], [])
    assert redraw_sacrum_border(inst, _image(slice(29, 33)), SPACING) is inst


def test_a_sacrum_wholly_near_the_body_has_no_seed_and_is_left_alone() -> None:
    # A sacrum cut by the bottom of the image a few rows below L5: no part of it is surely sacrum.
    body, sacrum = _instance("vertebra", slice(10, 21)), _instance("sacrum", slice(21, 36))
    inst = SpineInstances([body, sacrum], [])
    assert redraw_sacrum_border(inst, _image(slice(31, 33)), SPACING) is inst


def test_a_series_without_a_sacrum_is_left_alone() -> None:
    inst = SpineInstances([_instance("vertebra", slice(10, 30)), _instance("vertebra", slice(33, 60))], [])
    assert redraw_sacrum_border(inst, _image(slice(30, 33)), SPACING) is inst


def test_a_body_touching_the_sacrum_only_at_a_corner_is_left_alone() -> None:
    # The disc between them (rows 29-32) is coloured as background except at its back corner, where
    # noise joins the body's bottom row to the sacrum's top row over 2 of the body's 20 columns.
    body, sacrum = _instance("vertebra", slice(10, 29)), _instance("sacrum", slice(33, 80))
    body.mask[:, 29:33, 28:30] = True
    inst = SpineInstances([body, sacrum], [])
    assert redraw_sacrum_border(inst, _image(slice(29, 33)), SPACING) is inst


def test_shared_face_share_is_about_one_for_a_flat_cut_and_small_for_a_corner() -> None:
    from pipeline.sacrum_border import shared_face_share

    flat_body, flat_sacrum = _instance("vertebra", slice(10, 21)), _instance("sacrum", slice(21, 80))
    assert 0.9 < shared_face_share(flat_body.mask, flat_sacrum.mask) < 1.1
    corner = np.zeros(SHAPE, bool)
    corner[:, 78:80, 30:32] = True
    assert shared_face_share(flat_sacrum.mask, corner) < 0.2


def _column(above_rows: int) -> tuple[SpineInstances, np.ndarray]:
    """Two bodies ``above_rows`` tall above an L5 coloured over rows 51-61 and a sacrum from row 62.

    The image's L5/S1 line is at rows 71-72, so a redrawn L5 spans rows 51-70.
    """
    shape = (5, 160, 40)
    top = 51 - 2 * (above_rows + 3)
    bodies = [
        _instance("vertebra", slice(top + i * (above_rows + 3), top + i * (above_rows + 3) + above_rows), shape)
        for i in range(2)
    ]
    l5, sacrum = _instance("vertebra", slice(51, 62), shape), _instance("sacrum", slice(62, 160), shape)
    image = np.full(shape, 0.2, np.float32)
    image[:, 10:160, 10:30] = 0.6
    image[:, 71:73, 10:30] = 0.05
    return SpineInstances([*bodies, l5, sacrum], []), image


def test_a_last_body_smaller_than_the_bodies_above_is_redrawn() -> None:
    inst, image = _column(above_rows=20)  # L5's 11 coloured rows: 0.55 of the bodies above
    out = redraw_sacrum_border(inst, image, SPACING)
    assert set(range(51, 71)) <= _rows(out.vertebrae[2].mask)


def test_a_last_body_as_large_as_the_bodies_above_is_left_alone() -> None:
    # Bodies above 10 rows tall: L5's 11 coloured rows are not a body cut short, so whatever the flood
    # would add below them could only be S1 (the fold-0 failures VB2_14 and VB2_20).
    inst, image = _column(above_rows=10)
    assert redraw_sacrum_border(inst, image, SPACING) is inst
