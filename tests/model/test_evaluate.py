"""The evaluation's definitions: what counts as a wrong name for the certainty rule."""

from __future__ import annotations

from pipeline.evaluate import SeriesScore, misnamed


def test_a_wrong_level_is_a_wrong_name_but_a_segmentation_miss_is_not() -> None:
    s = SeriesScore(
        "x",
        wrong_names=["L4->L5", "L5->sacrum", "T2/T3->T3/T4", "C1->missed", "C2/C3->C2", "C3->C2/C3"],
    )
    # A disc whose voxels went to the body above, or a body taken for disc, is a wrong outline (it still
    # counts against "named correctly"); no level was given another level's name.
    assert misnamed(s) == ["L4->L5", "L5->sacrum", "T2/T3->T3/T4"]
