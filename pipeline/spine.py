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
    from pipeline.rib_net import RibClassifier


def analyse_spine(
    volume: Volume,
    model: LoadedModel | None = None,
    *,
    grading: GradingSettings | None = None,
    t1: Volume | None = None,
    fine_pass: bool = True,
    rib_classifier: RibClassifier | None = None,
    rib_evidence: bool = True,
) -> SpineAnalysis:
    """Label map, named structures, and every disc level's measurements and grades.

    ``model`` is the loaded network (None: the bundled one, loaded once per process); ``t1`` an optional
    T1 series of the same study in the same frame of reference, which enables Modic typing; ``fine_pass``
    the second network pass for the boundaries (config ``pipeline.fine_pass``); ``rib_classifier`` and
    ``rib_evidence`` the rib evidence for the names (config ``pipeline.rib_model``, ``pipeline.rib_evidence``;
    None: the bundled classifier when one is shipped).
    """
    from pipeline.analyse import analyse
    from pipeline.grading import grade_analysis

    analysis = analyse(volume, model, fine_pass=fine_pass, rib_classifier=rib_classifier, rib_evidence=rib_evidence)
    return grade_analysis(volume, analysis, t1=t1, settings=grading)
