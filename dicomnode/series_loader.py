"""Read one DICOM MR series from files into a :class:`pipeline.volume.Volume` and its source headers.

Why a loader of our own rather than SimpleITK's series reader: we need the pydicom headers in spatial
order anyway (the SEG, SR and picture builders copy patient/study modules and reference every source
frame), we must accept Enhanced MR multi-frame objects as well as classic one-slice-per-file series,
and we want an exception that tells the admin *which* rule a series broke (mixed orientations, gaps,
duplicates) instead of a silently resampled volume.

Geometry follows DICOM PS3.3 C.7.6.2 (Image Plane Module): ImagePositionPatient is the LPS centre of
the first transmitted pixel, ImageOrientationPatient holds the row direction (along a row, increasing
column index) then the column direction. Slices are ordered by their position along the slice normal
``row x column`` -- never by InstanceNumber, which scanners number in acquisition order, and which
sometimes runs R->L and sometimes L->R.

Nothing here logs patient identifiers: messages name files by their position in the input, never by
patient name, ID or accession number.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pipeline.volume import Volume

log = logging.getLogger(__name__)

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
SUPPORTED_SOP_CLASSES = {MR_IMAGE_STORAGE: "MR Image Storage", ENHANCED_MR_IMAGE_STORAGE: "Enhanced MR"}

ORIENTATION_TOLERANCE = 1e-3
"""Largest difference between two slices' direction cosines still treated as the same orientation."""
SPACING_TOLERANCE = 0.01
"""Relative tolerance on pixel spacing and slice-to-slice distance (1 %, scanners round positions)."""
SAGITTAL_MIN_COSINE = 0.7
"""A stack is "sagittal-ish" when its normal is within ~45 degrees of the left-right axis."""


class SeriesLoadError(ValueError):
    """The files do not form one regular image stack; the message names the rule that failed."""


@dataclass(frozen=True)
class LoadedSeries:
    """A series ready for the pipeline, with the headers the result builders need.

    ``datasets`` are the source objects: for a classic series one per slice, already in spatial order
    (``datasets[k]`` is slice ``volume.array[k]``); for Enhanced MR the single multi-frame object.
    ``frame_numbers[k]`` is the 1-based frame of ``datasets[dataset_index[k]]`` that holds slice ``k``
    (always 1 for classic files), so a builder can put a mask slice back into source frame order.
    """

    volume: Volume
    datasets: tuple[Dataset, ...]
    dataset_index: tuple[int, ...]
    frame_numbers: tuple[int, ...]
    paths: tuple[Path, ...] = field(default=())

    def __post_init__(self) -> None:
        n = self.volume.shape[0]
        if len(self.dataset_index) != n or len(self.frame_numbers) != n:
            raise ValueError(f"need one (dataset, frame) pair per slice: {n} slices")
        if not self.datasets:
            raise ValueError("a LoadedSeries needs at least one source dataset")

    @property
    def is_multiframe(self) -> bool:
        """True when the source is one Enhanced MR object (frames rather than files per slice)."""
        return len(self.datasets) == 1 and int(getattr(self.datasets[0], "NumberOfFrames", 1)) > 1

    @property
    def reference(self) -> Dataset:
        """The dataset whose patient, study and frame-of-reference attributes the outputs copy."""
        return self.datasets[0]

    def to_source_order(self, array: NDArray) -> NDArray:
        """Reorder a ``(slices, rows, cols)`` array from spatial order into source frame order.

        For a classic series the source order *is* the spatial order of :attr:`datasets`. For a
        multi-frame source, frame ``f`` (1-based) of the output holds the slice that came from frame
        ``f``, which is what highdicom expects when a single multi-frame image is the source.
        """
        if array.shape[0] != self.volume.shape[0]:
            raise ValueError(f"array has {array.shape[0]} slices, the series {self.volume.shape[0]}")
        if not self.is_multiframe:
            return array
        order = np.argsort(np.asarray(self.frame_numbers))
        return array[order]


