"""Synthetic sagittal lumbar MR series and a hand-made SpineAnalysis for the results tests.

The phantom is defined in patient (LPS) millimetres, not in voxels, so whatever orientation
convention or slice order a test writes the files in, the anatomy is the same: vertebral bodies L3,
L4, L5 and the sacrum stacked head to foot, discs between them, the spinal canal behind. A test that
loads the files and rebuilds the label map from the loaded geometry therefore checks the loader and
the builders against physical truth, not against the file order.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pipeline import labels
from pipeline.result import (
    Grade,
    LevelFindings,
    Measurement,
    QualityControl,
    SpineAnalysis,
    Structure,
    VertebraFindings,
)
from pipeline.volume import Volume

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"

# Head-to-foot extent (LPS z, mm) of each structure; vertebral bodies 20 mm, discs 8 mm.
_LEVELS: list[tuple[str, float, float]] = [
    ("L3", 52.0, 32.0),
    ("L3/L4", 32.0, 24.0),
    ("L4", 24.0, 4.0),
    ("L4/L5", 4.0, -4.0),
    ("L5", -4.0, -24.0),
    ("L5/S1", -24.0, -32.0),
    ("S1", -32.0, -56.0),
]


@dataclass(frozen=True)
class Convention:
    """One way a scanner may describe the same sagittal stack."""

    name: str
    row: tuple[float, float, float]
    col: tuple[float, float, float]
    file_order: str  # "ascending", "descending" or "shuffled" InstanceNumber vs. position


def _rotate(v: tuple[float, float, float], degrees: float) -> tuple[float, float, float]:
    """Rotate about the LPS y (A-P) axis: a slightly oblique (coronally tilted) sagittal plane."""
    a = np.deg2rad(degrees)
    m = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return tuple(float(x) for x in m @ np.asarray(v))  # type: ignore[return-value]


CONVENTIONS: list[Convention] = [
    # Siemens/GE typical: rows run anterior->posterior, columns head->foot, normal points right.
    Convention("rows-posterior", (0.0, 1.0, 0.0), (0.0, 0.0, -1.0), "ascending"),
    # Rows run posterior->anterior (image flipped left-right on screen), normal points left.
    Convention("rows-anterior", (0.0, -1.0, 0.0), (0.0, 0.0, -1.0), "descending"),
    # Slightly oblique, files shuffled so InstanceNumber says nothing about position.
    Convention("oblique-shuffled", (0.0, 1.0, 0.0), _rotate((0.0, 0.0, -1.0), 8.0), "shuffled"),
]


def _oblique_fix(conv: Convention) -> tuple[NDArray, NDArray]:
    row = np.asarray(conv.row, dtype=float)
    col = np.asarray(conv.col, dtype=float)
    col = col - row * (row @ col)
    return row / np.linalg.norm(row), col / np.linalg.norm(col)


def phantom_labels(points: NDArray[np.float64]) -> NDArray[np.uint8]:
    """Label of each LPS point (shape ``(..., 3)``) in the physical phantom."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    out = np.zeros(points.shape[:-1], dtype=np.uint8)
    body = (np.abs(x) <= 10.5) & (y >= -22.0) & (y <= 8.0)
    for name, top, bottom in _LEVELS:
        inside = body & (z < top) & (z >= bottom)
        if "/" in name:
            upper = name.split("/")[0]
            out[inside] = labels.disc_label(upper)
        else:
            out[inside] = labels.VERTEBRA_LABELS[name]
    canal = (np.abs(x) <= 7.5) & (y >= 12.0) & (y <= 24.0) & (z < 52.0) & (z >= -32.0)
    out[canal] = labels.CANAL
    return out


