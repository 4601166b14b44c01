"""A picture every viewer shows: Secondary Capture images with outlines, level names and grades.

Many PACS viewers display neither SEG nor SR content, so the findings are also burned into RGB
Secondary Capture images (PS3.3 A.8.1): the mid-sagittal slice and its two neighbours, each with
coloured outlines of every structure, its level name beside it, the per-level grade table and
"Not for primary diagnosis" across the top. An optional Grayscale Softcopy Presentation State
(PS3.3 A.33.1) carries the same level names as text annotations on the source images themselves.

The slice is shown the way radiologists read a sagittal spine whatever the scanner wrote: head up,
anterior to the left. Only the patient's anatomy decides, through the direction cosines, never the
array order. Vertebra names sit anterior to (left of) each body, disc names posterior to (right of)
the canal, so no label covers the structure it names.

The font is Pillow's bundled default (Aileron Regular, released under the SIL Open Font Licence via
Pillow's HPND-licensed distribution), so no font file needs shipping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from scipy import ndimage

from dicomnode.results import codes as dn_codes
from dicomnode.results.common import common_kwargs, restore_character_set, set_body_part
from dicomnode.results.seg import SegmentInfo
from dicomnode.results.settings import SHORT_DISCLAIMER, ResultSettings
from dicomnode.results.uids import UidFactory
from dicomnode.series_loader import LoadedSeries
from pipeline import labels
from pipeline.result import LevelFindings, SpineAnalysis

BANNER = "NOT FOR PRIMARY DIAGNOSIS - AI output for research / decision support"
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Level", "level"),
    ("Pfirr", "pfirrmann"),
    ("Narrow", "narrowing"),
    ("Listh", "listhesis"),
    ("Canal", "canal_stenosis"),
    ("Hern", "herniation"),
    ("Modic", "modic"),
    ("Endpl", "endplate_defect"),
)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@dataclass(frozen=True)
class SliceView:
    """How one source slice (rows j, columns i) is turned to "head up, anterior left" for display."""

    transpose: bool
    flip_vertical: bool
    flip_horizontal: bool
    rows: int
    cols: int
    spacing_vertical: float
    spacing_horizontal: float

    @classmethod
    def for_volume(
        cls, direction: NDArray[np.float64], shape: tuple[int, int, int], spacing: tuple[float, float, float]
    ) -> SliceView:
        """Pick the in-plane axis closest to head-foot as vertical (LPS: +z is superior, +y posterior)."""
        col_dir, row_dir = direction[:, 1], direction[:, 2]  # down a column (index j), along a row (i)
        transpose = abs(row_dir[2]) > abs(col_dir[2])
        vertical, horizontal = (row_dir, col_dir) if transpose else (col_dir, row_dir)
        return cls(
            transpose=transpose,
            flip_vertical=bool(vertical[2] > 0),  # going down the picture must go toward the feet
            flip_horizontal=bool(horizontal[1] < 0),  # going right must go posterior
            rows=shape[1],
            cols=shape[2],
            spacing_vertical=spacing[2] if transpose else spacing[1],
            spacing_horizontal=spacing[1] if transpose else spacing[2],
        )

    @property
    def display_shape(self) -> tuple[int, int]:
        return (self.cols, self.rows) if self.transpose else (self.rows, self.cols)

    def image(self, plane: NDArray) -> NDArray:
        out = plane.T if self.transpose else plane
        if self.flip_vertical:
            out = out[::-1]
        if self.flip_horizontal:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)

    def point(self, j: float, i: float) -> tuple[float, float]:
        """Display (y, x) of source pixel (row j, column i), in unscaled display pixels."""
        v, h = (i, j) if self.transpose else (j, i)
        height, width = self.display_shape
        if self.flip_vertical:
            v = height - 1 - v
        if self.flip_horizontal:
            h = width - 1 - h
        return v, h

    def source_point(self, y: float, x: float) -> tuple[float, float]:
        """Inverse of :meth:`point`: source (row j, column i) of display (y, x)."""
        height, width = self.display_shape
        v = height - 1 - y if self.flip_vertical else y
        h = width - 1 - x if self.flip_horizontal else x
        return (h, v) if self.transpose else (v, h)


def choose_slices(label_map: NDArray[np.integer], count: int) -> list[int]:
    """The mid-sagittal slice (most spine voxels; the canal counts double) and its neighbours.

    Why not the geometric middle: patients lie off-centre and scoliosis moves the canal; the slice
    through the canal is the one a reader wants.
    """
    n = label_map.shape[0]
    flat = label_map.reshape(n, -1)
    spine = (flat > 0).sum(axis=1) + (flat == labels.CANAL).sum(axis=1)
    if spine.max() == 0:
        mid = n // 2
    else:
        best = np.flatnonzero(spine == spine.max())
        mid = int(best[np.argmin(np.abs(best - (n - 1) / 2))])
    if count == 1 or n == 1:
        return [mid]
    neighbours = [k for k in (mid - 1, mid + 1) if 0 <= k < n]
    if len(neighbours) < 2:
        neighbours += [k for k in (mid - 2, mid + 2) if 0 <= k < n][: 2 - len(neighbours)]
    return [mid, *sorted(neighbours)]


def _window(volume: NDArray[np.floating], label_map: NDArray[np.integer]) -> tuple[float, float]:
    """Grey window from the spine's own intensities, so one bright fat pad cannot darken the picture."""
    values = volume[label_map > 0] if np.any(label_map > 0) else volume.ravel()
    low, high = np.percentile(values, [0.5, 99.5])
    background_low = float(np.percentile(volume, 1))
    low = min(float(low), background_low)
    if high <= low:
        high = low + 1.0
    return low, float(high)


