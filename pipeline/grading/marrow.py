"""Endplate marrow signal (Modic changes) next to one disc.

A Modic change is a band of altered marrow under an endplate, starting at the endplate and usually
from the anterior part of the body. Its signal against the body's own marrow (far from the endplates)
says whether something changed; only the pair of contrasts says what: type I is T1-dark and T2-bright
(oedema), type II T1-bright and T2 iso-to-bright (fat), type III dark on both (sclerosis) (Modic et al.,
Radiology 1988). From T2 alone the type is ambiguous, so only "marrow change present/absent" is read.

Endplate defects (Schmorl nodes) are read from the label map by :mod:`pipeline.grading.endplate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.grading.geometry import BodyFrame
from pipeline.grading.plane import pixel_points

BAND_START_MM = 1.0
BAND_DEPTH_MM = 2.5
"""The endplate band read for a Modic change: 1.0-3.5 mm under the endplate line (beyond the cortical
endplate, within the 3 mm that the shallowest Modic change reaches)."""
ANTERIOR_SHARE = 0.45
"""Share of the AP length, from the anterior wall, that the band covers (Modic changes start in front)."""


@dataclass(frozen=True)
class EndplateSignal:
    """Marrow signal next to one endplate, relative to the body's own reference marrow."""

    band: float
    reference: float

    @property
    def ratio(self) -> float:
        return self.band / self.reference if self.reference > 0 else float("nan")


def _region(
    frame: BodyFrame, mask: NDArray[np.bool_], spacing: tuple[float, float], endplate: str
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Pixel indices of the endplate band and of the reference marrow of a body on one slice."""
    points = pixel_points(mask, spacing)
    jj, ii = np.nonzero(mask)
    dv = (points - frame.origin) @ frame.v
    dw = (points - frame.origin) @ frame.w
    inner_v = (dv >= frame.posterior + 2.0) & (dv <= frame.anterior - 2.0)
    front = dv >= frame.anterior - ANTERIOR_SHARE * frame.depth
    if endplate == "superior":
        line = frame.superior_posterior + (dv - frame.posterior) / max(frame.depth, 1e-6) * (
            frame.superior_anterior - frame.superior_posterior
        )
        depth = line - dw
    else:
        if frame.inferior_posterior is None or frame.inferior_anterior is None:
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty, empty, empty
        line = frame.inferior_posterior + (dv - frame.posterior) / max(frame.depth, 1e-6) * (
            frame.inferior_anterior - frame.inferior_posterior
        )
        depth = dw - line
    band = inner_v & front & (depth >= BAND_START_MM) & (depth <= BAND_START_MM + BAND_DEPTH_MM)
    if frame.inferior_mid is None:  # the sacrum's frame covers its top only
        mid_w, height = frame.superior_mid - 10.0, 20.0
    else:
        mid_w, height = 0.5 * (frame.superior_mid + frame.inferior_mid), frame.superior_mid - frame.inferior_mid
    reference = inner_v & (np.abs(dw - mid_w) <= 0.15 * height) & (dv >= frame.posterior + 6.0)
    return jj[band], ii[band], jj[reference], ii[reference]


def endplate_signal(
    image: NDArray[np.floating],
    frame: BodyFrame,
    mask: NDArray[np.bool_],
    spacing: tuple[float, float],
    endplate: str,
) -> EndplateSignal | None:
    """Median signal of the endplate band and of the body's reference marrow on one slice."""
    bj, bi, rj, ri = _region(frame, mask, spacing, endplate)
    if bj.size < 4 or rj.size < 4:
        return None
    return EndplateSignal(float(np.median(image[bj, bi])), float(np.median(image[rj, ri])))


def marrow_change(signal: EndplateSignal, bright: float, dark: float) -> bool:
    """Present when the band is brighter than ``bright`` or darker than ``dark`` times the reference."""
    return signal.ratio > bright or signal.ratio < dark


def modic_type(t2: EndplateSignal, t1: EndplateSignal, bright: float, dark: float) -> str:
    """``"0"``, ``"I"``, ``"II"`` or ``"III"`` from the band/reference ratios on T2 and T1.

    Type II first: fatty marrow is bright on T1 whatever T2 does; then T1-dark bands are typed by T2
    (bright: I, dark: III). A change that fits no type is read as none ("0")."""
    r1, r2 = t1.ratio, t2.ratio
    if r1 > bright:
        return "II"
    if r1 < dark:
        if r2 > bright:
            return "I"
        if r2 < dark:
            return "III"
    return "0"
