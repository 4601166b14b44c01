"""Write a phantom case as a classic MR Image Storage series, plus labels (NIfTI), truth and a preview.

Everything that varies between real sites varies here too, drawn from the case seed so that the same
seed writes the same bytes: row direction (from the pixel grid), InstanceNumber order (spatial,
reversed or interleaved acquisition order), patient position, names with non-ASCII characters (then
SpecificCharacterSet ISO_IR 192), sequence parameters. UIDs come from ``pydicom.uid.generate_uid`` with
an entropy source derived from the seed, so they are valid, unique per seed and reproducible.

``same_study=True`` writes a case as one series of a multi-contrast study: its StudyInstanceUID and
FrameOfReferenceUID then come from the seed and region alone (not the contrast), and its SeriesNumber
is offset by contrast, so the T2 and T1 of one seed -- the same patient, imaged on the same grid -- are
two series of one study in one frame of reference, as a scanner writes them (the node pairs them for
Modic typing). Without it every case is its own study, byte for byte as before.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import EnhancedMRImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from pipeline.phantom import PhantomCase
from pipeline.phantom.preview import preview

NAMES = (
    "Doe^Jane",
    "Smith^John",
    "Müller^Jürgen",
    "Øvergård^Åse",
    "García López^José",
    "Dvořák^Antonín",
    "Nguyễn^Văn An",
    "Yamada^Tarou=山田^太郎=やまだ^たろう",
    "Łukasiewicz^Zofia",
    "O'Brien^Siobhán",
)
BODY_PART = {"lumbar": "LSPINE", "thoracolumbar": "TSPINE", "cervical": "CSPINE", "whole": "SPINE"}
ANATOMY_CODE = {  # SNOMED CT codes for the Frame Anatomy functional group (DICOM CID 4031)
    "lumbar": ("122496007", "Lumbar spine"),
    "thoracolumbar": ("122495006", "Thoracic spine"),
    "cervical": ("122494005", "Cervical spine"),
    "whole": ("421060004", "Spine"),
}


def case_name(case: PhantomCase) -> str:
    """Folder name of a case: ``phantom-000007-lumbar-T2``."""
    return f"phantom-{case.seed:06d}-{case.region}-{case.contrast}"


def _uid(case: PhantomCase, *parts: object) -> str:
    return generate_uid(
        entropy_srcs=["dicomnode-phantom", str(case.seed), case.region, case.contrast, *map(str, parts)]
    )


SERIES_NUMBER_OFFSET = {"T2": 0, "T1": 20, "STIR": 40}
"""Added to a ``same_study`` case's SeriesNumber, so the contrasts of one study differ in it."""


def _study_uid(case: PhantomCase, part: str, same_study: bool) -> str:
    """Study or frame-of-reference UID: per case, or per seed and region (shared by every contrast)."""
    if not same_study:
        return _uid(case, part)
    return generate_uid(entropy_srcs=["dicomnode-phantom", str(case.seed), case.region, "study-of-contrasts", part])


def instance_order(n: int, rng: np.random.Generator) -> tuple[str, list[int]]:
    """InstanceNumber of each spatial slice: spatial, reversed or interleaved (odd slices first)."""
    kind = str(rng.choice(["spatial", "reversed", "interleaved"], p=[0.5, 0.3, 0.2]))
    order = list(range(n))
    if kind == "reversed":
        order.reverse()
    elif kind == "interleaved":
        order = order[0::2] + order[1::2]
    numbers = [0] * n
    for number, k in enumerate(order, start=1):
        numbers[k] = number
    return kind, numbers


def header_variant(case: PhantomCase) -> dict[str, Any]:
    """The site-like header choices of a case, drawn from its seed."""
    rng = np.random.default_rng([case.seed, 0xD1C0])
    name = str(rng.choice(NAMES))
    order_kind, numbers = instance_order(case.volume.shape[0], rng)
    study_date = dt.date(2019, 1, 1) + dt.timedelta(days=int(case.seed % 2000))
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 60)))
    return {
        "patient_name": name,
        "non_ascii": not name.isascii(),
        "patient_id": f"PH{case.seed:06d}",
        "patient_sex": str(rng.choice(["F", "M"])),
        "birth_date": birth.strftime("%Y%m%d"),
        "age": f"{(study_date - birth).days // 365:03d}Y",
        "study_date": study_date.strftime("%Y%m%d"),
        "study_time": f"{int(rng.integers(7, 19)):02d}{int(rng.integers(0, 60)):02d}00",
        "patient_position": str(rng.choice(["HFS", "FFS"], p=[0.8, 0.2])),
        "instance_order": order_kind,
        "instance_numbers": numbers,
        "series_number": int(rng.integers(2, 12)),
        "phase_direction": str(rng.choice(["COL", "ROW"], p=[0.7, 0.3])),
    }


