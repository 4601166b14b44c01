"""Small, valid MR Image Storage files for receive/queue tests (tiny pixels: the network is the point)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

SAGITTAL = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]
AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def make_series(folder: Path, count: int, *, study_uid: str | None = None, series_uid: str | None = None,
                orientation: list[float] | None = None, description: str = "T2 TSE SAG", size: int = 16,
                series_number: int = 3, patient_name: str = "Müller^Jürgen",
                frame_uid: str | None = None) -> list[Path]:
    """Write ``count`` slices of one series; returns their paths (file names sort in slice order).

    The contrast hint comes from ``description`` ("T2 TSE SAG", "T1 TSE SAG"); series of one study
    share a frame of reference only when given the same ``frame_uid``."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = frame_uid or generate_uid()
    orientation = orientation or SAGITTAL
    row, col = np.array(orientation[:3]), np.array(orientation[3:])
    normal = np.cross(row, col)
    paths = []
    for index in range(count):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientName = patient_name
        ds.PatientID = "TEST-0001"
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.AccessionNumber = "ACC123"
        ds.StudyDate = ds.SeriesDate = "20260101"
        ds.StudyTime = ds.SeriesTime = "120000"
        ds.StudyID = "1"
        ds.ReferringPhysicianName = ""
        ds.Modality = "MR"
        ds.Manufacturer = "TestScanner"
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.InstanceNumber = index + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.EchoTime = 100
        ds.RepetitionTime = 3000
        ds.EchoTrainLength = 16
        ds.MagneticFieldStrength = 1.5
        ds.SliceThickness = 4.0
        ds.SpacingBetweenSlices = 4.0
        ds.PixelSpacing = [1.0, 1.0]
        ds.ImageOrientationPatient = orientation
        ds.ImagePositionPatient = [float(v) for v in normal * 4.0 * index]
        ds.PositionReferenceIndicator = ""
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = size
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.PixelData = (np.arange(size * size, dtype=np.uint16).reshape(size, size) % 4000).tobytes()
        path = folder / f"slice{index:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
