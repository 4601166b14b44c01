"""The pipeline's one entry point for callers: segment and name (``pipeline.analyse``), then grade.

The node's worker, `dicomnode process` and the demo all call :func:`analyse_spine`, so an offline run
reproduces a job exactly. Segmentation and grading stay separate stages underneath, each testable alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.result import SpineAnalysis
from pipeline.volume import Volume

if TYPE_CHECKING:
    from pipeline.grading.settings import GradingSettings
    from pipeline.inference import LoadedModel


def analyse_spine(
    volume: Volume,
    model: LoadedModel | None = None,
    *,
    grading: GradingSettings | None = None,
    t1: Volume | None = None,
    fine_pass: bool = True,
) -> SpineAnalysis:
    """Label map, named structures, and every disc level's measurements and grades.

    ``model`` is the loaded network (None: the bundled one, loaded once per process); ``t1`` an optional
    T1 series of the same study in the same frame of reference, which enables Modic typing; ``fine_pass``
    the second network pass for the boundaries (config ``pipeline.fine_pass``).
    """
    from pipeline.analyse import analyse
    from pipeline.grading import grade_analysis

    return grade_analysis(volume, analyse(volume, model, fine_pass=fine_pass), t1=t1, settings=grading)
