"""Pure numerical spine analysis: arrays and geometry in, labels, findings and measurements out.

Nothing in this package imports pydicom, a network library or the database; the DICOM side
(`dicomnode`) converts files to a :class:`pipeline.volume.Volume` and the result object back to DICOM.
"""

PIPELINE_VERSION = "0.2.0"
"""Bumped whenever the analysis changes its outputs; part of every job key, so results are recomputed."""
