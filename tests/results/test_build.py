"""build_outputs: switches, the worker's config adapter, character sets, settings refused early."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest

from dicomnode.results.build import ResultSettings, build_outputs, output_settings
from dicomnode.series_loader import LoadedSeries, load_series
from pipeline.result import SpineAnalysis
from tests.results.conftest import JOB_KEY, TEST_UID_ROOT
from tests.results.factory import CONVENTIONS, make_analysis, write_series


def test_output_order_and_switches(loaded: LoadedSeries, analysis: SpineAnalysis, convention) -> None:
    if convention is not CONVENTIONS[0]:
        pytest.skip("the switches do not depend on the IOP convention; run once to keep the suite fast")
    everything = build_outputs(loaded, analysis, JOB_KEY, ResultSettings(uid_root=TEST_UID_ROOT, gsps=True))
    assert [ds.Modality for ds in everything] == ["SEG", "SR", "OT", "OT", "OT", "PR"]
    only_sr = build_outputs(loaded, analysis, JOB_KEY, ResultSettings(uid_root=TEST_UID_ROOT, seg=False, picture=False))
    assert [ds.Modality for ds in only_sr] == ["SR"]
    one_picture = build_outputs(
        loaded, analysis, JOB_KEY, ResultSettings(uid_root=TEST_UID_ROOT, seg=False, sr=False, picture_slices=1)
    )
    assert [ds.Modality for ds in one_picture] == ["OT"]


def test_output_settings_reads_the_config_section_by_attribute() -> None:
    section = SimpleNamespace(
        uid_root="1.2.3",
        seg=True,
        sr=False,
        picture=True,
        gsps=True,
        seg_series_number=7001,
        sr_series_number=7002,
        picture_series_number=7003,
        gsps_series_number=7004,
        keep_empty_frames=True,
        unrelated="ignored",
    )
    settings = output_settings(section)
    assert settings.uid_root == "1.2.3" and settings.sr is False and settings.keep_empty_frames
    assert settings.seg_series_number == 7001
    assert output_settings(None) == ResultSettings()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uid_root": "1.02"}, "uid_root"),
        ({"seg_series_number": 0}, "seg_series_number"),
        ({"sr_series_number": 9901}, "must differ"),
        ({"seg_series_description": "x" * 65}, "64 characters"),
        ({"picture_slices": 2}, "picture_slices"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResultSettings(**kwargs)


def test_latin1_source_keeps_its_character_set(tmp_path: Path) -> None:
    loaded = load_series(
        write_series(tmp_path / "src", CONVENTIONS[0], charset="ISO_IR 100", patient_name="Müller^Jürgen")
    )
    outputs = build_outputs(
        loaded,
        make_analysis(loaded.volume),
        JOB_KEY,
        ResultSettings(uid_root=TEST_UID_ROOT, gsps=True, picture_slices=1),
    )
    for ds in outputs:
        path = tmp_path / f"{ds.Modality}.dcm"
        ds.save_as(path, enforce_file_format=True)
        back = pydicom.dcmread(path)
        assert back.SpecificCharacterSet == "ISO_IR 100", ds.Modality
        assert str(back.PatientName) == "Müller^Jürgen", ds.Modality
        assert "Müller".encode("latin-1") in path.read_bytes()
