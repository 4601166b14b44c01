"""``python -m pipeline.grading.evaluate``: the issue's figures on held-out phantoms, or disc heights on
the real cases.

Phantom mode grades each series from its TRUE label map (the segmentation model is evaluated on its
own) and compares every grade and number with the generator's truth. Real mode measures disc heights
on the 17 real T2 cases, which carry vertebral-body labels only, as the gap between consecutive bodies,
and sets them against published normal ranges for healthy adults.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.grading.grade import grade_analysis
from pipeline.labels import VERTEBRA_LABELS
from pipeline.result import LevelFindings, QualityControl, SpineAnalysis, VertebraFindings
from pipeline.volume import Volume

CALIBRATION_SEEDS = range(500000, 500200)
"""Seeds the Pfirrmann classifier was fitted on (see :mod:`pipeline.grading.calibrate`) and the endplate
defect depth was set on (500000-500099, this module's case plan); never evaluate on them."""
TARGETS: dict[str, tuple[str, float | None]] = {
    "pfirrmann_exact": (">=", 80.0),
    "pfirrmann_within_one": (">=", 99.0),
    "meyerding_exact": (">=", 95.0),
    "slip_mae_mm": ("<=", 1.0),
    "canal_ap_mae_mm": ("<=", 1.0),
    "stenosis_exact": (">=", 90.0),
    "herniation_exact": (">=", 85.0),
    "endplate_defect_exact": (">=", None),
    "endplate_defect_sensitivity": (">=", 85.0),
    "endplate_defect_specificity": (">=", 95.0),
}
"""The issue's figures; endplate defects are counted per endplate (upper and lower of every level),
exact agreement without a target of its own (defects are rare: specificity dominates it)."""
ENDPLATE_GRADES = ("endplate_defect_upper", "endplate_defect_lower")


def analysis_from_labels(volume: Volume, labels: np.ndarray, discs: list[dict[str, Any]]) -> SpineAnalysis:
    """A bare :class:`SpineAnalysis` on a given label map, its levels named as ``discs`` says."""
    levels = [
        LevelFindings(
            level=d["level"], disc_label=int(d["label"]), upper_vertebra=d["upper"], lower_vertebra=d["lower"]
        )
        for d in discs
    ]
    present = set(np.unique(labels).tolist())
    vertebrae = [VertebraFindings(name=n, label=lab) for n, lab in VERTEBRA_LABELS.items() if lab in present]
    qc = QualityControl(naming_certain=True, region="phantom")
    return SpineAnalysis(labels.astype(np.uint8), [], levels, vertebrae, qc, "truth-labels", "0")


def case_plan(index: int, seed: int) -> tuple[str, str, bool]:
    """(region, contrast, with_t1) of the ``index``-th evaluation case: lumbar and thoracolumbar
    alternate; one in ten is STIR and one in ten T1 (grades that need T2 must then say not assessed);
    every third T2 case also gets the T1 of the same patient and grid (Modic typing)."""
    region = "lumbar" if index % 2 == 0 else "thoracolumbar"
    contrast = "STIR" if index % 10 == 4 else "T1" if index % 10 == 9 else "T2"
    return region, contrast, contrast == "T2" and index % 3 == 0


def ragged(labels: np.ndarray, probability: float, seed: int) -> np.ndarray:
    """The label map with its in-plane boundaries roughened like a network's output: each pixel on a
    boundary takes the label of a random 4-neighbour with ``probability`` (a one-pixel jitter)."""
    rng = np.random.default_rng(seed)
    out = labels.copy()
    shifts = ((0, 1), (0, -1), (1, 1), (1, -1))
    choice = rng.integers(0, 4, size=labels.shape)
    flip = rng.random(labels.shape) < probability
    for n, (axis, step) in enumerate(shifts):
        neighbour = np.roll(labels, step, axis=axis + 1)
        take = flip & (choice == n) & (neighbour != labels)
        out[take] = neighbour[take]
    return out


def evaluate_case(args: tuple[int, int] | tuple[int, int, float]) -> list[dict[str, Any]]:
    """Grade one phantom series from its true labels; one row per disc level: truth and grade.

    A third element, when given, roughens the label map first (:func:`ragged`)."""
    from pipeline.phantom import generate

    index, seed = args[0], args[1]
    noise = float(args[2]) if len(args) > 2 else 0.0
    region, contrast, with_t1 = case_plan(index, seed)
    case = generate(seed, region=region, contrast=contrast)
    t1 = generate(seed, region=region, contrast="T1", truth=False).volume if with_t1 else None
    labels = ragged(case.labels, noise, seed) if noise > 0 else case.labels
    analysis = analysis_from_labels(case.volume, labels, case.truth["discs"])
    started = time.perf_counter()
    grade_analysis(case.volume, analysis, t1=t1)
    elapsed = time.perf_counter() - started
    rows = []
    for truth, level in zip(case.truth["discs"], analysis.levels, strict=True):
        row: dict[str, Any] = {
            "seed": seed,
            "region": region,
            "contrast": contrast,
            "t1": with_t1,
            "level": level.level,
            "seconds": elapsed / max(len(analysis.levels), 1),
        }
        row["truth"] = {
            "pfirrmann": str(truth["pfirrmann"]),
            "narrowing": truth["narrowing"],
            "meyerding": truth["listhesis"]["meyerding"],
            "listhesis_direction": truth["listhesis"]["direction"],
            "canal_stenosis": truth["stenosis"],
            "herniation": truth["herniation"]["class"],
            "modic_upper": ["0", "I", "II", "III"][truth["modic_upper"]],
            "modic_lower": ["0", "I", "II", "III"][truth["modic_lower"]],
            "marrow_change_upper": "present" if truth["modic_upper"] else "absent",
            "marrow_change_lower": "present" if truth["modic_lower"] else "absent",
            "endplate_defect_upper": "present" if truth["endplate_defect_upper"] else "absent",
            "endplate_defect_lower": "present" if truth["endplate_defect_lower"] else "absent",
            "slip": truth["listhesis"]["mm"],
            "canal_ap_diameter": truth["canal_ap_mm"],
            "herniation_extent": truth["herniation"]["posterior_extent_mm"],
            "disc_height_middle": truth["height_mm"],
            "disc_height_index": truth["disc_height_index"],
        }
        row["grades"] = {g.name: g.value for g in level.grades}
        row["notes"] = {g.name: g.note for g in level.grades if g.note}
        row["measurements"] = {m.name: m.value for m in level.measurements}
        rows.append(row)
    return rows


@dataclass
class Tally:
    """Agreement counts per grade and absolute errors per measurement."""

    agree: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))
    within_one: list[bool] = field(default_factory=list)
    errors: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    not_assessed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    endplates: list[tuple[bool, bool]] = field(default_factory=list)
    """(truth present, graded present) of every assessed endplate."""
    levels: int = 0

    def add(self, row: dict[str, Any]) -> None:
        self.levels += 1
        truth, grades, values = row["truth"], row["grades"], row["measurements"]
        for name, true in truth.items():
            if name in grades:
                if grades[name] is None:
                    self.not_assessed[name] += 1
                    continue
                self.agree[name].append(grades[name] == true)
                self.agree[f"{name}|truth={true}"].append(grades[name] == true)
                if name == "pfirrmann":
                    self.within_one.append(abs(int(grades[name]) - int(true)) <= 1)
                    lumbar = "lumbar" if row["level"].startswith("L") else "non-lumbar"
                    self.agree[f"pfirrmann|{lumbar}"].append(grades[name] == true)
                if name == "meyerding" and true != "0":
                    self.agree["meyerding|slipped"].append(grades[name] == true)
                if name in ENDPLATE_GRADES:
                    self.endplates.append((true == "present", grades[name] == "present"))
            elif name in values:
                self.errors[name].append(abs(values[name] - true))
            elif isinstance(true, (int, float)):
                self.not_assessed[name] += 1

    def figures(self) -> dict[str, float]:
        def pct(xs: list[bool]) -> float:
            return 100.0 * float(np.mean(xs)) if xs else float("nan")

        def mae(xs: list[float]) -> float:
            return float(np.mean(xs)) if xs else float("nan")

        return {
            "pfirrmann_exact": pct(self.agree["pfirrmann"]),
            "pfirrmann_within_one": pct(self.within_one),
            "meyerding_exact": pct(self.agree["meyerding"]),
            "slip_mae_mm": mae(self.errors["slip"]),
            "canal_ap_mae_mm": mae(self.errors["canal_ap_diameter"]),
            "stenosis_exact": pct(self.agree["canal_stenosis"]),
            "herniation_exact": pct(self.agree["herniation"]),
            "endplate_defect_exact": pct([t == g for t, g in self.endplates]),
            "endplate_defect_sensitivity": pct([g for t, g in self.endplates if t]),
            "endplate_defect_specificity": pct([not g for t, g in self.endplates if not t]),
        }