def phantom_intensity(label_map: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint16]:
    """T2-like grey values: bright discs and CSF, mid-grey bone, dark background, a little noise."""
    image = np.full(label_map.shape, 60.0)
    for value in np.unique(label_map):
        if value == 0:
            continue
        if labels.is_vertebra(int(value)):
            image[label_map == value] = 420.0
        elif labels.is_disc(int(value)):
            image[label_map == value] = 780.0
        elif value == labels.CANAL:
            image[label_map == value] = 950.0
    image += rng.normal(0, 15, image.shape)
    return np.clip(image, 0, 4095).astype(np.uint16)


def _base_dataset(
    conv: Convention,
    *,
    patient_name: str,
    study_uid: str,
    series_uid: str,
    for_uid: str,
    charset: str = "ISO_IR 192",
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.PatientName = patient_name
    ds.PatientID = "PHANTOM-001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = "ACC001"
    ds.ReferringPhysicianName = ""
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 3
    ds.SeriesDescription = "T2_TSE_SAG"
    ds.ProtocolName = "t2_tse_sag"
    ds.Modality = "MR"
    ds.Manufacturer = "Phantom"
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.BodyPartExamined = "LSPINE"
    ds.PatientPosition = "HFS"
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "SK"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = 3000
    ds.EchoTime = 100
    ds.EchoTrainLength = 16
    ds.MagneticFieldStrength = 1.5
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.ContentDate = "20260101"
    ds.ContentTime = "120000"
    return ds


def write_series(
    folder: Path,
    conv: Convention,
    *,
    n_slices: int = 9,
    size: int = 64,
    pixel_spacing: float | tuple[float, float] = 2.0,
    slice_spacing: float = 3.0,
    patient_name: str = "Müller^Jürgen",
    enhanced: bool = False,
    charset: str = "ISO_IR 192",
    seed: int = 0,
) -> list[Path]:
    """Write the phantom as MR files in ``folder`` following ``conv``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    row, col = _oblique_fix(conv)
    normal = np.cross(row, col)
    study_uid, series_uid, for_uid = generate_uid(), generate_uid(), generate_uid()
    # Centre the stack on the phantom: slice k sits at (k - (n-1)/2) * spacing along the normal.
    # PixelSpacing is (between rows, between columns) = (along the column vector, along the row vector).
    row_step, col_step = (pixel_spacing, pixel_spacing) if isinstance(pixel_spacing, float | int) else pixel_spacing
    pixel_spacing = (float(row_step), float(col_step))
    centre_offset = -(row * (size - 1) / 2 * col_step + col * (size - 1) / 2 * row_step)
    jj, ii = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    slices = []
    for k in range(n_slices):
        ipp = normal * (k - (n_slices - 1) / 2) * slice_spacing + centre_offset
        points = ipp + jj[..., None] * col * row_step + ii[..., None] * row * col_step
        label_slice = phantom_labels(points)
        slices.append((ipp, phantom_intensity(label_slice, rng)))
    # Acquisition order of the files versus their position.
    order = list(range(n_slices))
    if conv.file_order == "descending":
        order = order[::-1]
    elif conv.file_order == "shuffled":
        order = list(rng.permutation(n_slices))
    iop = [*(float(v) for v in row), *(float(v) for v in col)]
    if enhanced:
        return [
            _write_enhanced(
                folder,
                conv,
                slices,
                order,
                iop,
                pixel_spacing,
                slice_spacing,
                patient_name,
                study_uid,
                series_uid,
                for_uid,
            )
        ]
    paths = []
    for instance, k in enumerate(order, start=1):
        ipp, pixels = slices[k]
        ds = _base_dataset(
            conv,
            patient_name=patient_name,
            study_uid=study_uid,
            series_uid=series_uid,
            for_uid=for_uid,
            charset=charset,
        )
        ds.SOPClassUID = MR_IMAGE_STORAGE
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = instance
        ds.ImagePositionPatient = [round(float(v), 4) for v in ipp]
        ds.ImageOrientationPatient = [round(v, 6) for v in iop]
        ds.PixelSpacing = list(pixel_spacing)
        ds.SliceThickness = slice_spacing
        ds.SpacingBetweenSlices = slice_spacing
        ds.SliceLocation = round(float(ipp @ normal), 4)
        ds.Rows = ds.Columns = size
        ds.PixelData = pixels.tobytes()
        _save(ds, folder / f"IM{instance:04d}.dcm")
        paths.append(folder / f"IM{instance:04d}.dcm")
    return paths


def _save(ds: Dataset, path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)


def _write_enhanced(
    folder,
    conv,
    slices,
    order,
    iop,
    pixel_spacing,
    slice_spacing,
    patient_name,
    study_uid,
    series_uid,
    for_uid,
) -> Path:
    ds = _base_dataset(conv, patient_name=patient_name, study_uid=study_uid, series_uid=series_uid, for_uid=for_uid)
    ds.SOPClassUID = ENHANCED_MR_IMAGE_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = 1
    ds.NumberOfFrames = len(order)
    size = slices[0][1].shape[0]
    ds.Rows = ds.Columns = size
    shared = Dataset()
    orient = Dataset()
    orient.ImageOrientationPatient = [round(v, 6) for v in iop]
    shared.PlaneOrientationSequence = [orient]
    measures = Dataset()
    measures.PixelSpacing = list(pixel_spacing)
    measures.SliceThickness = slice_spacing
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    frames = []
    for k in order:
        ipp, pixels = slices[k]
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [round(float(v), 4) for v in ipp]
        item.PlanePositionSequence = [pos]
        transform = Dataset()
        transform.RescaleSlope = 2
        transform.RescaleIntercept = 0
        transform.RescaleType = "US"
        item.PixelValueTransformationSequence = [transform]
        per_frame.append(item)
        frames.append((pixels // 2).astype(np.uint16))
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.PixelData = np.stack(frames).tobytes()
    ds.ContentDate = datetime.date(2026, 1, 1).strftime("%Y%m%d")
    path = folder / "enhanced.dcm"
    _save(ds, path)
    return path


def expected_label_map(volume: Volume) -> NDArray[np.uint8]:
    """The phantom's label map sampled on a loaded volume's grid (voxel centres)."""
    k, j, i = np.meshgrid(*(np.arange(n) for n in volume.shape), indexing="ij")
    index = np.stack([k, j, i], axis=-1).astype(float)
    return phantom_labels(volume.index_to_lps(index))


def make_analysis(volume: Volume, label_map: NDArray[np.uint8] | None = None) -> SpineAnalysis:
    """A SpineAnalysis as the pipeline would hand it over, with assessed and not-assessed grades."""
    if label_map is None:
        label_map = expected_label_map(volume)
    structures = []
    for value in np.unique(label_map):
        if value == 0 or not (
            labels.is_vertebra(int(value)) or labels.is_disc(int(value)) or value in (labels.CANAL, labels.CORD)
        ):
            continue
        idx = np.argwhere(label_map == value).astype(float)
        centroid_index = idx.mean(axis=0)
        centroid_lps = volume.index_to_lps(centroid_index)
        kind = (
            "vertebra"
            if labels.is_vertebra(int(value))
            else "disc"
            if labels.is_disc(int(value))
            else "canal"
            if value == labels.CANAL
            else "cord"
        )
        structures.append(
            Structure(
                label=int(value),
                name=labels.label_name(int(value)) if kind != "vertebra" or value != labels.SACRUM else "S1",
                kind=kind,  # type: ignore[arg-type]
                centroid_lps=tuple(float(v) for v in centroid_lps),  # type: ignore[arg-type]
                centroid_index=tuple(float(v) for v in centroid_index),  # type: ignore[arg-type]
                voxel_count=len(idx),
                confidence=0.93,
            )
        )
    levels = [
        LevelFindings(
            level="L3/L4",
            disc_label=labels.disc_label("L3"),
            upper_vertebra="L3",
            lower_vertebra="L4",
            grades=[
                Grade(
                    "pfirrmann",
                    "2",
                    derived_from=("nucleus_csf_ratio",),
                    probabilities={"1": 0.1, "2": 0.8, "3": 0.1},
                ),
                Grade("narrowing", "none", derived_from=("disc_height_index",)),
                Grade("meyerding", "0", derived_from=("slip_percent",)),
                Grade("listhesis_direction", "none"),
                Grade("canal_stenosis", "none", derived_from=("canal_ap_diameter",)),
                Grade("herniation", "bulge", derived_from=("herniation_extent",)),
                Grade("modic_upper", None, note="Modic typing needs T1 and T2; only T2 given"),
                Grade("modic_lower", None, note="Modic typing needs T1 and T2; only T2 given"),
                Grade("endplate_defect_upper", "absent"),
                Grade("endplate_defect_lower", "present"),
            ],
            measurements=[
                Measurement("disc_height_anterior", 9.1, "mm"),
                Measurement("disc_height_middle", 8.4, "mm"),
                Measurement("disc_height_posterior", 6.9, "mm"),
                Measurement("disc_height_index", 0.38, "1"),
                Measurement("nucleus_csf_ratio", 0.71, "1"),
                Measurement("slip", 0.4, "mm"),
                Measurement("slip_percent", 1.2, "%"),
                Measurement("canal_ap_diameter", 13.5, "mm"),
                Measurement("herniation_extent", 1.8, "mm"),
            ],
        ),
        LevelFindings(
            level="L4/L5",
            disc_label=labels.disc_label("L4"),
            upper_vertebra="L4",
            lower_vertebra="L5",
            grades=[
                Grade("pfirrmann", "4"),
                Grade("narrowing", "moderate"),
                Grade("meyerding", "I"),
                Grade("listhesis_direction", "anterior"),
                Grade("canal_stenosis", "moderate"),
                Grade("herniation", "protrusion"),
                Grade("modic_upper", "II"),
                Grade("modic_lower", "0"),
                Grade("marrow_change_upper", "present"),
                Grade("marrow_change_lower", "absent"),
            ],
            measurements=[
                Measurement("disc_height_middle", 5.2, "mm"),
                Measurement("slip", 6.3, "mm"),
                Measurement("slip_percent", 17.5, "%"),
                Measurement("canal_ap_diameter", 8.7, "mm"),
            ],
        ),
        LevelFindings(
            level="L5/S1",
            disc_label=labels.disc_label("L5"),
            upper_vertebra="L5",
            lower_vertebra="S1",
            grades=[
                Grade("pfirrmann", None, note="disc partly outside the field of view"),
                Grade("narrowing", "severe"),
                Grade("herniation", "extrusion"),
                Grade("some_future_grade", "weird"),
            ],
            measurements=[
                Measurement("nucleus_homogeneity", 0.42, "1"),
                Measurement("some_future_measure", 3.0, "mm"),
            ],
        ),
    ]
    vertebrae = [
        VertebraFindings(
            "L4",
            labels.VERTEBRA_LABELS["L4"],
            measurements=[
                Measurement("vertebral_height_anterior", 24.1, "mm"),
                Measurement("vertebral_height_posterior", 25.0, "mm"),
            ],
        ),
        VertebraFindings(
            "L5",
            labels.VERTEBRA_LABELS["L5"],
            measurements=[
                Measurement("vertebral_height_middle", 22.0, "mm"),
            ],
        ),
    ]
    qc = QualityControl(naming_certain=True, anchors=("sacrum",), region="lumbar", warnings=["synthetic phantom"])
    return SpineAnalysis(
        label_map=label_map.astype(np.uint8),
        structures=structures,
        levels=levels,
        vertebrae=vertebrae,
        qc=qc,
        algorithm_name="dicomnode-spine",
        algorithm_version="0.1.0-test",
    )


def read(path: Path) -> Dataset:
    return pydicom.dcmread(path)
