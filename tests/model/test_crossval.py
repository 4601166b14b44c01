"""The cross-validation runner: one command trains the fold models it lacks and scores them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.crossval import already_trained, fold_argv, main
from pipeline.train import REAL_DATA, cv_folds, real_case_names

TINY = ["--steps", "2", "--batch", "2", "--crop", "64", "--widths", "4", "8", "--phantoms", "0", "--device", "cpu"]


def test_each_fold_gets_its_own_output_fold_and_version_with_the_shared_options(tmp_path: Path) -> None:
    argv = fold_argv(tmp_path, 3, 12, ["--steps", "220"])
    assert argv[argv.index("--cv-fold") + 1] == "3"
    assert argv[argv.index("--out") + 1] == str(tmp_path / "fold3.pt")
    assert argv[argv.index("--seed") + 1] == "12"
    assert argv[-2:] == ["--steps", "220"]


def test_a_fold_trained_by_another_command_is_not_taken_as_done(tmp_path: Path) -> None:
    argv = fold_argv(tmp_path, 0, 1, ["--steps", "220"])
    (tmp_path / "fold0.pt").write_bytes(b"weights")
    side = tmp_path / "fold0.json"
    side.write_text(json.dumps({"command": "python -m pipeline.train " + " ".join(argv)}))
    assert already_trained(tmp_path, 0, argv)
    side.write_text(json.dumps({"command": "python -m pipeline.train " + " ".join(fold_argv(tmp_path, 0, 1, []))}))
    assert not already_trained(tmp_path, 0, argv)
    side.write_text("{not json")
    assert not already_trained(tmp_path, 0, argv)


def test_options_the_runner_sets_per_fold_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--cv-fold"):
        main(["--out", str(tmp_path), "--seed", "1", "--", "--cv-fold", "2", "--steps", "2"])
    assert not (tmp_path / "fold0.pt").exists()


def test_a_failing_fold_stops_the_run_and_names_its_log(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"fold 0 training failed .*fold0\.log"):
        main(["--out", str(tmp_path), "--seed", "1", "--folds", "0", "--", "--steps", "not-a-number"])
    assert "--steps" in (tmp_path / "fold0.log").read_text()


@pytest.mark.skipif(not (REAL_DATA / "manifest.json").is_file(), reason="real cases not present")
def test_one_fold_is_trained_once_and_scored_on_its_own_held_out_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = ["--out", str(tmp_path), "--seed", "1", "--folds", "0", "--slice-mm", "4", "--", *TINY]
    main(run)
    scored = {row["name"] for row in json.loads((tmp_path / "cv.json").read_text())}
    assert scored == set(cv_folds(real_case_names())[0])
    assert "real 5-fold CV bodies T11..L5 named correctly" in capsys.readouterr().out

    trained_at = (tmp_path / "fold0.pt").stat().st_mtime_ns
    main(run)  # a rerun keeps the fold: same command
    assert (tmp_path / "fold0.pt").stat().st_mtime_ns == trained_at
