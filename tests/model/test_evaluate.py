"""The evaluation's definitions: what counts as a wrong name for the certainty rule."""

from __future__ import annotations

import numpy as np

from pipeline import labels as L
from pipeline.evaluate import SeriesScore, misnamed, score_series
from pipeline.result import QualityControl, SpineAnalysis


def test_a_wrong_level_is_a_wrong_name_but_a_segmentation_miss_is_not() -> None:
    s = SeriesScore(
        "x",
        wrong_names=["L4->L5", "L5->sacrum", "T2/T3->T3/T4", "C1->missed", "C2/C3->C2", "C3->C2/C3"],
    )
    # A disc whose voxels went to the body above, or a body taken for disc, is a wrong outline (it still
    # counts against "named correctly"); no level was given another level's name.
    assert misnamed(s) == ["L4->L5", "L5->sacrum", "T2/T3->T3/T4"]


def test_a_structure_barely_touched_by_a_neighbours_outline_is_missed_not_named() -> None:
    """C2's outline spilling a few voxels into C1's ring does not "name" C1 as C2."""
    c1, c2 = L.VERTEBRA_LABELS["C1"], L.VERTEBRA_LABELS["C2"]
    truth = np.zeros((4, 60, 20), np.uint8)
    truth[:, 0:30] = c1
    truth[:, 30:60] = c2
    pred = np.zeros_like(truth)
    pred[:, 28:60] = c2  # two rows of C1's 30 spill over: under a tenth
    result = SpineAnalysis.__new__(SpineAnalysis)
    result.label_map = pred
    result.qc = QualityControl(naming_certain=True)
    s = score_series("x", result, truth, (3.0, 1.0, 1.0), np.eye(4))
    assert s.wrong_names == ["C1->missed"]
    assert misnamed(s) == []
    pred[:, 20:60] = c2  # a third of C1 outlined as C2: that is a wrong name
    assert score_series("x", result, truth, (3.0, 1.0, 1.0), np.eye(4)).wrong_names == ["C1->C2"]
