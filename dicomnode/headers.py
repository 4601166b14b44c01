"""Reading the indexed header of a received file without ever decoding its pixel data.

Everything that can be wrong with an incoming dataset is detected here and reported as a
:class:`RefusedInstance` carrying the DICOM status (PS3.4 Annex B.2.3) the SCU will see, so the receive
path can answer precisely and keep the file for inspection.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from dicomnode.series_loader import contrast_hint
from storage.filestore import InvalidUID, check_uid
from storage.instances import InstanceHeader

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_STORAGE_FAILURE = 0xA701
STATUS_NOT_MATCHING_SOP_CLASS = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_INVALID_UID = 0xC001

OWN_MANUFACTURER = "dicomnode"
"""Outputs carry this Manufacturer, so a node never analyses results (its own or a peer's)."""


def is_own_output(dataset: pydicom.Dataset) -> bool:
    """True for an object made by a dicomnode (ours or a peer's), which routing never analyses."""
    return (_text(dataset.get("Manufacturer")) or "").lower().startswith(OWN_MANUFACTURER)


class RefusedInstance(Exception):
    """An instance we will not store; ``status`` is the C-STORE status, ``reason`` the ErrorComment."""

    def __init__(self, status: int, reason: str, quarantine: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.quarantine = quarantine


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _uid_or_none(value: object) -> str | None:
    """A well-formed UID, or None: a broken FrameOfReferenceUID only means the series never pairs."""
    try:
        return check_uid(value, "FrameOfReferenceUID")
    except InvalidUID:
        return None


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def read_header(path: Path, sop_class_uid: str, sop_instance_uid: str) -> InstanceHeader:
    """Parse the header of a received DICOM file (pixel data untouched) and check it is storable.

    ``sop_class_uid`` and ``sop_instance_uid`` are the values of the C-STORE request; the dataset must
    agree with them (PS3.4 B.2.3: otherwise "Data Set does not match SOP Class").
    """
    try:
        # Values over 1 KB (the pixel data) are deferred: their length and offset are read, not the bytes.
        dataset = pydicom.dcmread(path, defer_size=1024)
    except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError) as exc:
        raise RefusedInstance(STATUS_CANNOT_UNDERSTAND, f"dataset cannot be parsed: {exc}"[:64],
                              "unreadable") from None
    try:
        sop_uid = check_uid(sop_instance_uid, "SOPInstanceUID")
        study_uid = check_uid(dataset.get("StudyInstanceUID"), "StudyInstanceUID")
        series_uid = check_uid(dataset.get("SeriesInstanceUID"), "SeriesInstanceUID")
        check_uid(dataset.get("SOPInstanceUID"), "SOPInstanceUID in dataset")
    except InvalidUID as exc:
        raise RefusedInstance(STATUS_INVALID_UID, str(exc)[:64], "invalid-uid") from None
    if str(dataset.get("SOPInstanceUID")).strip() != sop_uid:
        raise RefusedInstance(STATUS_NOT_MATCHING_SOP_CLASS, "SOPInstanceUID differs from request",
                              "mismatch")
    if str(dataset.get("SOPClassUID", "")).strip() != str(sop_class_uid):
        raise RefusedInstance(STATUS_NOT_MATCHING_SOP_CLASS, "SOPClassUID differs from request", "mismatch")
    _check_pixel_length(path, dataset)
    orientation = dataset.get("ImageOrientationPatient")
    frames = _int_or_none(dataset.get("NumberOfFrames")) or 1
    if orientation is None and "SharedFunctionalGroupsSequence" in dataset:
        orientation = enhanced_orientation(dataset)
    return InstanceHeader(
        study_uid=study_uid,
        series_uid=series_uid,
        sop_instance_uid=sop_uid,
        sop_class_uid=str(sop_class_uid),
        transfer_syntax_uid=str(dataset.file_meta.get("TransferSyntaxUID", "")),
        modality=_text(dataset.get("Modality")),
        series_number=_int_or_none(dataset.get("SeriesNumber")),
        series_description=_text(dataset.get("SeriesDescription")),
        protocol_name=_text(dataset.get("ProtocolName")),
        body_part=_text(dataset.get("BodyPartExamined")),
        orientation="\\".join(f"{float(v):.6f}" for v in orientation) if orientation else None,
        frame_of_reference_uid=_uid_or_none(dataset.get("FrameOfReferenceUID")),
        contrast=contrast_hint(dataset),
        instance_number=_int_or_none(dataset.get("InstanceNumber")),
        frames=frames,
        own_output=is_own_output(dataset),
    )


def enhanced_orientation(dataset: pydicom.Dataset) -> list[float] | None:
    try:
        group = dataset.SharedFunctionalGroupsSequence[0]
        return list(group.PlaneOrientationSequence[0].ImageOrientationPatient)
    except (AttributeError, IndexError, KeyError):
        return None


def _check_pixel_length(path: Path, dataset: pydicom.Dataset) -> None:
    """Refuse an image whose pixel data is shorter than its own header says, or than the file holds.

    Only native (uncompressed) pixel data has a computable size; encapsulated data is checked by the
    file size alone. The value itself is never read.
    """
    if "PixelData" not in dataset:
        return
    element = dataset.get_item("PixelData", keep_deferred=True)  # its length and offset, not its bytes
    length, offset = getattr(element, "length", None), getattr(element, "value_tell", None)
    known = length is not None and offset is not None and length != 0xFFFFFFFF
    if known and offset + length > path.stat().st_size:
        raise RefusedInstance(STATUS_CANNOT_UNDERSTAND, "file ends inside the pixel data (truncated)",
                              "truncated")
    rows, columns = _int_or_none(dataset.get("Rows")), _int_or_none(dataset.get("Columns"))
    bits = _int_or_none(dataset.get("BitsAllocated"))
    syntax = dataset.file_meta.get("TransferSyntaxUID")
    if not (rows and columns and bits and length) or syntax is None or UID(syntax).is_compressed:
        return
    frames = _int_or_none(dataset.get("NumberOfFrames")) or 1
    samples = _int_or_none(dataset.get("SamplesPerPixel")) or 1
    expected = rows * columns * frames * samples * bits // 8
    if length < expected:
        raise RefusedInstance(STATUS_CANNOT_UNDERSTAND, "pixel data shorter than Rows x Columns x frames",
                              "truncated")