def load_series(paths: str | Path | Iterable[str | Path], *, require_sagittal: bool = True) -> LoadedSeries:
    """Load one MR series from a folder (searched recursively) or a list of files.

    Non-DICOM files and DICOMDIRs are skipped. The stack must be one series of MR Image Storage files
    or one Enhanced MR object, with one orientation, one pixel spacing, one matrix size, regular slice
    spacing and no two slices at the same place; otherwise :class:`SeriesLoadError` says which.
    """
    files = _collect_files(paths)
    datasets: list[tuple[Path, Dataset]] = []
    skipped = 0
    for path in files:
        ds = _read(path)
        if ds is None:
            skipped += 1
            continue
        if "SOPClassUID" not in ds or "PixelData" not in ds:
            skipped += 1  # DICOMDIR, presentation states, reports: not image slices
            continue
        datasets.append((path, ds))
    if skipped:
        log.info("skipped %d file(s) that are not DICOM images", skipped)
    if not datasets:
        raise SeriesLoadError(f"no DICOM image files found among {len(files)} file(s)")

    sop_classes = {str(ds.SOPClassUID) for _, ds in datasets}
    unsupported = sop_classes - SUPPORTED_SOP_CLASSES.keys()
    if unsupported:
        raise SeriesLoadError(f"unsupported SOP class(es) {sorted(unsupported)}: only MR Image Storage and Enhanced MR")
    series_uids = {str(ds.get("SeriesInstanceUID", "")) for _, ds in datasets}
    if len(series_uids) > 1:
        raise SeriesLoadError(f"the files belong to {len(series_uids)} different series; give one series")
    if len(sop_classes) > 1:
        raise SeriesLoadError("the series mixes classic MR and Enhanced MR objects")

    if sop_classes == {ENHANCED_MR_IMAGE_STORAGE}:
        if len(datasets) > 1:
            raise SeriesLoadError(
                f"{len(datasets)} Enhanced MR objects in one series; only a single multi-frame object "
                "per series is supported"
            )
        path, ds = datasets[0]
        slices = _enhanced_slices(ds)
        source_paths = (path,)
    else:
        slices = [_classic_slice(ds, i) for i, (_, ds) in enumerate(datasets)]
        source_paths = tuple(p for p, _ in datasets)
    return _assemble(slices, [ds for _, ds in datasets], source_paths, require_sagittal)


def _read(path: Path) -> Dataset | None:
    """A DICOM dataset, or None for anything else.

    Files without the 128-byte preamble and "DICM" (raw datasets, as some older archives store them)
    are read with ``force``; the caller then insists on SOPClassUID and PixelData, which random files
    read with ``force`` do not have.
    """
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception:  # anything unreadable is simply not part of the series
            return None
        if "SOPClassUID" not in ds or "PixelData" not in ds:
            return None
        if "TransferSyntaxUID" not in ds.file_meta:
            # No meta header: the encoding pydicom detected is the transfer syntax (native pixels only).
            implicit, little = ds.original_encoding
            ds.file_meta.TransferSyntaxUID = (
                ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
            )
        return ds
    except (OSError, EOFError, ValueError):
        return None


@dataclass
class _Slice:
    """Geometry and pixels of one 2-D slice, wherever it came from (file or frame)."""

    dataset_index: int
    frame_number: int  # 1-based
    position: NDArray[np.float64]
    row_cosine: NDArray[np.float64]
    col_cosine: NDArray[np.float64]
    pixel_spacing: tuple[float, float]  # (between rows, between columns), PS3.3 C.7.6.2.1.1
    pixels: NDArray[np.float32]


def _collect_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    for entry in paths:
        entry = Path(entry)
        if entry.is_dir():
            files.extend(sorted(p for p in entry.rglob("*") if p.is_file()))
        elif entry.is_file():
            files.append(entry)
        else:
            raise SeriesLoadError(f"{entry} is neither a file nor a folder")
    return files