def _base_dataset(case: PhantomCase, variant: dict[str, Any], same_study: bool = False) -> Dataset:
    vol, seq = case.volume, case.plan.sequence
    ds = Dataset()
    if variant["non_ascii"]:
        ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = MRImageStorage
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = variant["study_date"]
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = variant["study_time"]
    ds.AccessionNumber = f"A{case.seed:07d}"
    ds.Modality = "MR"
    # Not "dicomnode...": the router ignores that Manufacturer as the node's own output (headers.py).
    ds.Manufacturer = "SyntheticMR"
    ds.ManufacturerModelName = "dicomnode-phantom"
    ds.InstitutionName = "Synthetic Hospital"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "MRI SPINE"
    ds.SeriesDescription = str(seq["description"])
    ds.PatientName = variant["patient_name"]
    ds.PatientID = variant["patient_id"]
    ds.PatientBirthDate = variant["birth_date"]
    ds.PatientSex = variant["patient_sex"]
    ds.PatientAge = variant["age"]
    ds.BodyPartExamined = BODY_PART[case.region]
    contrast = case.contrast
    ds.ScanningSequence = ["IR", "SE"] if contrast == "STIR" else ["SE"]
    ds.SequenceVariant = ["SK", "SP", "MP"] if contrast == "STIR" else ["SK", "SP"]
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = {"T2": "*tse2d1_17", "T1": "*tse2d1_3", "STIR": "*tir2d1_13"}[contrast]
    ds.SliceThickness = f"{case.plan.slice_thickness:.2f}"
    ds.RepetitionTime = f"{float(seq['repetition_time']):.1f}"
    ds.EchoTime = f"{float(seq['echo_time']):.1f}"
    if "inversion_time" in seq:
        ds.InversionTime = f"{float(seq['inversion_time']):.1f}"
    ds.NumberOfAverages = "2"
    ds.ImagingFrequency = f"{42.577478 * float(seq['field_strength']):.6f}"
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = "1"
    ds.MagneticFieldStrength = f"{float(seq['field_strength']):.1f}"
    ds.SpacingBetweenSlices = f"{vol.spacing[0]:.4f}"
    ds.EchoTrainLength = str(int(seq["echo_train_length"]))
    ds.PercentSampling = "100"
    ds.PercentPhaseFieldOfView = "100"
    ds.PixelBandwidth = "190"
    ds.ProtocolName = str(seq["description"])
    ds.ReceiveCoilName = "Spine"
    ds.TransmitCoilName = "Body"
    rows, cols = vol.shape[1], vol.shape[2]
    factor = case.plan.acquisition_factor
    if variant["phase_direction"] == "COL":
        ds.AcquisitionMatrix = [0, rows // factor, cols // factor, 0]
    else:
        ds.AcquisitionMatrix = [rows // factor, 0, 0, cols // factor]
    ds.InPlanePhaseEncodingDirection = variant["phase_direction"]
    ds.FlipAngle = "150" if contrast != "T1" else "90"
    ds.VariableFlipAngleFlag = "N"
    ds.PatientPosition = variant["patient_position"]
    ds.StudyInstanceUID = _study_uid(case, "study", same_study)
    ds.SeriesInstanceUID = _uid(case, "series")
    ds.StudyID = str(1000 + case.seed % 9000)
    offset = SERIES_NUMBER_OFFSET[contrast] if same_study else 0
    ds.SeriesNumber = str(variant["series_number"] + offset)
    ds.AcquisitionNumber = "1"
    ds.FrameOfReferenceUID = _study_uid(case, "frame", same_study)
    ds.PositionReferenceIndicator = ""
    row, col = vol.direction[:, 2], vol.direction[:, 1]
    ds.ImageOrientationPatient = [f"{c:.6f}" for c in (*row, *col)]
    ds.PixelSpacing = [f"{vol.spacing[1]:.6f}", f"{vol.spacing[2]:.6f}"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    lo, hi = np.percentile(vol.array, [1.0, 99.5])
    ds.WindowCenter = f"{(lo + hi) / 2:.0f}"
    ds.WindowWidth = f"{max(hi - lo, 1):.0f}"
    return ds


def series_datasets(case: PhantomCase, *, same_study: bool = False) -> list[Dataset]:
    """One classic MR Image Storage dataset per slice, in spatial order (``same_study``: see the module)."""
    vol = case.volume
    variant = header_variant(case)
    base = _base_dataset(case, variant, same_study)
    pixels = np.clip(np.round(vol.array), 0, 65535).astype("<u2")
    normal = vol.direction[:, 0]
    out = []
    for k in range(vol.shape[0]):
        ds = Dataset()
        ds.update(base)
        number = variant["instance_numbers"][k]
        position = vol.origin + normal * vol.spacing[0] * k
        ds.SOPInstanceUID = _uid(case, "instance", k)
        ds.InstanceNumber = str(number)
        ds.ImagePositionPatient = [f"{c:.4f}" for c in position]
        ds.SliceLocation = f"{float(position @ normal):.4f}"
        ds.PixelData = pixels[k].tobytes()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        out.append(ds)
    return out


def _item(**attributes: Any) -> Dataset:
    item = Dataset()
    for key, value in attributes.items():
        setattr(item, key, value)
    return item


def enhanced_dataset(case: PhantomCase, *, same_study: bool = False) -> Dataset:
    """The series as one Enhanced MR Image Storage object (PS3.3 A.36.2), frames in InstanceNumber order.

    Shared functional groups carry what all frames have in common (pixel measures, orientation, anatomy,
    pixel value transformation, frame type, timing, FOV, echo, modifiers, coils, averages); per-frame
    groups carry the plane position and the frame content with a stack dimension (C.7.6.17).
    """
    vol, seq = case.volume, case.plan.sequence
    variant = header_variant(case)
    classic = _base_dataset(case, variant, same_study)
    ds = Dataset()
    for keyword in (
        "SpecificCharacterSet",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "Modality",
        "Manufacturer",
        "ManufacturerModelName",
        "InstitutionName",
        "ReferringPhysicianName",
        "StudyDescription",
        "SeriesDescription",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "PatientAge",
        "BodyPartExamined",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "StudyID",
        "SeriesNumber",
        "FrameOfReferenceUID",
        "PositionReferenceIndicator",
        "SeriesDate",
        "SeriesTime",
        "PatientPosition",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "Rows",
        "Columns",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "MRAcquisitionType",
        "MagneticFieldStrength",
    ):
        if keyword in classic:
            setattr(ds, keyword, classic[keyword].value)
    contrast = case.contrast
    frame_type = ["ORIGINAL", "PRIMARY", "STATIC", "NONE"]
    acquisition_contrast = {"T2": "T2", "T1": "T1", "STIR": "STIR"}[contrast]
    ds.SOPClassUID = EnhancedMRImageStorage
    ds.SOPInstanceUID = _uid(case, "enhanced")
    ds.ImageType = frame_type
    ds.PixelPresentation = "MONOCHROME"
    ds.PresentationLUTShape = "IDENTITY"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.AcquisitionContrast = acquisition_contrast
    ds.ContentQualification = "RESEARCH"
    ds.ResonantNucleus = "1H"
    ds.KSpaceFiltering = "NONE"
    ds.ApplicableSafetyStandardAgency = "IEC"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = variant["study_date"] + variant["study_time"]
    ds.AcquisitionDuration = 180.0
    ds.DeviceSerialNumber = "PHANTOM-0001"
    ds.SoftwareVersions = "dicomnode phantom"
    ds.InstanceNumber = 1
    ds.ContentDate = variant["study_date"]
    ds.ContentTime = variant["study_time"]
    # MR Pulse Sequence module (C.8.13.4), required for ORIGINAL images
    ds.PulseSequenceName = {"T2": "TSE", "T1": "TSE", "STIR": "TIR"}[contrast]
    ds.EchoPulseSequence = "SPIN"
    ds.MultipleSpinEcho = "NO"
    ds.MultiPlanarExcitation = "YES"
    ds.PhaseContrast = "NO"
    ds.TimeOfFlightContrast = "NO"
    ds.SteadyStatePulseSequence = "NONE"
    ds.EchoPlanarPulseSequence = "NO"
    ds.SaturationRecovery = "NO"
    ds.SpectrallySelectedSuppression = "NONE"
    ds.OversamplingPhase = "NONE"
    ds.GeometryOfKSpaceTraversal = "RECTILINEAR"
    ds.RectilinearPhaseEncodeReordering = "LINEAR"
    ds.SegmentedKSpaceTraversal = "PARTIAL"
    ds.NumberOfKSpaceTrajectories = 1
    ds.AcquisitionContextSequence = Sequence()
    # Multi-frame Dimension module: one stack, frames indexed by their position in it
    dimension_uid = _uid(case, "dimension")
    ds.DimensionOrganizationSequence = Sequence([_item(DimensionOrganizationUID=dimension_uid)])
    ds.DimensionIndexSequence = Sequence(
        [
            _item(
                DimensionOrganizationUID=dimension_uid,
                DimensionIndexPointer=0x00209056,
                FunctionalGroupPointer=0x00209111,
                DimensionDescriptionLabel="Stack ID",
            ),
            _item(
                DimensionOrganizationUID=dimension_uid,
                DimensionIndexPointer=0x00209057,
                FunctionalGroupPointer=0x00209111,
                DimensionDescriptionLabel="In-Stack Position Number",
            ),
        ]
    )
    factor = case.plan.acquisition_factor
    rows, cols = vol.shape[1], vol.shape[2]
    phase_rows = variant["phase_direction"] == "COL"
    code, meaning = ANATOMY_CODE[case.region]
    modifier = _item(
        InversionRecovery="YES" if contrast == "STIR" else "NO",
        FlowCompensation="NONE",
        T2Preparation="NO",
        SpectrallySelectedExcitation="NONE",
        SpatialPresaturation="NONE",
        PartialFourier="NO",
        ParallelAcquisition="NO",
    )
    if contrast == "STIR":
        modifier.InversionTimes = [float(seq["inversion_time"])]
    shared = _item(
        PixelMeasuresSequence=Sequence(
            [
                _item(
                    PixelSpacing=classic.PixelSpacing,
                    SliceThickness=classic.SliceThickness,
                    SpacingBetweenSlices=classic.SpacingBetweenSlices,
                )
            ]
        ),
        PlaneOrientationSequence=Sequence([_item(ImageOrientationPatient=classic.ImageOrientationPatient)]),
        FrameAnatomySequence=Sequence(
            [
                _item(
                    FrameLaterality="U",
                    AnatomicRegionSequence=Sequence(
                        [_item(CodeValue=code, CodingSchemeDesignator="SCT", CodeMeaning=meaning)]
                    ),
                )
            ]
        ),
        PixelValueTransformationSequence=Sequence([_item(RescaleIntercept=0, RescaleSlope=1, RescaleType="US")]),
        MRImageFrameTypeSequence=Sequence(
            [
                _item(
                    FrameType=frame_type,
                    PixelPresentation="MONOCHROME",
                    VolumetricProperties="VOLUME",
                    VolumeBasedCalculationTechnique="NONE",
                    ComplexImageComponent="MAGNITUDE",
                    AcquisitionContrast=acquisition_contrast,
                )
            ]
        ),
        MRTimingAndRelatedParametersSequence=Sequence(
            [
                _item(
                    RepetitionTime=float(seq["repetition_time"]),
                    FlipAngle=float(classic.FlipAngle),
                    EchoTrainLength=int(seq["echo_train_length"]),
                    RFEchoTrainLength=int(seq["echo_train_length"]),
                    GradientEchoTrainLength=0,
                    SpecificAbsorptionRateSequence=Sequence(
                        [_item(SpecificAbsorptionRateDefinition="IEC_WHOLE_BODY", SpecificAbsorptionRateValue=0.6)]
                    ),
                    OperatingModeSequence=Sequence(
                        [
                            _item(OperatingModeType=mode, OperatingMode="IEC_NORMAL")
                            for mode in ("STATIC FIELD", "RF", "GRADIENT")
                        ]
                    ),
                )
            ]
        ),
        MRFOVGeometrySequence=Sequence(
            [
                _item(
                    InPlanePhaseEncodingDirection="COLUMN" if phase_rows else "ROW",
                    MRAcquisitionFrequencyEncodingSteps=(cols if phase_rows else rows) // factor,
                    MRAcquisitionPhaseEncodingStepsInPlane=(rows if phase_rows else cols) // factor,
                    PercentSampling=100.0,
                    PercentPhaseFieldOfView=100.0,
                )
            ]
        ),
        MREchoSequence=Sequence([_item(EffectiveEchoTime=float(seq["echo_time"]))]),
        MRModifierSequence=Sequence([modifier]),
        MRImagingModifierSequence=Sequence(
            [
                _item(
                    MagnetizationTransfer="NONE",
                    BloodSignalNulling="NO",
                    Tagging="NONE",
                    TransmitterFrequency=float(classic.ImagingFrequency),
                    PixelBandwidth=190.0,
                )
            ]
        ),
        MRReceiveCoilSequence=Sequence(
            [
                _item(
                    ReceiveCoilName="Spine",
                    ReceiveCoilManufacturerName="",
                    ReceiveCoilType="SURFACE",
                    QuadratureReceiveCoil="NO",
                )
            ]
        ),
        MRTransmitCoilSequence=Sequence(
            [_item(TransmitCoilName="Body", TransmitCoilManufacturerName="", TransmitCoilType="BODY")]
        ),
        MRAveragesSequence=Sequence([_item(NumberOfAverages=2.0)]),
    )
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    numbers = variant["instance_numbers"]
    order = sorted(range(vol.shape[0]), key=lambda k: numbers[k])  # frame f holds slice order[f]
    normal = vol.direction[:, 0]
    frames = []
    for k in order:
        position = vol.origin + normal * vol.spacing[0] * k
        frames.append(
            _item(
                FrameContentSequence=Sequence(
                    [
                        _item(
                            FrameAcquisitionDateTime=ds.AcquisitionDateTime,
                            FrameReferenceDateTime=ds.AcquisitionDateTime,
                            FrameAcquisitionDuration=180000.0 / vol.shape[0],
                            StackID="1",
                            InStackPositionNumber=k + 1,
                            DimensionIndexValues=[1, k + 1],
                        )
                    ]
                ),
                PlanePositionSequence=Sequence([_item(ImagePositionPatient=[f"{c:.4f}" for c in position])]),
            )
        )
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.NumberOfFrames = vol.shape[0]
    pixels = np.clip(np.round(vol.array), 0, 65535).astype("<u2")
    ds.PixelData = pixels[order].tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def labels_nifti_bytes(case: PhantomCase) -> bytes:
    """The label map as gzipped NIfTI-1 on the series grid (RAS affine), byte-reproducible (mtime 0)."""
    lps_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    image = nib.Nifti1Image(case.labels.astype(np.uint8), lps_to_ras @ case.volume.affine)
    image.header.set_xyzt_units("mm")
    image.header["descrip"] = b"dicomnode phantom labels (pipeline.labels)"
    return gzip.compress(image.to_bytes(), compresslevel=6, mtime=0)


def preview_png(case: PhantomCase, path: Path) -> None:
    """Mid-sagittal preview with the label outlines, square pixels."""
    rgb = preview(case.volume, case.labels)
    image = Image.fromarray(rgb)
    row_mm, col_mm = case.volume.spacing[1], case.volume.spacing[2]
    if abs(row_mm - col_mm) > 1e-3:
        image = image.resize((rgb.shape[1], round(rgb.shape[0] * row_mm / col_mm)))
    image.save(path, format="PNG", optimize=False)


def write_case(case: PhantomCase, out: Path, png: bool = False, enhanced: bool = False,
               same_study: bool = False) -> Path:
    """Write one case under ``out/<case name>/``: ``dicom/IM####.dcm`` (or one Enhanced MR object
    ``dicom/EMR0001.dcm`` with ``enhanced``), ``labels.nii.gz``, ``truth.json`` and, with ``png``,
    ``preview.png``. ``same_study``: the contrasts of one seed share study and frame of reference.
    Returns the case folder."""
    folder = Path(out) / case_name(case)
    dicom_dir = folder / "dicom"
    dicom_dir.mkdir(parents=True, exist_ok=True)
    if enhanced:
        enhanced_dataset(case, same_study=same_study).save_as(dicom_dir / "EMR0001.dcm", enforce_file_format=True)
    else:
        for ds in series_datasets(case, same_study=same_study):
            ds.save_as(dicom_dir / f"IM{int(ds.InstanceNumber):04d}.dcm", enforce_file_format=True)
    (folder / "labels.nii.gz").write_bytes(labels_nifti_bytes(case))
    truth = dict(case.truth)
    truth["dicom"] = {k: v for k, v in header_variant(case).items() if k != "instance_numbers"} | {
        "study_instance_uid": _study_uid(case, "study", same_study),
        "series_instance_uid": _uid(case, "series"),
        "frame_of_reference_uid": _study_uid(case, "frame", same_study),
    }
    (folder / "truth.json").write_text(
        json.dumps(_jsonable(truth), indent=1, sort_keys=True, ensure_ascii=False), encoding="utf-8"
    )
    if png:
        preview_png(case, folder / "preview.png")
    return folder


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def pixel_array(case: PhantomCase) -> NDArray[np.uint16]:
    """The stored pixel values of the series (what a reader gets back), spatial order."""
    return np.clip(np.round(case.volume.array), 0, 65535).astype(np.uint16)