def _grade_cell(level: LevelFindings, key: str) -> str:
    def text(name: str) -> str | None:
        grade = level.grade(name)
        if grade is None:
            return None
        return dn_codes.grade_short_text(name, grade.value)

    if key == "level":
        return level.level
    if key == "listhesis":
        grade, direction = text("meyerding"), text("listhesis_direction")
        if grade is None:
            return "-"
        if direction and direction not in ("none", "n/a") and grade not in ("0", "n/a"):
            return f"{grade} {direction}"
        return grade
    if key in ("modic", "endplate_defect"):
        # Upper/lower endplate of the level in one cell, as the SR reports them.
        upper, lower = text(f"{key}_upper"), text(f"{key}_lower")
        if upper is None and lower is None:
            return "-"
        if upper == lower == "n/a":
            return "n/a"
        return f"{upper or '-'}/{lower or '-'}"
    return text(key) or "-"


@dataclass(frozen=True)
class _Label:
    text: str
    y: float
    x_anchor: float
    side: str  # "left" (anterior) or "right" (posterior)
    rgb: tuple[int, int, int]


def _slice_labels(
    plane_labels: NDArray[np.integer],
    projection: NDArray[np.integer],
    segments: list[SegmentInfo],
) -> list[tuple[SegmentInfo, float, float, float, float]]:
    """Per structure: (segment, centre row, centre column, anterior and posterior edge at that row).

    Uses the structure's pixels on this slice, or -- if it misses the slice -- its projection through
    the stack, so every level still gets its name. The edges are taken on the rows around the centre
    (a tilted sacrum's leftmost point is far above its centre), in display columns (anterior = small).
    """
    out = []
    for seg in segments:
        if seg.kind not in ("vertebra", "disc"):
            continue
        mask = plane_labels == seg.label
        if not mask.any():
            mask = projection == seg.label
        if not mask.any():
            continue
        ys, xs = np.nonzero(mask)
        cy, cx = float(ys.mean()), float(xs.mean())
        row = round(cy)
        near = np.nonzero(mask[max(0, row - 1) : row + 2])[1]
        if near.size == 0:
            near = xs
        out.append((seg, cy, cx, float(near.min()), float(near.max())))
    return out


