"""The evaluation's definitions: what counts as a wrong name for the certainty rule; thick real slices."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline import labels as L
from pipeline.evaluate import SeriesScore, load_fold_model, misnamed, score_series, thick_slices
from pipeline.result import QualityControl, SpineAnalysis
from pipeline.volume import Volume


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


def test_thick_slices_average_thin_ones_and_sit_at_their_centre() -> None:
    """Each thick slice is the mean of the thin slices it covers, placed at their mean position, and keeps
    the label of its middle thin slice; other axes and the direction are untouched."""
    direction = np.column_stack([[-1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    ramp = np.arange(11, dtype=np.float32)[:, None, None] * np.ones((11, 3, 2), np.float32)
    thin = Volume(ramp, (1.0, 0.5, 0.7), direction, np.array([10.0, 20.0, 30.0]), contrast="T2")
    labels = np.arange(11, dtype=np.uint8)[:, None, None] * np.ones((11, 3, 2), np.uint8)
    thick, thick_labels = thick_slices(thin, labels, 4.0)
    assert thick.shape == (2, 3, 2)  # 11 thin slices make two 4 mm slices; the last three are dropped
    assert thick.spacing == (4.0, 0.5, 0.7)
    assert np.allclose(thick.array[:, 0, 0], [1.5, 5.5])  # means of slices 0-3 and 4-7
    for k, centre in enumerate([1.5, 5.5]):
        assert np.allclose(thick.index_to_lps(np.array([k, 2.0, 1.0])), thin.index_to_lps(np.array([centre, 2.0, 1.0])))
    assert thick_labels[:, 0, 0].tolist() == [2, 6]
    assert thick.contrast == "T2"
    windowed, _ = thick_slices(thin, labels, 2.0, window=4)  # thin slices 3-6 around the centre
    assert np.allclose(windowed.array[:, 0, 0], [3.5, 5.5])
    assert np.allclose(windowed.index_to_lps(np.zeros(3)), thin.index_to_lps(np.array([3.5, 0.0, 0.0])))


def test_fold_weights_trained_on_their_own_test_cases_are_refused(tmp_path) -> None:
    (tmp_path / "fold0.json").write_text(json.dumps({"data": {"real_cases": ["VB2_04", "VB2_05"]}}))
    with pytest.raises(SystemExit, match="VB2_05"):
        load_fold_model(str(tmp_path / "fold{k}.pt"), 0, ["VB2_02", "VB2_05"], "cpu")
