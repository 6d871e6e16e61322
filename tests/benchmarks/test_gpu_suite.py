"""benchmarks/gpu_suite.py in its CI mode (--quick --device cpu), so the GPU script never rots.

Checks the table's shape and that every figure is a positive finite number; no timing thresholds (speed
is what the script reports, on the device it was written for).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_suite.py"


def _rows(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("| ")]
    assert lines[0].split("|")[1:-1] == [
        " section ", " config ", " variant ", " value ", " unit ", " vs base ", " peak MiB "
    ]
    return [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines[1:]]


def _number(cell: str) -> float:
    return float(cell.rstrip("x").replace(",", ""))


def test_quick_cpu_run_prints_the_whole_table(celeba_dir: Path, tmp_path: Path) -> None:
    subset = tmp_path / "subset"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    made = subprocess.run(
        [sys.executable, str(SCRIPT), "--make-subset", str(subset), "--celeba-zip",
         str(celeba_dir / "celeba64_30k.zip"), "--images", "256"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert made.returncode == 0, made.stderr
    assert len(list((subset / "images" / "celeba64").glob("*.jpg"))) == 256

    out = tmp_path / "table.md"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--device", "cpu", "--data", str(subset), "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=840,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = _rows(run.stdout)
    assert out.read_text().count("\n| ") == len(rows) + 1  # the same table written to --out

    by_section: dict[str, list[list[str]]] = {}
    for row in rows:
        by_section.setdefault(row[0], []).append(row)
    assert list(by_section) == ["trainer", "share", "fid", "train"]

    trainer = by_section["trainer"]
    variants = ["seed-style fp32 (workers=0)", "ours fp32", "ours bf16", "ours bf16+channels_last"]
    assert [r[1].split()[0] for r in trainer] == ["dcgan"] * 4 + ["wgan_gp"] * 4
    assert [r[2] for r in trainer] == variants * 2
    for r in trainer:
        assert r[4] == "img/s" and _number(r[3]) > 0 and _number(r[5]) > 0
    for base, *ours in (trainer[:4], trainer[4:]):
        assert _number(base[5]) == 1.0
        for r in ours:  # the ratio is ours / seed-style of the same config, as printed
            assert math.isclose(_number(r[5]), _number(r[3]) / _number(base[3]), rel_tol=0.05, abs_tol=0.01)

    share = by_section["share"]
    assert [r[2] for r in share] == ["1 process", "2 processes, aggregate"]
    assert all(_number(r[3]) > 0 for r in share)

    fid = by_section["fid"]
    assert [r[1].split()[0].rstrip(",") for r in fid] == ["inception", "rand", "rand"]
    assert all(r[4] == "s" and _number(r[3]) > 0 for r in fid)

    train = by_section["train"]
    assert [r[2].split(" (")[0] for r in train] == [f"fid_rand epoch {k}" for k in (1, 2, 3)]
    assert all(r[4] == "fid" and math.isfinite(_number(r[3])) and _number(r[3]) > 0 for r in train)


def test_import_path_needs_only_torch() -> None:
    """The device machine has no Ray, MLflow or optuna: the suite must not import them."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('gpu_suite', {str(SCRIPT)!r})\n"
        "mod = sys.modules['gpu_suite'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(mod)\n"
        "print(','.join(sorted(n for n in sys.modules if n.split('.')[0] in "
        "{'ray', 'mlflow', 'optuna', 'orchestrator'})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == ""
