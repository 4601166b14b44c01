"""Attributes every result object of one job shares: identity, dates, character set, body part.

Kept in one place so the SEG, SR, picture and presentation state cannot drift apart (a PACS groups
them by study and shows them side by side).
"""

from __future__ import annotations

from datetime import datetime
from importlib import metadata
from typing import Any

from pydicom.dataset import Dataset

from dicomnode.results.settings import ResultSettings
from pipeline.result import SpineAnalysis


def software_versions(analysis: SpineAnalysis) -> str:
    """Software Versions (LO): the node's release and the model's, so a result can be traced."""
    try:
        node_version = metadata.version("dicomnode")
    except metadata.PackageNotFoundError:
        node_version = "dev"
    return f"dicomnode {node_version}; {analysis.algorithm_name} {analysis.algorithm_version}"[:64]


def common_kwargs(reference: Dataset, settings: ResultSettings, created: datetime | None) -> dict[str, Any]:
    """Keyword arguments every highdicom object of one job shares (dates, institution, charset)."""
    kwargs: dict[str, Any] = {}
    if created is not None:
        kwargs["content_date"] = created.date()
        kwargs["content_time"] = created.time().replace(microsecond=0)
        kwargs["series_date"] = created.date()
        kwargs["series_time"] = created.time().replace(microsecond=0)
    if settings.institution_name:
        kwargs["institution_name"] = settings.institution_name
    charset = reference.get("SpecificCharacterSet")
    if charset:
        kwargs["specific_character_set"] = charset
    return kwargs


def restore_character_set(ds: Dataset, reference: Dataset) -> None:
    """Keep the source's Specific Character Set (PS3.3 C.12.1.1.2) on an object that copied its names.

    The patient's name is copied byte-for-byte in meaning, so the object must declare the same
    repertoire or a non-ASCII name (``Müller``) turns into mojibake in the PACS.
    """
    charset = reference.get("SpecificCharacterSet")
    if charset and ds.get("SpecificCharacterSet") != charset:
        ds.SpecificCharacterSet = charset


def set_body_part(ds: Dataset, reference: Dataset) -> None:
    """Body Part Examined from the source, else SPINE (PS3.3 C.7.3.1, CID 4031).

    Why: General Series Laterality is Type 2C for paired body parts; naming the (unpaired) spine
    tells validators and PACS that no laterality applies, where an empty Laterality would claim
    the side is unknown.
    """
    ds.BodyPartExamined = str(reference.get("BodyPartExamined") or "SPINE")