def _float_list(value: object, n: int, what: str) -> list[float]:
    try:
        values = [float(v) for v in value]  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise SeriesLoadError(f"{what} is missing or not numeric") from exc
    if len(values) != n:
        raise SeriesLoadError(f"{what} needs {n} values, got {len(values)}")
    return values


def _rescale(pixels: NDArray, slope: object, intercept: object) -> NDArray[np.float32]:
    """Apply the Modality LUT (PS3.3 C.11.1): stored value * slope + intercept, as float32."""
    out = pixels.astype(np.float32)
    slope_f = float(slope) if slope not in (None, "") else 1.0
    intercept_f = float(intercept) if intercept not in (None, "") else 0.0
    if slope_f != 1.0:
        out *= np.float32(slope_f)
    if intercept_f != 0.0:
        out += np.float32(intercept_f)
    return out


def _classic_slice(ds: Dataset, index: int) -> _Slice:
    if int(getattr(ds, "NumberOfFrames", 1) or 1) != 1:
        raise SeriesLoadError(f"file #{index} of a classic MR series has more than one frame")
    iop = _float_list(ds.get("ImageOrientationPatient"), 6, f"ImageOrientationPatient of file #{index}")
    ipp = _float_list(ds.get("ImagePositionPatient"), 3, f"ImagePositionPatient of file #{index}")
    spacing = _float_list(ds.get("PixelSpacing"), 2, f"PixelSpacing of file #{index}")
    pixels = _decode(ds, f"file #{index}")
    if pixels.ndim != 2:
        raise SeriesLoadError(f"file #{index} is not a single-channel 2-D image (shape {pixels.shape})")
    return _Slice(
        dataset_index=index,
        frame_number=1,
        position=np.asarray(ipp),
        row_cosine=np.asarray(iop[:3]),
        col_cosine=np.asarray(iop[3:]),
        pixel_spacing=(spacing[0], spacing[1]),
        pixels=_rescale(pixels, ds.get("RescaleSlope"), ds.get("RescaleIntercept")),
    )


def _decode(ds: Dataset, what: str) -> NDArray:
    """Pixel data as an array, or a SeriesLoadError naming the transfer syntax that could not be read."""
    try:
        return ds.pixel_array
    except Exception as exc:  # pydicom raises several types for missing codecs and corrupt data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", str(syntax))
        raise SeriesLoadError(
            f"cannot decode the pixel data of {what} (transfer syntax {name}): {type(exc).__name__}"
        ) from exc


