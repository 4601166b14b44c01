"""Receiving over real DICOM associations: dcmtk clients against `dicomnode serve` on loopback."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from pydicom import dcmread
from pydicom.uid import generate_uid

from storage.models import Event, Instance, Job, Series, SeriesState
from tests.node.conftest import RunningNode, need, send_datasets, wait_for
from tests.node.factory import AXIAL, make_series


def test_echo_answers(node: RunningNode) -> None:
    result = subprocess.run([need("echoscu"), "-aet", "ECHOSCU", "127.0.0.1", str(node.port)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_three_series_over_two_concurrent_associations_give_60_rows_60_files_3_jobs(
    node: RunningNode, tmp_path: Path
) -> None:
    files: list[Path] = []
    for number in range(3):
        files += make_series(tmp_path / f"series{number}", 20, series_number=number + 1)
    halves = [files[0::2], files[1::2]]  # every series is split over both associations
    results: list[subprocess.CompletedProcess[str]] = []
    threads = [threading.Thread(target=lambda f=half: results.append(node.storescu(f, check=False)))
               for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert node.instance_rows() == 60
    assert len(node.files()) == 60
    assert wait_for(lambda: len(node.jobs()) == 3, timeout=20)
    assert sorted(job.instance_count for job in node.jobs()) == [20, 20, 20]
    assert all(job.state.value == "queued" for job in node.jobs())


def test_stored_file_holds_the_received_dataset(node: RunningNode, tmp_path: Path) -> None:
    [source] = make_series(tmp_path / "one", 1)
    node.storescu([source])
    [stored] = node.files()
    original, received = dcmread(source), dcmread(stored)
    assert received.SOPInstanceUID == original.SOPInstanceUID
    assert received.PixelData == original.PixelData
    assert str(received.PatientName) == "Müller^Jürgen"  # non-ASCII survives untouched


def test_series_split_over_two_associations_with_a_short_pause_gives_one_job(
    node: RunningNode, tmp_path: Path
) -> None:
    files = make_series(tmp_path / "s", 20)
    node.storescu(files[:10])
    threading.Event().wait(0.8)  # shorter than the 2 s quiet period
    node.storescu(files[10:])
    assert wait_for(lambda: len(node.jobs()) == 1, timeout=20)
    threading.Event().wait(3)
    jobs = node.jobs()
    assert len(jobs) == 1 and jobs[0].instance_count == 20


def test_late_instances_with_reprocess_queue_a_new_job_on_the_grown_series(
    node: RunningNode, tmp_path: Path
) -> None:
    files = make_series(tmp_path / "s", 12)
    node.storescu(files[:8])
    assert wait_for(lambda: len(node.jobs()) == 1, timeout=20)
    node.storescu(files[8:])
    assert wait_for(lambda: len(node.jobs()) == 2, timeout=20)
    assert [job.instance_count for job in node.jobs()] == [8, 12]
    # The first late instance reopens the series; the others simply join the reopened series.
    assert node.count(Event, Event.kind == "late_instance_reprocess") == 1


def test_late_instances_with_ignore_are_kept_but_queue_nothing(node_factory, tmp_path: Path) -> None:
    node = node_factory("[series]\nlate_arrivals = \"ignore\"")
    files = make_series(tmp_path / "s", 12)
    node.storescu(files[:8])
    assert wait_for(lambda: len(node.jobs()) == 1, timeout=20)
    node.storescu(files[8:])
    threading.Event().wait(3.5)
    assert [job.instance_count for job in node.jobs()] == [8]
    assert node.instance_rows() == 12 and len(node.files()) == 12
    assert node.count(Event, Event.kind == "late_instance_ignored") == 4


def test_the_same_series_sent_twice_gives_no_duplicates_and_one_job(node: RunningNode,
                                                                     tmp_path: Path) -> None:
    files = make_series(tmp_path / "s", 10)
    node.storescu(files)
    assert wait_for(lambda: len(node.jobs()) == 1, timeout=20)
    node.storescu(files)  # a PACS that resends the whole series after the job was queued
    threading.Event().wait(3.5)
    assert node.instance_rows() == 10 and len(node.files()) == 10
    assert len(node.jobs()) == 1


def test_same_uid_with_different_content_is_kept_aside_and_the_first_copy_stays(
    node: RunningNode, tmp_path: Path
) -> None:
    [first] = make_series(tmp_path / "a", 1)
    node.storescu([first])
    changed = dcmread(first)
    changed.SeriesDescription = "changed content"
    other = tmp_path / "changed.dcm"
    changed.save_as(other)
    node.storescu([other])
    [stored] = node.files()
    assert dcmread(stored).SeriesDescription == "T2 TSE SAG"
    assert len(list((node.data_dir / "quarantine" / "conflicts").iterdir())) == 1
    assert node.count(Event, Event.kind == "instance_conflict") == 1


def test_unknown_calling_ae_is_rejected_and_nothing_is_stored(node: RunningNode, tmp_path: Path) -> None:
    files = make_series(tmp_path / "s", 2)
    result = node.storescu(files, aet="INTRUDER", check=False)
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stdout + result.stderr
    assert node.instance_rows() == 0 and node.files() == []


def test_host_not_in_allowed_hosts_is_rejected(node_factory, tmp_path: Path) -> None:
    node = node_factory('[security]\nallowed_hosts = ["192.0.2.10"]')
    result = node.storescu(make_series(tmp_path / "s", 1), check=False)
    assert result.returncode != 0
    assert "Association Rejected" in result.stdout + result.stderr
    assert node.instance_rows() == 0


def test_free_disk_below_minimum_answers_out_of_resources(node_factory, tmp_path: Path) -> None:
    node = node_factory("[storage]\nmin_free_disk_mb = 1000000000")
    [path] = make_series(tmp_path / "s", 1)
    assert node.storescu([path], check=False).returncode != 0
    assert send_datasets(node.port, [dcmread(path)]) == [0xA700]
    assert node.instance_rows() == 0 and node.files() == []


def test_other_storage_classes_of_the_study_are_kept_but_never_analysed(node: RunningNode,
                                                                          tmp_path: Path) -> None:
    files = make_series(tmp_path / "ax", 8, orientation=AXIAL, description="T2 TRA")
    node.storescu(files)
    assert wait_for(lambda: node.count(Series, Series.state == SeriesState.ignored) == 1, timeout=20)
    assert node.count(Job) == 0 and node.instance_rows() == 8
    db = node.db()
    with db.session() as session:
        reason = session.query(Series.decision_reason).scalar()
    assert "plane axial is not sagittal" in reason


def test_no_patient_identifiers_in_the_log(node: RunningNode, tmp_path: Path) -> None:
    node.storescu(make_series(tmp_path / "s", 6))
    assert wait_for(lambda: len(node.jobs()) == 1, timeout=20)
    log = node.log.read_text(encoding="utf-8")
    for identifier in ("Müller", "Jürgen", "TEST-0001", "19700101", "ACC123"):
        assert identifier not in log


def test_instances_have_sha256_and_relative_paths_inside_the_data_dir(node: RunningNode,
                                                                      tmp_path: Path) -> None:
    node.storescu(make_series(tmp_path / "s", 2))
    db = node.db()
    with db.session() as session:
        for instance in session.query(Instance).all():
            path = (node.data_dir / instance.path).resolve()
            assert path.is_relative_to(node.data_dir.resolve()) and path.is_file()
            assert len(instance.sha256) == 64


def test_study_and_series_uids_are_reused_for_a_second_series(node: RunningNode, tmp_path: Path) -> None:
    study = generate_uid()
    files = make_series(tmp_path / "a", 2, study_uid=study) + make_series(tmp_path / "b", 2, study_uid=study)
    node.storescu(files)
    assert node.count(Series) == 2


def test_an_enhanced_mr_object_counts_its_frames_and_queues_one_job(node: RunningNode, tmp_path: Path) -> None:
    from dicomnode.phantom_dicom import enhanced_dataset
    from pipeline.phantom import generate

    dataset = enhanced_dataset(generate(5, region="lumbar", contrast="T2"))
    path = tmp_path / "enhanced.dcm"
    dataset.save_as(path, enforce_file_format=True)
    node.storescu([path])
    assert wait_for(lambda: len(node.jobs()) == 1, timeout=20)
    frames = int(dataset.NumberOfFrames)
    db = node.db()
    with db.session() as session:
        assert session.query(Instance.frames).scalar() == frames >= 5
        assert session.query(Series.decision_rule).scalar() == "sagittal-spine-mr"