def _met(name: str, value: float) -> str:
    op, target = TARGETS[name]
    if target is None:
        return "-"
    ok = value >= target if op == ">=" else value <= target
    return "yes" if ok else "NO"


def print_phantom_table(rows: list[dict[str, Any]], seconds: float, out=sys.stdout) -> dict[str, float]:
    tally = Tally()
    for row in rows:
        tally.add(row)
    figures = tally.figures()
    cases = len({r["seed"] for r in rows})
    print(
        f"{cases} held-out phantom series, {tally.levels} disc levels, graded from the true label maps "
        f"in {seconds:.0f} s",
        file=out,
    )
    print(f"{'figure':<27} {'value':>8} {'target':>9} {'n':>6}  met", file=out)
    counts = {
        "pfirrmann_exact": len(tally.agree["pfirrmann"]),
        "pfirrmann_within_one": len(tally.within_one),
        "meyerding_exact": len(tally.agree["meyerding"]),
        "slip_mae_mm": len(tally.errors["slip"]),
        "canal_ap_mae_mm": len(tally.errors["canal_ap_diameter"]),
        "stenosis_exact": len(tally.agree["canal_stenosis"]),
        "herniation_exact": len(tally.agree["herniation"]),
        "endplate_defect_exact": len(tally.endplates),
        "endplate_defect_sensitivity": sum(t for t, _ in tally.endplates),
        "endplate_defect_specificity": sum(not t for t, _ in tally.endplates),
    }
    for name, value in figures.items():
        op, target = TARGETS[name]
        shown = "-" if target is None else op + format(target, "g")
        print(f"{name:<27} {value:8.2f} {shown:>9} {counts[name]:>6}  {_met(name, value)}", file=out)
    print("\nother grades (exact agreement, n):", file=out)
    for name in (
        "narrowing",
        "listhesis_direction",
        "marrow_change_upper",
        "marrow_change_lower",
        "modic_upper",
        "modic_lower",
        "endplate_defect_upper",
        "endplate_defect_lower",
    ):
        xs = tally.agree[name]
        if xs:
            print(f"  {name:<24} {100 * np.mean(xs):6.1f} %  n={len(xs)}", file=out)
    print("by class (exact agreement, n):", file=out)
    for key in (
        "pfirrmann|lumbar",
        "pfirrmann|non-lumbar",
        "meyerding|slipped",
        *[
            f"{name}|truth={value}"
            for name, values in (
                ("pfirrmann", ("1", "2", "3", "4", "5")),
                ("herniation", ("none", "bulge", "protrusion", "extrusion")),
                ("canal_stenosis", ("none", "mild", "moderate", "severe")),
            )
            for value in values
        ],
    ):
        xs = tally.agree.get(key, [])
        if xs:
            print(f"  {key:<32} {100 * np.mean(xs):6.1f} %  n={len(xs)}", file=out)
    print("other measurements (MAE, n):", file=out)
    for name in ("disc_height_middle", "disc_height_index", "herniation_extent"):
        xs = tally.errors[name]
        if xs:
            print(f"  {name:<24} {np.mean(xs):7.3f}    n={len(xs)}", file=out)
    print("not assessed (levels): " + ", ".join(f"{k} {v}" for k, v in sorted(tally.not_assessed.items())), file=out)
    return figures


