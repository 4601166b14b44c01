"""Stage 4: give each vertebra and disc its level name, and say whether the naming can be trusted.

Why anchors and counting, not a per-vertebra classifier: apart from C2 (dens) and the sacrum, one
lumbar or thoracic body looks like its neighbours; any name is a count from a vertebra that can be
told apart. So the rules are:

* sacrum in view: the vertebra sitting on it is the last lumbar one (L5, or L6 when a count from C2
  in the same view says there are six lumbar vertebrae);
* C2 in view: count downwards from it (C3, C4, ...); C1 is whatever lies above it, or the network's own
  C1 class (the atlas ring, which has no body and takes no part in any count);
* both in view: the count between them must match 22 vertebrae (C3..L5); 23 means a transitional
  vertebra, named L6 but flagged uncertain (a T13 looks the same without ribs), 21 a sacralised L5
  fused into the sacrum; any other count means a vertebra was missed or doubled (uncertain);
* sacrum only: counted upwards assuming five lumbar vertebrae, the clinical convention; an L6, a T13 or
  a sacralised L5 cannot be seen from a lumbar view (about one spine in ten has one), so these names
  are *conventional*, never *certain*;
* C2 only: counted downwards from C2, also conventional: nothing in view confirms that the body taken
  for C2 is C2, or that no body was missed at the edge of the image;
* neither in view (a mid-thoracic field of view): names are a best guess from the one thing left,
  the position of the lowest vertebra in the image, and always flagged uncertain;
* a gap between two neighbours much larger (a missed vertebra) or smaller (a doubled one) than the
  typical spacing makes the naming uncertain too, because every name past that gap could be off by one;
* a gap about two or three spacings wide is counted as one or two vertebrae the segmentation missed,
  so the names past it skip their levels instead of all moving up by one (the network misses a small
  cervical body, or leaves C3 inside the C2 component, far more often than a spine has a real gap).

So "certain" means one thing only: two independent anchors agree on the count (C2 and the sacrum with
exactly 22 mobile vertebrae between them, evenly spaced, and the sacrum where it should be below the last
one). The issue's rule is that the naming is never
wrong when it says it is certain; a single anchor cannot promise that, because transitional anatomy is
common. :attr:`Naming.basis` says what the names rest on, so a reader sees "counted from the sacrum"
rather than a bare "uncertain".

The input is plain data (kinds, centres, heights) so the rules are tested on hand-made lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from pipeline.labels import SPINE_ORDER

#: The ordinary presacral sequence, C1..L5 (no transitional vertebra).
_PRESACRAL: tuple[str, ...] = tuple(n for n in SPINE_ORDER if n not in ("T13", "L6", "S1", "Co"))
_EXPECTED_BETWEEN_C2_AND_SACRUM = _PRESACRAL.index("L5") - _PRESACRAL.index("C2")  # C3..L5 = 22


@dataclass
class Naming:
    """Names for an ordered list of vertebra candidates (head to feet)."""

    names: list[str]
    """One name per candidate; ``"S1"`` is the sacrum."""
    certain: bool
    anchors: tuple[str, ...]
    region: str
    warnings: list[str] = field(default_factory=list)
    transitional: str | None = None
    """``"L6"`` or ``"sacralised L5"`` when the count found one."""
    basis: str = "none"
    """What the names rest on: ``"C2 and sacrum"``, ``"sacrum"``, ``"sacrum and ribs"``, ``"C2"`` or ``"none"``."""
    ribs: dict[str, bool] = field(default_factory=dict)
    """Per named vertebra, whether a rib was seen on it (only those the rib evidence judged)."""

    def disc_between(self, upper: int, lower: int) -> tuple[str, str]:
        """Names of the vertebrae around the disc below candidate ``upper`` (``-1`` = above the first)."""
        n = len(self.names)
        up = self.names[upper] if 0 <= upper < n else _neighbour(self.names[0], -1) if n else "?"
        low = self.names[lower] if 0 <= lower < n else _neighbour(self.names[-1], +1) if n else "?"
        return up, low


def _neighbour(name: str, step: int) -> str:
    """The vertebra ``step`` places away along the ordinary sequence (``"L5"``, +1 -> ``"S1"``)."""
    seq = (*_PRESACRAL, "S1")
    if name in ("L6", "T13"):
        seq = (*_PRESACRAL[: _PRESACRAL.index("L5") + 1], "L6", "S1") if name == "L6" else seq
    if name not in seq:
        return "?"
    i = seq.index(name) + step
    return seq[i] if 0 <= i < len(seq) else "?"


def _spacing_irregular(centers: NDArray[np.float64]) -> list[str]:
    """Messages for gaps far from the typical centre-to-centre distance (missed or doubled vertebra)."""
    if len(centers) < 3:
        return []
    d = np.linalg.norm(np.diff(centers, axis=0), axis=1)
    problems: list[str] = []
    # Compare each gap with its neighbours' (vertebrae grow from C3 to L5, so a global median is unfair).
    for i, gap in enumerate(d):
        neigh = np.concatenate([d[max(0, i - 2) : i], d[i + 1 : i + 3]])
        if len(neigh) == 0:
            continue
        ref = float(np.median(neigh))
        if gap > 1.6 * ref:
            problems.append(f"gap {i}-{i + 1} is {gap:.0f} mm, typical {ref:.0f} mm: a vertebra may be missing")
        elif gap < 0.55 * ref:
            problems.append(f"gap {i}-{i + 1} is {gap:.0f} mm, typical {ref:.0f} mm: a vertebra may be doubled")
    return problems


#: A gap is a missed vertebra from this many typical spacings beyond its expected length (1 between two
#: bodies, 1.5 from the C2 centroid, which its dens lifts, to C3's).
_MISSED_FROM = 0.7
#: The sacrum's centroid lies 1.1-1.9 body spacings below the last lumbar body's (phantoms, in-plane); from
#: this many a body is hidden in the sacrum component (L5 coloured as sacrum: 2.2-3.2 on phantoms).
_SACRUM_GAP = 1.4
#: Beyond this a checked count is not trusted: an L6 coloured as sacrum leaves an ordinary count of 22.
_SACRUM_GAP_CERTAIN = 1.9
#: A checked count needs every gap between C3 and L5 within this many spacings of its neighbours'.
_REGULAR = 0.25
#: With a count one short between C2 and the sacrum, a gap this much wider than expected points to a missed
#: vertebra rather than a sacralised L5.
_LIKELY_MISSED = 0.4
#: A body on the sacrum smaller than this share of the two above it has probably lost part of itself to the
#: sacrum component (true volumes of the last lumbar body over the median of the two above it: 0.95-1.15 on
#: 100 lumbar/thoracolumbar evaluation phantoms).
_SHRUNK = 0.6


def _gap_excess(centers: NDArray[np.float64], c2: int | None, sacrum: int | None) -> NDArray[np.float64]:
    """How much longer than expected each gap ``i -> i + 1`` is, in typical spacings (0 where unknown).

    Each gap is compared with the median of the ordinary gaps around it (vertebrae grow from C3 to L5,
    so a global median is unfair); the gap from C2's centroid to C3's is expected 1.5 spacings long (the
    dens lifts C2's centroid), the one into the sacrum :data:`_SACRUM_GAP` (its centroid lies far below
    S1's endplate). Gaps above C2 say nothing about a missing body (C1 sits on the dens) and stay 0.
    """
    n = len(centers)
    excess = np.zeros(max(n - 1, 0))
    if n < 4:
        return excess
    d = np.linalg.norm(np.diff(centers, axis=0), axis=1)
    expected = np.ones(n - 1)
    usable = np.ones(n - 1, dtype=bool)
    if c2 is not None:
        usable[:c2] = False
        if c2 < n - 1:
            expected[c2] = 1.5
    if sacrum is not None:
        usable[sacrum - 1 :] = False
    ordinary = usable & (expected == 1.0)
    for i in np.nonzero(usable)[0]:
        neigh = [j for j in range(i - 3, i + 4) if j != i and 0 <= j < n - 1 and ordinary[j]]
        if len(neigh) >= 2:
            excess[i] = d[i] / float(np.median(d[neigh])) - expected[i]
    if sacrum is not None and sacrum >= 1:
        above = [j for j in range(sacrum - 4, sacrum - 1) if j >= 0 and ordinary[j]]
        if len(above) >= 2:
            excess[sacrum - 1] = d[sacrum - 1] / float(np.median(d[above])) - _SACRUM_GAP
    return excess


def _missed_in_gaps(excess: NDArray[np.float64]) -> NDArray[np.int_]:
    """How many vertebrae the segmentation probably missed in each gap (see :func:`_gap_excess`)."""
    return np.where(excess > _MISSED_FROM, np.maximum(1, (excess + 0.5).astype(np.int_)), 0)


def _region(names: Sequence[str]) -> str:
    groups = {n[0] for n in names if n and n[0] in "CTL"} | ({"S"} if "S1" in names else set())
    if "C" in groups and ("L" in groups or "S" in groups):
        return "whole"
    if "C" in groups:
        return "cervical"
    if "L" in groups or "S" in groups:
        return "thoracolumbar" if "T" in groups and sum(n.startswith("T") for n in names) >= 3 else "lumbar"
    if "T" in groups:
        return "thoracic"
    return "unknown"


def name_vertebrae(
    kinds: Sequence[str],
    centers_mm: Sequence[Sequence[float]] | NDArray[np.float64],
    volumes: Sequence[float] | None = None,
    ribs: Sequence[bool | None] | None = None,
) -> Naming:
    """Name vertebra candidates ordered head to feet.

    ``kinds`` holds ``"vertebra"``, ``"c2"``, ``"c1"`` or ``"sacrum"`` per candidate (what the network
    saw); ``centers_mm`` their centres in millimetres on the working grid ``(slice, row, column)``. Only
    distances in the sagittal plane are used: two pieces of one vertebra on different slices are a few
    millimetres apart along the spine, however far apart sideways, and must read as doubled.
    ``volumes`` (voxels per candidate, optional) let the certainty test see a last lumbar body that is
    partly coloured as sacrum. ``ribs`` (optional, :func:`pipeline.ribs.rib_flags`: True, False or None per
    candidate) lets the count from the sacrum see a sixth lumbar vertebra, and a count of 23 between C2 and
    the sacrum tell a T13 from an L6 (:func:`_lumbar_count_from_ribs`).
    """
    if "c1" in kinds:
        return _with_atlas(kinds, centers_mm, volumes, ribs)
    n = len(kinds)
    centers = np.asarray(centers_mm, dtype=np.float64).reshape(n, -1).copy() if n else np.zeros((0, 3))
    if centers.shape[1] == 3:
        centers[:, 0] = 0.0
    if n == 0:
        return Naming([], False, (), "unknown", ["no vertebra found"])
    sacrum = next((i for i, k in enumerate(kinds) if k == "sacrum"), None)
    c2 = next((i for i, k in enumerate(kinds) if k == "c2"), None)
    if sacrum is not None and c2 is not None and c2 > sacrum:
        # Anatomically impossible order: trust neither.
        return _unanchored(kinds, centers, ["C2 found below the sacrum: anchors ignored"])

    # Spacing is checked on the mobile vertebrae C2..L5 only: the sacrum's centre lies far below its
    # top endplate and C1 is a ring around the dens, so their distances say nothing about a gap.
    first = c2 if c2 is not None else 0
    last = sacrum if sacrum is not None else n
    warnings = _spacing_irregular(centers[first:last])
    excess = _gap_excess(centers, c2, sacrum)
    missed = _missed_in_gaps(excess)
    lumbar = _lumbar_count_from_ribs(ribs, sacrum, missed)
    if missed.any():
        warnings.append(
            f"counted {int(missed.sum())} vertebra(e) the segmentation missed in wide gap(s): names past a gap "
            "skip its level(s)"
        )
    names: list[str] = ["?"] * n
    anchors: list[str] = []
    transitional: str | None = None
    certain = True

    if sacrum is not None:
        anchors.append("sacrum")
        # Anything below the sacrum is the coccyx (or noise); keep it named, never counted.
        for i in range(sacrum + 1, n):
            names[i] = "Co"
    if c2 is not None:
        anchors.append("C2")

    if sacrum is not None and c2 is not None:
        between = sacrum - c2 - 1
        gaps = missed[c2:sacrum]  # the last one: a body hidden in the sacrum component
        middle = (c2 + sacrum + 1) // 2
        if gaps.any():
            # An estimated number of missed vertebrae cannot confirm a count (nor find an L6): name
            # each side of the widest gap from its own anchor, since the gap is where the doubt is.
            seq = []
            certain = False
            middle = c2 + 1 + int(np.argmax(gaps))
            warnings.append(
                f"{between} vertebrae found between C2 and the sacrum, about {int(gaps.sum())} more missed: "
                "named down from C2 above the widest gap and up from the sacrum below it"
            )
        elif between == _EXPECTED_BETWEEN_C2_AND_SACRUM:
            seq = list(_PRESACRAL[_PRESACRAL.index("C3") :])
        elif between == _EXPECTED_BETWEEN_C2_AND_SACRUM + 1 and lumbar == 5:
            # The ribs go one vertebra further down than T12, and five rib-less ones follow: a T13.
            seq = [*_PRESACRAL[_PRESACRAL.index("C3") : _PRESACRAL.index("T12") + 1], "T13",
                   *_PRESACRAL[_PRESACRAL.index("L1") :]]
            transitional = "T13"
            certain = False
            warnings.append("23 presacral vertebrae below C2 and five rib-less ones above the sacrum: named T13")
        elif between == _EXPECTED_BETWEEN_C2_AND_SACRUM + 1:
            seq = [*_PRESACRAL[_PRESACRAL.index("C3") :], "L6"]
            transitional = "L6"
            # Without ribs a 13th thoracic vertebra looks the same as a 6th lumbar one: name the
            # likelier (L6) and say that the names around the thoracolumbar junction are not sure.
            certain = False
            warnings.append(
                "23 presacral vertebrae below C2: named a sixth lumbar vertebra L6"
                + (" (six rib-less vertebrae above the sacrum)" if lumbar == 6
                   else " (a T13 cannot be excluded without ribs)")
            )
        elif between == _EXPECTED_BETWEEN_C2_AND_SACRUM - 1 and _missed_not_sacralised(excess, c2, sacrum):
            # One short, and a gap wider than its neighbours rather than a sacrum far below the last body: a
            # vertebra the segmentation missed (far more common than a sacralised L5) explains both. Each side
            # is named from its anchor.
            seq = []
            certain = False
            middle = c2 + 1 + int(np.argmax(excess[c2 : sacrum - 1]))
            warnings.append("21 vertebrae found between C2 and the sacrum and one gap wide: one probably missed")
        elif between == _EXPECTED_BETWEEN_C2_AND_SACRUM - 1:
            seq = list(_PRESACRAL[_PRESACRAL.index("C3") : _PRESACRAL.index("L5")])
            transitional = "sacralised L5"
            certain = False  # a vertebra missed by the segmentation gives the same count
            warnings.append("21 presacral vertebrae below C2: L5 taken as sacralised (part of the sacrum)")
        else:
            seq = []
            certain = False
            warnings.append(f"{between} vertebrae between C2 and the sacrum, expected 22: count uncertain")
        if seq:
            _count_down_from_c2(names, c2, sacrum, seq=seq)
        else:
            # Name each side from its own anchor; the middle is where the count went wrong.
            _count_down_from_c2(names, c2, middle, missed)
            _count_up_from_sacrum(names, sacrum, stop=middle - 1, missed=missed)
        names[sacrum] = "S1"
        _name_above_c2(names, c2, warnings)
        names[c2] = "C2"
    elif sacrum is not None:
        names[sacrum] = "S1"
        certain = False
        if lumbar == 6:
            transitional = "L6"
            _count_up_from_sacrum(names, sacrum, stop=-1, missed=missed, seq=("L6", *_PRESACRAL[::-1]))
            warnings.append(
                "numbered from the sacrum with 6 lumbar vertebrae: six rib-less vertebrae lie between the "
                "last rib and the sacrum (no C2 in view to confirm the count; a T13 would look the same)"
            )
        else:
            _count_up_from_sacrum(names, sacrum, stop=-1, missed=missed)
            warnings.append(
                "numbered from the sacrum assuming 5 lumbar vertebrae (no C2 in view to confirm the count): "
                "an L6, T13 or sacralised L5 would shift every name"
                + ("; the last rib is on the vertebra named T12, as expected" if lumbar == 5 else "")
            )
            if lumbar is not None and lumbar != 5:
                warnings.append(f"{lumbar} rib-less vertebrae between the last rib and the sacrum: names kept")
    elif c2 is not None:
        names[c2] = "C2"
        _name_above_c2(names, c2, warnings)
        _count_down_from_c2(names, c2, n, missed)
        certain = False
        warnings.append("numbered down from C2 (no sacrum in view to confirm the count)")
    else:
        return _unanchored(kinds, centers, warnings, missed)

    if any("missing" in w or "doubled" in w for w in warnings):
        certain = False
    if certain and c2 is not None and sacrum is not None and np.abs(excess[c2 + 1 : sacrum - 1]).max() > _REGULAR:
        # Two errors can cancel in the count (a body missed here, a piece counted twice there): a checked
        # count also needs every gap between C3 and L5 within a quarter spacing of its neighbours'.
        certain = False
        warnings.append("the spacing between C3 and L5 is uneven: the count is not taken as checked")
    if certain and sacrum is not None and excess[sacrum - 1] + _SACRUM_GAP > _SACRUM_GAP_CERTAIN:
        certain = False
        warnings.append("the sacrum lies far below the last lumbar body: a vertebra may be hidden in it")
    if certain and sacrum is not None and volumes is not None and _last_body_shrunk(volumes, sacrum):
        # The names may be right, but part of the last body went to the sacrum: not a checked result.
        certain = False
        warnings.append("the last body above the sacrum is small: part of it may be outlined as sacrum")
    if "?" in names[first:]:  # pieces above C1 (skull base) are left unnamed; they change no count
        certain = False
    basis = " and ".join(anchors[::-1]) if len(anchors) == 2 else anchors[0]
    if basis == "sacrum" and transitional == "L6":
        basis = "sacrum and ribs"
    naming = Naming(names, certain, tuple(anchors), _region(names), warnings, transitional, basis)
    if ribs is not None:
        naming.ribs = {name: flag for name, flag in zip(names, ribs, strict=True) if flag is not None and name != "?"}
    return naming


def _missed_not_sacralised(excess: NDArray[np.float64], c2: int, sacrum: int) -> bool:
    """With one vertebra short between C2 and the sacrum: is a missed vertebra the likelier reason?

    Either a gap in the column is wider than its neighbours (a body the segmentation missed) or the
    sacrum lies further below the last body than usual (an L5 fused into it, outlined as sacrum). A gap
    over :data:`_LIKELY_MISSED` settles it; below that the stronger of the two signs wins. Why: a sacralised
    L5 the network outlines as a body of its own (its rudimentary disc shows) gives an ordinary count, so a
    short count with the sacrum at its usual distance is a missed body (a whole-spine phantom, C3 inside
    C2's outline, was named one level off from C4 to L5 as "sacralised").
    """
    widest = float(excess[c2 : sacrum - 1].max())
    return widest > _LIKELY_MISSED or widest > float(excess[sacrum - 1])


def _last_body_shrunk(volumes: Sequence[float], sacrum: int) -> bool:
    """The body on the sacrum under :data:`_SHRUNK` of the two above it (L5 is about as large as L4)."""
    above = [float(volumes[j]) for j in (sacrum - 2, sacrum - 3) if j >= 0]
    return sacrum >= 1 and len(above) == 2 and float(volumes[sacrum - 1]) < _SHRUNK * float(np.median(above))


def _with_atlas(
    kinds: Sequence[str],
    centers_mm: Sequence[Sequence[float]] | NDArray[np.float64],
    volumes: Sequence[float] | None = None,
    ribs: Sequence[bool | None] | None = None,
) -> Naming:
    """Names when the network outlined C1: the others are named without it, C1 keeps its own name.

    The ring's centre lies in the dens, so it would read as a doubled C2 in every spacing test. A piece
    the count would call C1 (between the ring and C2: dens, or a fragment) is left unnamed instead.
    """
    centers = np.asarray(centers_mm, dtype=np.float64).reshape(len(kinds), -1)
    keep = [i for i, k in enumerate(kinds) if k != "c1"]
    inner_volumes = None if volumes is None else [volumes[i] for i in keep]
    inner_ribs = None if ribs is None else [ribs[i] for i in keep]
    inner = name_vertebrae([kinds[i] for i in keep], centers[keep], inner_volumes, inner_ribs)
    names = ["C1"] * len(kinds)
    for j, i in enumerate(keep):
        names[i] = "?" if inner.names[j] == "C1" else inner.names[j]
    return replace(inner, names=names, region=_region(names))


def _lumbar_count_from_ribs(
    ribs: Sequence[bool | None] | None, sacrum: int | None, missed: NDArray[np.int_]
) -> int | None:
    """Rib-less vertebrae between the last rib-bearing vertebra and the sacrum, or None when unknown.

    Needs the two vertebrae above the first rib-less one to carry a rib (one rib-bearing body could be a
    transverse process coloured as rib), every vertebra from there to the sacrum judged rib-less (a
    "cannot tell" breaks the count), and no missed vertebra in those gaps (an estimated count is not a
    count). Why so strict: a rib missed on T12 reads as six lumbar vertebrae and moves every name.
    """
    if ribs is None or sacrum is None or sacrum < 3:
        return None
    i = sacrum - 1
    while i >= 0 and ribs[i] is False:
        i -= 1
    if i < 1 or ribs[i] is not True or ribs[i - 1] is not True:
        return None
    if missed[i:sacrum].any():
        return None
    return sacrum - 1 - i


def _count_up_from_sacrum(
    names: list[str],
    sacrum: int,
    stop: int,
    missed: NDArray[np.int_] | None = None,
    seq: Sequence[str] | None = None,
) -> None:
    """Name the candidates above the sacrum L5, L4, ... (or ``seq``) up to (not including) ``stop``, skipping
    the levels of vertebrae missed in a gap."""
    seq = seq if seq is not None else _PRESACRAL[::-1]  # L5, L4, ..., C1
    k = int(missed[sacrum - 1]) if missed is not None and 1 <= sacrum <= len(missed) else 0
    for i in range(sacrum - 1, stop, -1):
        if names[i] != "?" and names[i] != "Co":
            break
        names[i] = seq[k] if k < len(seq) else "?"
        k += 1 + (int(missed[i - 1]) if missed is not None and i >= 1 else 0)


def _count_down_from_c2(
    names: list[str],
    c2: int,
    stop: int,
    missed: NDArray[np.int_] | None = None,
    seq: Sequence[str] | None = None,
) -> None:
    """Name the candidates below C2 C3, C4, ... (or ``seq``) down to ``stop``, skipping missed levels."""
    seq = seq if seq is not None else _PRESACRAL[_PRESACRAL.index("C3") :]
    k = int(missed[c2]) if missed is not None and c2 < len(missed) else 0
    for i in range(c2 + 1, stop):
        if names[i] != "?":
            break
        names[i] = seq[k] if k < len(seq) else "?"
        k += 1 + (int(missed[i]) if missed is not None and i < len(missed) else 0)


def _name_above_c2(names: list[str], c2: int, warnings: list[str]) -> None:
    for i in range(c2 - 1, -1, -1):
        names[i] = "C1" if i == c2 - 1 else "?"
    if c2 > 1:
        warnings.append(f"{c2} structures above C2, expected at most C1")


def _unanchored(
    kinds: Sequence[str], centers: NDArray[np.float64], warnings: list[str], missed: NDArray[np.int_] | None = None
) -> Naming:
    """No usable anchor: name by assuming the lowest vertebra is T12 ... never certain.

    A field of view with neither sacrum nor C2 is thoracic (or thoracolumbar cut above the sacrum);
    the names are kept so a reader sees the layout, but QC says they are a guess.
    """
    n = len(kinds)
    names = ["?"] * n
    seq = _PRESACRAL[: _PRESACRAL.index("T12") + 1][::-1]
    k = 0
    for i in range(n - 1, -1, -1):
        names[i] = seq[k] if k < len(seq) else "?"
        k += 1 + (int(missed[i - 1]) if missed is not None and i >= 1 else 0)
    msgs = [*warnings, "no sacrum or C2 in view: level names are a guess (assumed the lowest is T12)"]
    return Naming(names, False, (), "thoracic" if n else "unknown", msgs)
