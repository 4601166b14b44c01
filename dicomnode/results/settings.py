"""What a site may configure about the result objects, checked when it is built, not when a job runs."""

from __future__ import annotations

from dataclasses import dataclass, fields

from dicomnode.results.uids import validate_root

DISCLAIMER = "AI output for research / decision support. Not for primary diagnosis."
SHORT_DISCLAIMER = "AI research/decision support - not for primary diagnosis"
"""Fits a 64-character LO such as Content Description."""


def _check_lo(value: str, key: str) -> None:
    """Series descriptions are LO: at most 64 characters, no backslash (PS3.5 6.2)."""
    if len(value) > 64 or "\\" in value:
        raise ValueError(f"{key} must be at most 64 characters without a backslash: {value!r}")


@dataclass(frozen=True)
class ResultSettings:
    """Site settings for the SEG, SR, picture and presentation state series.

    ``uid_root`` must be the site's own root (or ``2.25`` for UUID-derived UIDs): every output UID
    hangs under it, derived from the job key, so resends are identical (see :mod:`.uids`).
    """

    uid_root: str = "2.25"
    manufacturer: str = "dicomnode"
    institution_name: str | None = None
    seg_series_number: int = 9901
    sr_series_number: int = 9902
    picture_series_number: int = 9903
    gsps_series_number: int = 9904
    seg_series_description: str = "AI spine segmentation (research/decision support)"
    sr_series_description: str = "AI spine findings (research/decision support)"
    picture_series_description: str = "AI spine overview - not for primary diagnosis"
    gsps_series_description: str = "AI spine labels (research/decision support)"
    seg: bool = True
    sr: bool = True
    picture: bool = True
    keep_empty_frames: bool = False
    """Write SEG frames with no segment pixels too (some viewers need one frame per source slice)."""
    gsps: bool = False
    """Also write a Grayscale Softcopy Presentation State with the level labels as text."""
    picture_slices: int = 3
    """Secondary-capture images: the mid-sagittal slice and its neighbours (1 or 3)."""
    picture_size: int = 512
    device_serial_number: str = "0"

    def __post_init__(self) -> None:
        object.__setattr__(self, "uid_root", validate_root(self.uid_root))
        numbers = {
            "seg_series_number": self.seg_series_number,
            "sr_series_number": self.sr_series_number,
            "picture_series_number": self.picture_series_number,
            "gsps_series_number": self.gsps_series_number,
        }
        for key, number in numbers.items():
            if not 0 < number < 2**31:
                raise ValueError(f"{key} must be a positive integer (IS), got {number}")
        if len(set(numbers.values())) != len(numbers):
            raise ValueError(f"the result series numbers must differ: {numbers}")
        for key in (
            "seg_series_description",
            "sr_series_description",
            "picture_series_description",
            "gsps_series_description",
            "manufacturer",
        ):
            _check_lo(getattr(self, key), key)
        if self.picture_slices not in (1, 3):
            raise ValueError(f"picture_slices must be 1 or 3, got {self.picture_slices}")
        if not 256 <= self.picture_size <= 2048:
            raise ValueError(f"picture_size must be 256..2048 pixels, got {self.picture_size}")


def output_settings(section: object | None) -> ResultSettings:
    """ResultSettings from the ``[outputs]`` config section (any object with matching attributes).

    Duck-typed on purpose: the config model belongs to the service, and the builders must not import
    it; an attribute the section lacks keeps its default here.
    """
    if section is None:
        return ResultSettings()
    if isinstance(section, ResultSettings):
        return section
    names = {f.name for f in fields(ResultSettings)}
    values = {name: getattr(section, name) for name in names if hasattr(section, name)}
    return ResultSettings(**values)
