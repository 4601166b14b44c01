"""Grading of every disc level with the measurement behind each grade (issue 6).

``grade_analysis(volume, analysis, t1=None, settings=None)`` fills the levels and vertebrae of a
:class:`pipeline.result.SpineAnalysis` in place from its label map and the image. Modules, one job
each: :mod:`.plane` (slice millimetres, line profiles), :mod:`.geometry` (bodies, corners, disc frame),
:mod:`.measure` (heights, slip, canal, herniation), :mod:`.level` (slice choice, midline
interpolation), :mod:`.signal` and :mod:`.pfirrmann` (disc signal, grade), :mod:`.marrow` (Modic,
endplate defects), :mod:`.settings` (thresholds), :mod:`.evaluate` (figures against the phantom).
"""

from pipeline.grading.grade import grade_analysis
from pipeline.grading.settings import GradingSettings

__all__ = ["GradingSettings", "grade_analysis"]