def run_phantoms(
    count: int, seed_start: int, processes: int, dump: Path | None, label_noise: float = 0.0
) -> dict[str, float]:
    seeds = [(i, seed_start + i, label_noise) for i in range(count)]
    overlap = {s[1] for s in seeds} & set(CALIBRATION_SEEDS)
    if overlap:
        raise SystemExit(f"seeds {sorted(overlap)[:5]}... were used for calibration; pick another --seed-start")
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    if processes > 1:
        with get_context("spawn").Pool(processes) as pool:
            for done, part in enumerate(pool.imap_unordered(evaluate_case, seeds), 1):
                rows += part
                if done % 25 == 0:
                    print(
                        f"  {done}/{count} series ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True
                    )
    else:
        for done, args in enumerate(seeds, 1):
            rows += evaluate_case(args)
            if done % 25 == 0:
                print(f"  {done}/{count} series ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    if dump:
        dump.write_text(json.dumps(rows, indent=None, default=str) + "\n")
    return print_phantom_table(rows, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.grading.evaluate", description=__doc__)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed-start", type=int, default=900000)
    parser.add_argument("--processes", type=int, default=2, help="at most 2 on the shared machine")
    parser.add_argument("--dump", type=Path, help="write every level's truth and grades as JSON")
    parser.add_argument(
        "--label-noise",
        type=float,
        default=0.0,
        help="roughen the true label maps' boundaries (probability per boundary pixel) to mimic a network",
    )
    parser.add_argument(
        "--real",
        nargs="?",
        const="../shared/data/real-lumbar-t2",
        default=None,
        help="measure disc heights on the real cases in this folder instead",
    )
    args = parser.parse_args(argv)
    if args.real is not None:
        from pipeline.grading.real import run_real

        run_real(Path(args.real))
        return 0
    run_phantoms(args.count, args.seed_start, min(max(args.processes, 1), 2), args.dump, args.label_noise)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