def _functional_group(ds: Dataset, frame_index: int, sequence: str) -> Dataset | None:
    """The item of ``sequence`` that applies to a frame: per-frame first, then shared (PS3.3 C.7.6.16)."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    shared = ds.get("SharedFunctionalGroupsSequence") or []
    candidates = []
    if frame_index < len(per_frame):
        candidates.append(per_frame[frame_index])
    if shared:
        candidates.append(shared[0])
    for group in candidates:
        items = group.get(sequence)
        if items:
            return items[0]
    return None


def _enhanced_slices(ds: Dataset) -> list[_Slice]:
    n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    pixels = _decode(ds, "the Enhanced MR object")
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    if pixels.ndim != 3 or pixels.shape[0] != n_frames:
        raise SeriesLoadError(f"Enhanced MR pixel data has shape {pixels.shape}, expected {n_frames} frames")
    slices = []
    for f in range(n_frames):
        position = _functional_group(ds, f, "PlanePositionSequence")
        orientation = _functional_group(ds, f, "PlaneOrientationSequence")
        measures = _functional_group(ds, f, "PixelMeasuresSequence")
        if position is None or orientation is None or measures is None:
            raise SeriesLoadError(
                f"frame {f + 1} lacks a plane position, plane orientation or pixel measures functional group"
            )
        iop = _float_list(orientation.get("ImageOrientationPatient"), 6, f"orientation of frame {f + 1}")
        ipp = _float_list(position.get("ImagePositionPatient"), 3, f"position of frame {f + 1}")
        spacing = _float_list(measures.get("PixelSpacing"), 2, f"pixel spacing of frame {f + 1}")
        transform = _functional_group(ds, f, "PixelValueTransformationSequence")
        slope = transform.get("RescaleSlope") if transform is not None else None
        intercept = transform.get("RescaleIntercept") if transform is not None else None
        slices.append(
            _Slice(
                dataset_index=0,
                frame_number=f + 1,
                position=np.asarray(ipp),
                row_cosine=np.asarray(iop[:3]),
                col_cosine=np.asarray(iop[3:]),
                pixel_spacing=(spacing[0], spacing[1]),
                pixels=_rescale(pixels[f], slope, intercept),
            )
        )
    return slices


def _orthonormal_frame(row: NDArray, col: NDArray) -> NDArray[np.float64]:
    """Columns (normal, column direction, row direction), made exactly orthonormal.

    Scanners write direction cosines rounded to a few digits; Gram-Schmidt removes the rounding so
    :class:`Volume` accepts the matrix, without moving any axis by more than the rounding itself.
    """
    row = row / np.linalg.norm(row)
    col = col - row * float(row @ col)
    col = col / np.linalg.norm(col)
    normal = np.cross(row, col)
    return np.stack([normal, col, row], axis=1)


def _assemble(
    slices: Sequence[_Slice],
    datasets: Sequence[Dataset],
    paths: tuple[Path, ...],
    require_sagittal: bool,
) -> LoadedSeries:
    first = slices[0]
    for s in slices[1:]:
        if (
            np.max(np.abs(s.row_cosine - first.row_cosine)) > ORIENTATION_TOLERANCE
            or np.max(np.abs(s.col_cosine - first.col_cosine)) > ORIENTATION_TOLERANCE
        ):
            raise SeriesLoadError(
                "slices have different ImageOrientationPatient (more than one stack or a localizer "
                "mixed in); give a single-orientation series"
            )
        if not np.allclose(s.pixel_spacing, first.pixel_spacing, rtol=SPACING_TOLERANCE):
            raise SeriesLoadError(f"slices have different PixelSpacing ({first.pixel_spacing} vs {s.pixel_spacing})")
        if s.pixels.shape != first.pixels.shape:
            raise SeriesLoadError(f"slices have different matrix sizes ({first.pixels.shape} vs {s.pixels.shape})")
    for what, cosine in (("row", first.row_cosine), ("column", first.col_cosine)):
        if abs(np.linalg.norm(cosine) - 1.0) > 0.01:
            raise SeriesLoadError(f"ImageOrientationPatient {what} vector is not a unit vector")
    if abs(float(first.row_cosine @ first.col_cosine)) > 0.01:
        raise SeriesLoadError("ImageOrientationPatient row and column vectors are not orthogonal")

    direction = _orthonormal_frame(first.row_cosine, first.col_cosine)
    normal = direction[:, 0]
    if require_sagittal and abs(normal[0]) < SAGITTAL_MIN_COSINE:
        raise SeriesLoadError(
            f"the stack is not sagittal: its slice normal {np.round(normal, 3).tolist()} (LPS) is more "
            "than 45 degrees from left-right"
        )

    along = np.array([float(s.position @ normal) for s in slices])
    order = np.argsort(along, kind="stable")
    ordered = [slices[i] for i in order]
    along = along[order]
    if len(ordered) > 1:
        steps = np.diff(along)
        if np.any(steps < 1e-3):
            raise SeriesLoadError(
                "two or more slices share one position (several echoes, contrasts or repeats in one "
                "series); give a series with one image per position"
            )
        step = float((along[-1] - along[0]) / (len(along) - 1))  # least affected by rounding
        if np.any(np.abs(steps - step) > max(SPACING_TOLERANCE * step, 0.01)):
            raise SeriesLoadError(
                f"irregular slice spacing (steps from {steps.min():.3f} to {steps.max():.3f} mm; missing "
                "or extra slices?)"
            )
        # Positions must lie on one line along the normal; a sideways drift means a sheared stack.
        offsets = np.array([s.position - ordered[0].position for s in ordered])
        in_plane = offsets - np.outer(offsets @ normal, normal)
        if np.max(np.linalg.norm(in_plane, axis=1)) > max(0.05 * step, 0.05):
            raise SeriesLoadError("slice positions do not lie along the slice normal (sheared stack)")
    else:
        step = _single_slice_thickness(datasets[ordered[0].dataset_index])

    array = np.stack([s.pixels for s in ordered]).astype(np.float32, copy=False)
    reference = datasets[0]
    volume = Volume(
        array=array,
        spacing=(step, first.pixel_spacing[0], first.pixel_spacing[1]),
        direction=direction,
        origin=ordered[0].position,
        contrast=contrast_hint(reference),
        metadata=_metadata(reference),
    )
    if len(datasets) == 1:
        source_datasets = (datasets[0],)
        source_paths = paths
    else:
        source_datasets = tuple(datasets[s.dataset_index] for s in ordered)
        source_paths = tuple(paths[s.dataset_index] for s in ordered) if paths else ()
    return LoadedSeries(
        volume=volume,
        datasets=source_datasets,
        dataset_index=tuple(range(len(ordered))) if len(datasets) > 1 else (0,) * len(ordered),
        frame_numbers=tuple(s.frame_number for s in ordered),
        paths=source_paths,
    )


def _single_slice_thickness(ds: Dataset) -> float:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = ds.get(keyword)
        if value not in (None, "") and float(value) > 0:
            return float(value)
    return 1.0


# Lookarounds rather than \b because scanners join words with underscores ("t2_tse_sag").
_T2 = re.compile(r"(?<![a-z0-9])t2(?![0-9*])", re.IGNORECASE)
_T1 = re.compile(r"(?<![a-z0-9])t1(?![0-9])", re.IGNORECASE)
_STIR = re.compile(r"stir|tirm", re.IGNORECASE)


def contrast_hint(ds: Dataset) -> str | None:
    """Guess the contrast ("T2", "T1" or "STIR") from descriptions, then from sequence timing.

    Why a guess at all: grading needs to know what the image can support (Modic typing needs T1 and
    T2); a wrong hint only makes a grade "not assessed", so the rules are conservative and return None
    when the headers do not say.
    """
    text = " ".join(str(ds.get(k, "") or "") for k in ("SeriesDescription", "ProtocolName", "SequenceName"))
    if _STIR.search(text):
        return "STIR"
    if _T2.search(text):
        return "T2"
    if _T1.search(text):
        return "T1"
    tr = _timing(ds, "RepetitionTime")
    te = _timing(ds, "EchoTime")
    ti = _timing(ds, "InversionTime")
    if ti is not None and 80 <= ti <= 250:
        return "STIR"
    if tr is not None and te is not None:
        if te >= 60 and tr >= 1500:
            return "T2"
        if te <= 30 and tr <= 1000:
            return "T1"
    return None


def _timing(ds: Dataset, keyword: str) -> float | None:
    """A timing parameter from the top level or the Enhanced MR timing functional group."""
    value = ds.get(keyword)
    if value in (None, ""):
        for group_keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
            groups = ds.get(group_keyword)
            if not groups:
                continue
            for seq in ("MRTimingAndRelatedParametersSequence", "MREchoSequence"):
                if seq in groups[0] and groups[0][seq].value:
                    item = groups[0][seq].value[0]
                    name = "EffectiveEchoTime" if keyword == "EchoTime" else keyword
                    if item.get(name) not in (None, ""):
                        value = item.get(name)
                        break
            if value not in (None, ""):
                break
    try:
        return float(value) if value not in (None, "") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _metadata(ds: Dataset) -> dict[str, str]:
    """Non-identifying hints for QC messages; no patient, institution or operator attributes."""
    out: dict[str, str] = {}
    for keyword in ("SeriesDescription", "ProtocolName", "Manufacturer", "MagneticFieldStrength", "Modality"):
        value = ds.get(keyword)
        if value not in (None, ""):
            out[keyword] = str(value)
    return out
