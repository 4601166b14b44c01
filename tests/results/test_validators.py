"""Real DICOM tools judge the outputs: dciodvfy, pixelmed's SR validator, dcmqi's readers.

Each test is skipped, with the reason, only when its tool is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dicomnode.results.build import ResultSettings, build_outputs
from dicomnode.series_loader import LoadedSeries, load_series
from pipeline.result import SpineAnalysis
from tests.results.conftest import CREATED, JOB_KEY, TEST_UID_ROOT, save_by_kind
from tests.results.factory import CONVENTIONS, make_analysis, write_series

pytestmark = pytest.mark.external

PIXELMED_JAR = Path("/usr/share/java/pixelmed.jar")
JAVA_XPATH_LIMITS = [
    "-Djdk.xml.xpathExprGrpLimit=0",
    "-Djdk.xml.xpathExprOpLimit=0",
    "-Djdk.xml.xpathTotalOpLimit=0",
]


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip(f"{name} is not installed")
    return found


@pytest.fixture(scope="module")
def enhanced_written(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Outputs built on an Enhanced MR (multi-frame) source, saved as files."""
    folder = tmp_path_factory.mktemp("enhanced")
    loaded = load_series(write_series(folder / "src", CONVENTIONS[1], enhanced=True))
    outputs = build_outputs(
        loaded,
        make_analysis(loaded.volume),
        JOB_KEY,
        ResultSettings(uid_root=TEST_UID_ROOT, gsps=True),
        created=CREATED,
    )
    return save_by_kind(outputs, folder)


def _all_files(files: dict) -> list[Path]:
    return [files["seg"], files["sr"], files["gsps"], *files["picture"]]


def _dciodvfy(path: Path) -> list[str]:
    result = subprocess.run([_tool("dciodvfy"), str(path)], capture_output=True, text=True, timeout=60)
    return (result.stdout + result.stderr).splitlines()


def test_dciodvfy_reports_no_error_on_seg_sr_picture_and_gsps(written: dict) -> None:
    for path in _all_files(written):
        errors = [line for line in _dciodvfy(path) if line.startswith("Error")]
        assert not errors, f"{path.name}: {errors}"


def test_dciodvfy_no_error_with_an_enhanced_mr_source(enhanced_written: dict) -> None:
    for path in _all_files(enhanced_written):
        errors = [line for line in _dciodvfy(path) if line.startswith("Error")]
        assert not errors, f"{path.name}: {errors}"


def test_dciodvfy_warnings_are_only_the_private_scheme(written: dict) -> None:
    """The only warning we accept: dciodvfy does not know our (declared) 99DCMNODE designator."""
    for path in _all_files(written):
        warnings = [line for line in _dciodvfy(path) if line.startswith("Warning")]
        unexpected = [w for w in warnings if "<99DCMNODE>" not in w]
        assert not unexpected, f"{path.name}: {unexpected}"


def _pixelmed(path: Path) -> str:
    java = _tool("java")
    if not PIXELMED_JAR.exists():
        pytest.skip(f"pixelmed is not installed ({PIXELMED_JAR} missing)")
    result = subprocess.run(
        [java, *JAVA_XPATH_LIMITS, "-cp", str(PIXELMED_JAR), "com.pixelmed.validate.DicomSRValidator", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.mark.slow
def test_pixelmed_sr_validator_reports_no_error(written: dict, convention) -> None:
    """Once, on the first convention: pixelmed needs ~30 s per SR and the content is the same."""
    if convention is not CONVENTIONS[0]:
        pytest.skip("pixelmed runs once (the SR content does not depend on the IOP convention)")
    output = _pixelmed(written["sr"])
    assert "Found Root Template TID_1500" in output
    errors = [line for line in output.splitlines() if "Error" in line]
    assert not errors, errors


def test_dcmqi_reads_the_seg_with_the_right_geometry(
    written: dict, loaded: LoadedSeries, analysis: SpineAnalysis, tmp_path: Path
) -> None:
    import SimpleITK as sitk

    tool = _tool("segimage2itkimage")
    result = subprocess.run(
        [tool, "--inputDICOM", str(written["seg"]), "--outputDirectory", str(tmp_path), "--outputType", "nrrd"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    meta = json.loads((tmp_path / "meta.json").read_text())
    attributes = [a for group in meta["segmentAttributes"] for a in group]
    assert len(attributes) == len(analysis.structures)
    for attr in attributes:
        structure = analysis.structure(attr["SegmentLabel"])
        assert structure is not None
        image = sitk.ReadImage(str(tmp_path / f"{attr['labelID']}.nrrd"))
        array = sitk.GetArrayFromImage(image)  # (z, y, x) of an ITK image in LPS
        idx = np.argwhere(array > 0).mean(axis=0)[::-1]  # to (x, y, z) ITK index order
        lps = np.asarray(image.TransformContinuousIndexToPhysicalPoint([float(v) for v in idx]))
        offset = loaded.volume.lps_to_index(lps) - np.asarray(structure.centroid_index)
        assert np.all(np.abs(offset) <= 1.0), (structure.name, offset)


def test_dcmqi_reads_the_sr(written: dict, analysis: SpineAnalysis, tmp_path: Path) -> None:
    tool = _tool("tid1500reader")
    out = tmp_path / "sr.json"
    result = subprocess.run(
        [tool, "--inputDICOM", str(written["sr"]), "--outputMetadata", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    meta = json.loads(out.read_text())
    groups = {m["TrackingIdentifier"]: m for m in meta["Measurements"]}
    assert set(groups) == {f"{lv.level} disc" for lv in analysis.levels} | {
        f"{v.name} vertebra" for v in analysis.vertebrae
    }
    l3l4 = groups["L3/L4 disc"]
    assert l3l4["FindingSite"]["CodeValue"] == "62551000"
    values = {item["quantity"]["CodeMeaning"]: float(item["value"]) for item in l3l4["measurementItems"]}
    assert values["Middle disc height"] == pytest.approx(8.4)
    grades = {q["conceptCode"]["CodeMeaning"]: q["conceptValue"]["CodeMeaning"] for q in l3l4["qualitativeEvaluations"]}
    assert grades["Pfirrmann disc degeneration grade"] == "Pfirrmann grade 2"
    assert grades["Modic change, cranial endplate"] == "Not assessed"
