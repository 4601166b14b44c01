"""Label values and level names shared by the generator, the model, the builders and the grading.

The vertebra numbering follows the VerSe convention (C1..C7 = 1..7, T1..T12 = 8..19, L1..L5 = 20..24,
L6 = 25, sacrum = 26, coccyx = 27, T13 = 28), which is also the numbering of the real cases in
``shared/data/real-lumbar-t2``. A disc takes ``DISC_OFFSET`` plus the label of the vertebra above it,
so ``L4/L5`` is 123 and ``L5/S1`` is 124 (or 125 for ``L6/S1``). Every value fits a uint8 label map.
"""

from __future__ import annotations

VERTEBRA_NAMES: dict[int, str] = {
    **{i: f"C{i}" for i in range(1, 8)},
    **{7 + i: f"T{i}" for i in range(1, 13)},
    **{19 + i: f"L{i}" for i in range(1, 6)},
    25: "L6",
    26: "S1",  # the sacrum; its top is the S1 endplate, so discs below L5 are named "L5/S1"
    27: "Co",
    28: "T13",
}
VERTEBRA_LABELS: dict[str, int] = {name: label for label, name in VERTEBRA_NAMES.items()}
SACRUM = 26
COCCYX = 27
DISC_OFFSET = 100
CANAL = 201
CORD = 202

# Cranio-caudal order of the vertebrae, transitional variants in place.
SPINE_ORDER: tuple[str, ...] = (
    "C1", "C2", "C3", "C4", "C5", "C6", "C7",
    "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "T13",
    "L1", "L2", "L3", "L4", "L5", "L6", "S1", "Co",
)

# Without transitional anatomy the vertebra below T12 is L1 and below L5 the sacrum. Analyses that find
# a T13 or L6 name their discs themselves; this table only serves ``label_name``'s default.
_TYPICAL_NEXT = {"T12": "L1", "T13": "L1", "L5": "S1", "L6": "S1"}


def is_vertebra(label: int) -> bool:
    """True for a vertebra label (sacrum and coccyx included)."""
    return label in VERTEBRA_NAMES


def is_disc(label: int) -> bool:
    """True for a disc label (``DISC_OFFSET`` + the label of the vertebra above)."""
    return label - DISC_OFFSET in VERTEBRA_NAMES and label - DISC_OFFSET not in (SACRUM, COCCYX)


def disc_label(upper_vertebra: str) -> int:
    """Label value of the disc below ``upper_vertebra`` (``"L4"`` -> 123)."""
    return DISC_OFFSET + VERTEBRA_LABELS[upper_vertebra]


def disc_name(upper: str, lower: str) -> str:
    """Level name of a disc between two vertebrae, as written in reports: ``"L4/L5"``."""
    return f"{upper}/{lower}"


def label_name(label: int) -> str:
    """Human name of any label value, used in logs and segment labels."""
    if label in VERTEBRA_NAMES:
        return "sacrum" if label == SACRUM else VERTEBRA_NAMES[label]
    if label == CANAL:
        return "spinal canal"
    if label == CORD:
        return "spinal cord"
    if label == RIB:
        return "rib"
    if is_disc(label):
        upper = VERTEBRA_NAMES[label - DISC_OFFSET]
        return disc_name(upper, _TYPICAL_NEXT.get(upper) or SPINE_ORDER[SPINE_ORDER.index(upper) + 1])
    raise ValueError(f"unknown label value {label}")

POSTERIOR_ELEMENTS = 203
"""Pedicles, laminae, articular and spinous processes of all vertebrae (one label; the generator's label
maps use it, the analysis may ignore it)."""

RIB = 204
"""Ribs (both sides, every thoracic vertebra; one label). Only in the generator's maps when its ``ribs``
option is on: what tells T12 from L1 where neither C2 nor the sacrum settles the count."""