def render_slice(
    volume_array: NDArray[np.floating],
    label_map: NDArray[np.integer],
    k: int,
    view: SliceView,
    segments: list[SegmentInfo],
    analysis: SpineAnalysis,
    window: tuple[float, float],
    height: int,
    caption: str,
) -> NDArray[np.uint8]:
    """Draw one annotated slice with the grade table; returns an RGB array (height, width, 3)."""
    header, footer = max(26, height // 18), max(22, height // 22)
    big, small = _font(max(14, height // 30)), _font(max(12, height // 38))
    grey = view.image(volume_array[k].astype(np.float32))
    plane = view.image(label_map[k])
    projection = view.image(_projection(label_map))
    canal_any = view.image(np.isin(label_map, (labels.CANAL, labels.CORD)).any(axis=0))

    panel_h = height - header - footer
    disp_h, disp_w = view.display_shape
    mm_h, mm_w = disp_h * view.spacing_vertical, disp_w * view.spacing_horizontal
    scale = min(panel_h / mm_h, (1.1 * height) / mm_w)  # pixels per mm
    out_h, out_w = max(1, round(mm_h * scale)), max(1, round(mm_w * scale))
    sy, sx = out_h / disp_h, out_w / disp_w

    low, high = window
    grey8 = np.clip((grey - low) / (high - low) * 255.0, 0, 255).astype(np.uint8)
    image = Image.fromarray(grey8).resize((out_w, out_h), Image.Resampling.BILINEAR).convert("RGB")
    labels_big = np.asarray(Image.fromarray(plane.astype(np.uint8)).resize((out_w, out_h), Image.Resampling.NEAREST))
    rgb = np.asarray(image).copy()
    thickness = max(1, round(height / 300))
    for seg in segments:
        mask = labels_big == seg.label
        if not mask.any():
            continue
        edge = mask & ~ndimage.binary_erosion(mask, iterations=thickness, border_value=0)
        rgb[edge] = seg_rgb(seg)

    margin_left = 70 * height // 512  # room for vertebra names anterior of the image
    table_w = _table_width(big, small, analysis)
    width = margin_left + out_w + 80 * height // 512 + table_w + 10
    canvas = Image.new("RGB", (width, height), (0, 0, 0))
    canvas.paste(Image.fromarray(rgb), (margin_left, header))
    draw = ImageDraw.Draw(canvas)

    # Banner and footer: the disclaimer is part of the pixels, so no viewer can hide it.
    draw.rectangle((0, 0, width, header - 4), fill=(150, 0, 0))
    draw.text((width / 2, (header - 4) / 2), BANNER, font=big, fill=(255, 255, 255), anchor="mm")
    draw.text((6, height - footer / 2), caption, font=small, fill=(200, 200, 200), anchor="lm")

    placed = _slice_labels(plane, projection, segments)
    for kind, font, side in (("vertebra", big, "left"), ("disc", small, "right")):
        items = [p for p in placed if p[0].kind == kind]
        targets = [header + (cy + 0.5) * sy for _, cy, _, _, _ in items]
        line_h = (font.size if hasattr(font, "size") else 14) + 2
        if items and len(items) * line_h > panel_h:  # whole spine: shrink rather than overflow
            line_h = max(11.0, panel_h / len(items))
            font = _font(int(line_h) - 1)
        ys = spread_labels(targets, line_h, header + line_h / 2, height - footer - line_h / 2)
        for (seg, cy, cx, x_min, x_max), target, y in zip(items, targets, ys, strict=True):
            colour = seg_rgb(seg)
            if side == "left":  # vertebra names anterior of the body
                edge = margin_left + x_min * sx
                x = max(edge - 8, 2 + font.getlength(seg.name))
                anchor = "rm"
            else:  # disc names behind the canal at this height
                edge = margin_left + (_posterior_edge(canal_any, cy, cx, x_max) + 1) * sx
                x = min(edge + 8, margin_left + out_w + 4)
                anchor = "lm"
            if abs(y - target) > 2:  # moved to avoid a neighbour: a leader line shows where it belongs
                tip = x + 2 if side == "left" else x - 2
                draw.line((tip, y, edge, target), fill=colour, width=1)
            draw.text((x, y), seg.name, font=font, fill=colour, anchor=anchor, stroke_width=2, stroke_fill=(0, 0, 0))

    _draw_table(
        draw,
        analysis,
        x0=margin_left + out_w + 80 * height // 512,
        y0=header + 6,
        big=big,
        small=small,
        height=height - footer,
    )
    return np.asarray(canvas)


def spread_labels(targets: list[float], spacing: float, low: float, high: float) -> list[float]:
    """Label rows as close as possible to ``targets`` but at least ``spacing`` apart, within bounds.

    Clusters of colliding labels are centred on their targets' mean and grown until no two clusters
    overlap (the pool-adjacent-violators idea), so a crowded cervical spine fans out evenly instead of
    pushing every label below it downwards.
    """
    if not targets:
        return []
    order = sorted(range(len(targets)), key=lambda i: targets[i])
    clusters: list[list[int]] = []
    for index in order:
        clusters.append([index])
        while len(clusters) > 1:
            previous, current = clusters[-2], clusters[-1]
            prev_end = _cluster_start(previous, targets, spacing) + (len(previous) - 1) * spacing
            if _cluster_start(current, targets, spacing) - prev_end >= spacing:
                break
            clusters[-2:] = [previous + current]
    out = [0.0] * len(targets)
    for cluster in clusters:
        start = _cluster_start(cluster, targets, spacing)
        for position, index in enumerate(cluster):
            out[index] = start + position * spacing
    # Keep inside the panel: push down from the top edge, then up from the bottom edge.
    ranked = sorted(range(len(out)), key=lambda i: out[i])
    floor = low
    for index in ranked:
        out[index] = max(out[index], floor)
        floor = out[index] + spacing
    ceiling = high
    for index in reversed(ranked):
        out[index] = min(out[index], ceiling)
        ceiling = out[index] - spacing
    return out


def _cluster_start(cluster: list[int], targets: list[float], spacing: float) -> float:
    centre = sum(targets[i] for i in cluster) / len(cluster)
    return centre - (len(cluster) - 1) * spacing / 2


def seg_rgb(seg: SegmentInfo) -> tuple[int, int, int]:
    return dn_codes.structure_rgb(seg.label)


def _projection(label_map: NDArray[np.integer]) -> NDArray[np.integer]:
    """Any-label projection through the stack (the first nonzero label along the slice axis)."""
    nonzero = label_map > 0
    first = np.argmax(nonzero, axis=0)
    proj = np.take_along_axis(label_map, first[np.newaxis], axis=0)[0]
    return np.where(nonzero.any(axis=0), proj, 0)


def _posterior_edge(canal: NDArray[np.bool_], cy: float, cx: float, x_max: float) -> float:
    """Display column just behind the canal (any slice) at row ``cy``, or the disc's own edge."""
    row = canal[min(max(round(cy), 0), canal.shape[0] - 1)]
    columns = np.flatnonzero(row)
    columns = columns[columns > cx]
    return float(max(columns.max(), x_max)) if columns.size else x_max


def _table_width(big, small, analysis: SpineAnalysis) -> int:
    widths = []
    for title, key in TABLE_COLUMNS:
        cells = [title] + [_grade_cell(level, key) for level in analysis.levels]
        widths.append(max(small.getlength(c) for c in cells) + 10)
    return int(max(sum(widths), big.getlength("Grades per level") + 10))


def _draw_table(draw: ImageDraw.ImageDraw, analysis: SpineAnalysis, x0: int, y0: int, big, small, height: int) -> None:
    draw.text((x0, y0), "Grades per level", font=big, fill=(255, 255, 255), anchor="la")
    row_h = int(small.size * 1.45) if hasattr(small, "size") else 18
    y = y0 + int(row_h * 1.6)
    widths = []
    for title, key in TABLE_COLUMNS:
        cells = [title] + [_grade_cell(level, key) for level in analysis.levels]
        widths.append(int(max(small.getlength(c) for c in cells) + 10))
    x = x0
    for (title, _), w in zip(TABLE_COLUMNS, widths, strict=True):
        draw.text((x, y), title, font=small, fill=(255, 255, 160), anchor="la")
        x += w
    y += row_h
    for level in analysis.levels:
        if y + row_h > height - 2 * row_h:
            draw.text((x0, y), f"... {len(analysis.levels)} levels, see SR", font=small, fill=(255, 255, 255))
            y += row_h
            break
        x = x0
        colour = dn_codes.structure_rgb(level.disc_label)
        for (_, key), w in zip(TABLE_COLUMNS, widths, strict=True):
            cell = _grade_cell(level, key)
            fill = colour if key == "level" else (150, 150, 150) if cell in ("n/a", "-") else (255, 255, 255)
            draw.text((x, y), cell, font=small, fill=fill, anchor="la")
            x += w
        y += row_h
    y += row_h // 2
    draw.text((x0, y), "n/a = not assessed   - = not reported", font=small, fill=(170, 170, 170))
    naming_colour = (170, 170, 170) if analysis.qc.naming_certain else (255, 80, 80)
    for line in _wrap(analysis.qc.naming_statement, small, _table_width(big, small, analysis)):
        y += row_h
        draw.text((x0, y), line, font=small, fill=naming_colour)


def _wrap(text: str, font, width: float) -> list[str]:
    """Greedy word wrap to a pixel width, so a long QC sentence stays inside the picture."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def build_pictures(
    loaded: LoadedSeries,
    analysis: SpineAnalysis,
    segments: list[SegmentInfo],
    uids: UidFactory,
    settings: ResultSettings,
    created: datetime | None = None,
) -> list[hd.sc.SCImage]:
    """The Secondary Capture series: one annotated image per chosen slice, mid-sagittal first."""
    volume = loaded.volume
    view = SliceView.for_volume(volume.direction, volume.shape, volume.spacing)
    window = _window(volume.array, analysis.label_map)
    slices = choose_slices(analysis.label_map, settings.picture_slices)
    series_uid = uids.uid("picture.series")
    kwargs = common_kwargs(loaded.reference, settings, created)
    images = []
    for number, k in enumerate(slices, start=1):
        # Say the side in patient terms: the array's slice axis runs L->R or R->L depending on the scanner.
        towards_left = (k - slices[0]) * volume.spacing[0] * volume.direction[0, 0]  # LPS +x is patient left
        side = "left" if towards_left > 0 else "right"
        where = "mid-sagittal" if number == 1 else f"{abs(towards_left):.1f} mm to the patient's {side}"
        caption = (
            f"Source image {_source_number(loaded, k)} ({where}) | {analysis.algorithm_name} "
            f"{analysis.algorithm_version} | anterior left, head up"
        )
        rgb = render_slice(
            volume.array,
            analysis.label_map,
            k,
            view,
            segments,
            analysis,
            window,
            settings.picture_size,
            caption,
        )
        image = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=loaded.reference,
            pixel_array=rgb,
            photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
            bits_allocated=8,
            coordinate_system=hd.CoordinateSystemNames.PATIENT,
            series_instance_uid=series_uid,
            series_number=settings.picture_series_number,
            sop_instance_uid=uids.uid(f"picture.instance.{number}"),
            instance_number=number,
            manufacturer=settings.manufacturer,
            patient_orientation=("P", "F"),
            series_description=settings.picture_series_description,
            **{k: v for k, v in kwargs.items() if k not in ("specific_character_set",)},
        )
        set_body_part(image, loaded.reference)
        image.BurnedInAnnotation = "NO"  # burned-in text carries no patient identity (PS3.3 C.7.6.1.1.7)
        image.ImageComments = "AI output for research / decision support. Not for primary diagnosis."
        _reference_source(image, loaded, k)
        restore_character_set(image, loaded.reference)
        images.append(image)
    return images


def _source_number(loaded: LoadedSeries, k: int) -> str:
    """How the reader finds the slice in the viewer: its InstanceNumber, or frame number if multi-frame."""
    if loaded.is_multiframe:
        return f"frame {loaded.frame_numbers[k]}"
    return f"#{loaded.datasets[loaded.dataset_index[k]].get('InstanceNumber', k + 1)}"


def _reference_source(image: Dataset, loaded: LoadedSeries, k: int) -> None:
    """Source Image Sequence (PS3.3 C.7.6.1.1): which MR slice this picture was made from."""
    source = loaded.datasets[loaded.dataset_index[k]]
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    if loaded.is_multiframe:
        item.ReferencedFrameNumber = loaded.frame_numbers[k]
    image.SourceImageSequence = [item]
    image.DerivationDescription = "Annotated slice of the source MR series with AI segmentation outlines"


def build_presentation_state(
    loaded: LoadedSeries,
    analysis: SpineAnalysis,
    segments: list[SegmentInfo],
    uids: UidFactory,
    settings: ResultSettings,
    created: datetime | None = None,
) -> hd.pr.GrayscaleSoftcopyPresentationState:
    """A GSPS putting the level names as text on the mid-sagittal source slice and its neighbours."""
    volume = loaded.volume
    slices = choose_slices(analysis.label_map, settings.picture_slices)
    layer = hd.pr.GraphicLayer(layer_name="SPINE_LEVELS", order=1, description="AI level names")
    annotations = []
    projection_src = _projection(analysis.label_map)
    for k in slices:
        plane = analysis.label_map[k]
        source = loaded.datasets[loaded.dataset_index[k]]
        texts = []
        for seg in segments:
            if seg.kind not in ("vertebra", "disc"):
                continue
            mask = plane == seg.label
            if not mask.any():
                mask = projection_src == seg.label
            if not mask.any():
                continue
            js, is_ = np.nonzero(mask)
            # Anchor on the structure's centre: PIXEL units are (column, row), 1-based (PS3.3 C.10.5).
            anchor = (float(is_.mean()) + 1.0, float(js.mean()) + 1.0)
            texts.append(
                hd.pr.TextObject(
                    text_value=seg.name,
                    units=hd.pr.AnnotationUnitsValues.PIXEL,
                    anchor_point=anchor,
                    anchor_point_visible=True,
                    bounding_box=None,
                    tracking_id=seg.tracking_id,
                    tracking_uid=uids.uid(f"gsps.text.{k}.{seg.label}"),
                )
            )
        if not texts:
            continue
        annotations.append(
            hd.pr.GraphicAnnotation(
                referenced_images=[source],
                graphic_layer=layer,
                referenced_frame_number=loaded.frame_numbers[k] if loaded.is_multiframe else None,
                text_objects=texts,
            )
        )
    kwargs = common_kwargs(loaded.reference, settings, created)
    low, high = _window(volume.array, analysis.label_map)
    if loaded.is_multiframe:
        kwargs["modality_lut_transformation"] = _multiframe_modality_lut(loaded.reference)
    gsps = hd.pr.GrayscaleSoftcopyPresentationState(
        referenced_images=list(loaded.datasets),
        series_instance_uid=uids.uid("gsps.series"),
        series_number=settings.gsps_series_number,
        sop_instance_uid=uids.uid("gsps.instance"),
        instance_number=1,
        manufacturer=settings.manufacturer,
        manufacturer_model_name=analysis.algorithm_name[:64],
        software_versions=analysis.algorithm_version[:64],
        device_serial_number=settings.device_serial_number,
        content_label="SPINE_LEVELS",
        content_description=SHORT_DISCLAIMER,
        graphic_annotations=annotations,
        graphic_layers=[layer],
        voi_lut_transformations=[
            hd.pr.SoftcopyVOILUTTransformation(window_center=(low + high) / 2, window_width=max(high - low, 1.0))
        ],
        series_description=settings.gsps_series_description,
        **{k: v for k, v in kwargs.items() if k not in ("content_date", "content_time")},
    )
    set_body_part(gsps, loaded.reference)
    restore_character_set(gsps, loaded.reference)
    return gsps


def _multiframe_modality_lut(ds: Dataset) -> hd.ModalityLUTTransformation:
    """The one rescale of an Enhanced MR object, for the GSPS Modality LUT (PS3.3 C.11.1).

    A presentation state applies one Modality LUT to every frame; highdicom only looks in the shared
    functional groups, while many scanners repeat an identical rescale per frame. Differing per-frame
    rescales cannot be expressed, so that case raises and the caller leaves the GSPS out.
    """
    pairs = set()
    groups = ds.get("PerFrameFunctionalGroupsSequence") or []
    shared = (ds.get("SharedFunctionalGroupsSequence") or [Dataset()])[0]
    for frame in groups or [Dataset()]:
        item = frame if "PixelValueTransformationSequence" in frame else shared
        seq = item.get("PixelValueTransformationSequence")
        if seq:
            pairs.add(
                (
                    float(seq[0].get("RescaleSlope", 1.0)),
                    float(seq[0].get("RescaleIntercept", 0.0)),
                    str(seq[0].get("RescaleType", "US") or "US"),
                )
            )
        else:
            pairs.add((1.0, 0.0, "US"))
    if len(pairs) != 1:
        raise ValueError("frames have different rescale slopes/intercepts; a GSPS cannot describe them")
    slope, intercept, rescale_type = pairs.pop()
    return hd.ModalityLUTTransformation(rescale_intercept=intercept, rescale_slope=slope, rescale_type=rescale_type)
