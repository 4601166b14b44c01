"""DICOM result objects built from one :class:`pipeline.result.SpineAnalysis`.

Entry point: :func:`dicomnode.results.build.build_outputs`. One module per object and concern:
``seg`` (Segmentation), ``sr`` (TID 1500 Comprehensive 3D SR), ``picture`` (Secondary Capture and
optional GSPS), ``codes`` (every code and colour; table in docs/codes.md), ``uids`` (deterministic
UIDs), ``settings`` (what a site configures), ``common`` (attributes all objects share).
"""
