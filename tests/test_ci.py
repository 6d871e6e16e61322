"""CI runs lint before the tests, and the README's command is the one CI runs."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ci_command() -> str:
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    return next(line for line in lines if line.startswith("python3 -m venv"))


def test_ci_lints_with_ruff_before_pytest() -> None:
    steps = [step.strip() for step in _ci_command().split("&&")]
    assert "ruff check ." in steps, steps
    assert steps.index("ruff check .") < steps.index("pytest"), steps


def test_readme_shows_the_command_ci_runs() -> None:
    readme = (REPO / "README.md").read_text()
    assert f"    {_ci_command()}\n" in readme
