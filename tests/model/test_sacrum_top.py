"""The top of the sacrum coloured as a body is given back to the sacrum before the names are read."""

from __future__ import annotations

import numpy as np

from pipeline.instances import DiscInstance, SpineInstances, VertebraInstance, component_centre_mm
from pipeline.levels import name_vertebrae
from pipeline.sacrum_top import WARNING, features, join_sacrum_top

SPACING = (3.0, 1.25, 1.25)
SHAPE = (5, 140, 60)
SP = np.asarray(SPACING)


def _mask(*boxes: tuple[slice, slice]) -> np.ndarray:
    mask = np.zeros(SHAPE, bool)
    for rows, cols in boxes:
        mask[:, rows, cols] = True
    return mask


def _vertebra(kind: str, mask: np.ndarray) -> VertebraInstance:
    rows = np.nonzero(mask.any(axis=(0, 2)))[0]
    return VertebraInstance(kind, mask, component_centre_mm(mask, SP), float(np.ptp(rows) + 1) * SPACING[1])  # type: ignore[arg-type]


def _disc(upper: int, rows: slice, cols: slice = slice(10, 30)) -> DiscInstance:
    mask = _mask((rows, cols))
    return DiscInstance(upper, upper + 1, mask, component_centre_mm(mask, SP))


def _column(piece_cols: slice = slice(22, 42), disc_below: bool = False) -> SpineInstances:
    """L3, L4, L5 (20-row bodies, 4-row discs), then a piece 0.8 spacings below L5 on the sacrum.

    With the default ``piece_cols`` the piece lies half a spacing behind the column's line, as S1 does,
    and the sacrum wraps its lower back corner.
    """
    rows = (slice(10, 30), slice(34, 54), slice(58, 78))
    bodies = [_vertebra("vertebra", _mask((r, slice(10, 30)))) for r in rows]
    piece = _vertebra("vertebra", _mask((slice(80, 94), piece_cols)))
    back = slice(piece_cols.stop, piece_cols.stop + 4)
    sacrum = _vertebra("sacrum", _mask((slice(94, 136), slice(piece_cols.start, back.stop)), (slice(85, 94), back)))
    discs = [_disc(0, slice(30, 34)), _disc(1, slice(54, 58)), _disc(2, slice(78, 80))]
    if disc_below:
        sacrum = _vertebra("sacrum", sacrum.mask & ~_mask((slice(94, 98), slice(0, 60))))
        discs.append(_disc(3, slice(94, 98), piece_cols))
    return SpineInstances([*bodies, piece, sacrum], discs)


def _names(inst: SpineInstances) -> list[str]:
    verts = inst.vertebrae
    return name_vertebrae([v.kind for v in verts], [v.center_mm for v in verts], [v.volume_voxels for v in verts]).names


def test_a_body_coloured_s1_touching_the_sacrum_with_no_disc_between_is_joined_to_it() -> None:
    inst = _column()
    assert _names(inst)[:4] == ["L2", "L3", "L4", "L5"]  # without the step every name is one level off
    out = join_sacrum_top(inst, SPACING)
    assert [v.kind for v in out.vertebrae] == ["vertebra", "vertebra", "vertebra", "sacrum"]
    assert _names(out) == ["L3", "L4", "L5", "S1"]
    sacrum = out.vertebrae[3]
    assert sacrum.mask.sum() == inst.vertebrae[3].mask.sum() + inst.vertebrae[4].mask.sum()  # nothing lost
    # The disc below L5 now lies between L5 and the sacrum.
    assert [(d.upper, d.lower) for d in out.discs] == [(0, 1), (1, 2), (2, 3)]
    assert WARNING in out.warnings


def test_a_last_body_on_the_columns_line_is_kept() -> None:
    """An L5 cut short by sacrum colour touches the sacrum over a face too, but lies on the column's line."""
    inst = _column(piece_cols=slice(10, 30))
    found = features(inst)
    assert found is not None and found.shared_face >= 1.0 and found.off_line < 0.1
    assert join_sacrum_top(inst, SPACING) is inst


def test_a_last_body_with_a_disc_below_it_is_kept() -> None:
    inst = _column(disc_below=True)
    found = features(inst)
    assert found is not None and found.disc_share >= 0.25
    assert join_sacrum_top(inst, SPACING) is inst


def test_nothing_changes_without_three_bodies_above_the_sacrum() -> None:
    inst = _column()
    short = SpineInstances(inst.vertebrae[2:], [])
    assert features(short) is None
    assert join_sacrum_top(short, SPACING) is short
