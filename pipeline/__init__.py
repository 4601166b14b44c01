"""Pure numerical spine analysis: arrays and geometry in, labels, findings and measurements out.

Nothing in this package imports pydicom, a network library or the database; the DICOM side
(`dicomnode`) converts files to a :class:`pipeline.volume.Volume` and the result object back to DICOM.
"""
