"""The `gansweep` command: parse arguments, call one function, print, set the exit code.

Every error the user can fix (bad spec, missing data, missing FID weights, unknown sweep, ...)
is one line on stderr and exit code 2, raised before any trial starts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from orchestrator.errors import fail, handles_user_errors

spec_argument = click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="FIELD=VALUE", help="Override a spec field: data.path=..."
)


class Commands(click.Group):
    """A group whose `--help` lists each command's first sentence whole, wrapped, never cut to `...`
    (click cuts summaries to the width left beside the names)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gansweep", prog_name="gansweep")
def main() -> None:
    """gansweep: GAN hyper-parameter sweeps on Ray Tune, recorded in MLflow."""


def _load(spec_path: Path, overrides: tuple[str, ...], check_data: bool = True) -> Any:
    from orchestrator.sweep_spec import load, parse_overrides

    return load(spec_path, overrides=parse_overrides(overrides) or None, check_data=check_data)


def _print_plan(spec: Any, as_json: bool = False) -> None:
    from orchestrator.plan import plan, plan_lines

    if as_json:
        click.echo(json.dumps({"spec": spec.resolved(), "plan": plan(spec)}, indent=2, default=str))
        return
    for line in plan_lines(spec):
        click.echo(line)


def _load_listing_errors(spec: Path, overrides: tuple[str, ...], check_data: bool) -> Any:
    """`_load`, but every problem of the spec is printed (one line each) before exit 2."""
    from orchestrator.sweep_spec import SpecError

    try:
        return _load(spec, overrides, check_data=check_data)
    except SpecError as err:
        lines = getattr(err, "lines", None) or [str(err)]
        for line in lines:
            click.echo(f"gansweep: error: {line}", err=True)
        if len(lines) > 1:
            click.echo(f"gansweep: {len(lines)} problems in {spec}", err=True)
        sys.exit(2)


@main.command()
@spec_argument
@set_option
@click.option("--no-data", is_flag=True,
              help="Preview the plan of a spec whose data is not on this machine (data checks skipped).")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved spec and the plan as JSON.")
@handles_user_errors
def validate(spec: Path, overrides: tuple[str, ...], no_data: bool, as_json: bool) -> None:
    """Check SPEC (listing every problem) and print its plan: trials, trial-epochs, time; run nothing."""
    sweep = _load_listing_errors(spec, overrides, check_data=not no_data)
    if not no_data:  # like the data, the locations are checked on the machine that will run it
        from orchestrator.writable import check_sweep_locations

        check_sweep_locations(sweep)
    _print_plan(sweep, as_json)
    if no_data:
        click.echo("note: data checks skipped (--no-data); `gansweep run` checks the data", err=True)


def _resume_line(spec: Any, state_file: Path) -> str:
    """"resuming NAME: k of n trials left", counted from the sweep's MLflow record."""
    from mlflow.exceptions import MlflowException

    from orchestrator.console import resume_line
    from orchestrator.record.store import client_for, finished_trials

    planned = spec.grid_size() if spec.time_budget_s is None else None
    try:
        parent = json.loads(state_file.read_text())["parent_run_id"]
        finished = finished_trials(client_for(spec.tracking_uri), parent)
    except (MlflowException, OSError, KeyError, ValueError):  # no readable record: tune.run says why
        return f"resuming {spec.name}"
    return resume_line(spec.name, finished, planned)


def _best_flags(spec: Any, parent_run_id: str) -> str | None:
    """The sweep's best trial as `--set` flags for its swept params (None: no best yet)."""
    from orchestrator.record.names import set_flags
    from orchestrator.record.store import best_params, client_for

    values = best_params(client_for(spec.tracking_uri), parent_run_id, sorted(spec.search_params()))
    if not values:
        return None
    sections = {name: "model" for name in type(spec.model).model_fields}
    sections.update({name: "train" for name in type(spec.train).model_fields})
    return set_flags(values, sections)


@main.command()
@spec_argument
@set_option
@click.option("--resume", is_flag=True, help="Continue the latest sweep of this name where it stopped.")
@click.option("--dry-run", is_flag=True, help="Validate and print the plan, run nothing.")
@click.option("--address", default=None, help="Attach to a Ray cluster (auto, HOST:6379; ray:// is refused).")
@click.option("--verbose", is_flag=True, help="Show Ray's own logs and the trials' output.")
@handles_user_errors
def run(spec: Path, overrides: tuple[str, ...], resume: bool, dry_run: bool, address: str | None,
        verbose: bool) -> None:
    """Run the sweep described by SPEC (Ray Tune + successive halving, recorded in MLflow)."""
    sweep = _load(spec, overrides)
    if dry_run:
        _print_plan(sweep)
        return
    from orchestrator.writable import check_sweep_locations

    check_sweep_locations(sweep)  # before anything is created (a folder, a store, a parent run)
    from orchestrator import tune as tune_mod
    from orchestrator.report.summary import print_summary

    if address:
        from orchestrator.cluster import check_ray_address

        check_ray_address(address, sweep)
    if resume:
        exp_dir = tune_mod.experiment_dir(sweep, resume=True)
        tune_mod.check_resumable(sweep, exp_dir)  # a changed spec is refused before anything is said
        click.echo(_resume_line(sweep, exp_dir / tune_mod.SWEEP_STATE_FILE))
    result = tune_mod.run(sweep, resume=resume, address=address, verbose=verbose)
    print_summary(sweep, result)
    flags = _best_flags(sweep, result.parent_run_id)
    if flags:
        click.echo(f"best config as flags: gansweep run {spec} {flags}")
    if result.interrupted:
        click.echo(f"gansweep: sweep interrupted; finish it with: gansweep run {spec} --resume", err=True)
        sys.exit(130)


@main.command()
@click.option("--store", default=None,
              help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./mlruns).")
@click.option("--port", default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--wait", "wait_s", default=180.0, show_default=True, help="Seconds to wait for the server.")
@click.option("--sweep", default=None,
              help="Open this sweep's trials (name or parent run id; default: the latest).")
@handles_user_errors
def ui(store: str | None, port: int, host: str, wait_s: float, sweep: str | None) -> None:
    """Start the MLflow UI on the sweep store; prints the URL of the sweep's trials once it answers."""
    from orchestrator.record.server import serve_ui

    sys.exit(serve_ui(store, host, port, wait_s, echo=click.echo, fail=fail, sweep=sweep))


def _note(text: str) -> None:
    """A note on stderr wrapped to the terminal's width (a path or URL is never split)."""
    import shutil
    import textwrap

    width = shutil.get_terminal_size((100, 24)).columns
    click.echo(textwrap.fill(text, width=max(60, width), subsequent_indent="  ", break_long_words=False,
                             break_on_hyphens=False), err=True)


@main.command()
@click.argument("sweeps", nargs=-1, required=True, metavar="SWEEP [SWEEP2]")
@click.option("--store", default=None, help="MLflow tracking URI (default: sqlite:///mlruns/mlflow.db).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table",
              show_default=True)
@click.option("--wide", is_flag=True, help="Table view: every column, full status text (default fits 100).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the sweep's self-contained HTML report (plots embedded) to this new file.")
@handles_user_errors
def report(sweeps: tuple[str, ...], store: str | None, fmt: str, wide: bool, html_file: Path | None) -> None:
    """Compare the trials of SWEEP (a sweep name or parent run id), or line up two sweeps.

    Ranked by the re-measured final value where there is one, else best FID; two sweeps whose
    recorded measurement protocols differ are refused (exit 2), older sweeps without a protocol
    record measured with different metrics are shown side by side but never ranked together.
    """
    if len(sweeps) > 2:
        raise click.UsageError("give one sweep, or two to compare")
    if html_file is not None and (len(sweeps) > 1 or html_file.exists()):
        fail(f"--html {html_file}: " + ("a file of that name exists; choose a new name" if html_file.exists()
                                        else "one sweep at a time"))
    from orchestrator import report as report_mod

    reports = report_mod.load_reports(store, list(sweeps))
    for rep in reports:
        if rep.sweep.picked:
            _note(f"gansweep: note: {rep.sweep.picked}")
    if fmt == "table":
        report_mod.print_tables(reports, wide=wide)
        for rep in reports:  # the re-measured winner vs the runner-up, beyond noise or within it
            for line in rep.sweep.verdicts:  # over sample draws, and across training seeds
                click.echo(f"{rep.sweep.name}: {line}")
        client = report_mod.open_store(store)
        for rep in reports:
            _note(report_mod.plots_line(client, rep))
    else:
        click.echo(report_mod.render_text(reports, fmt), nl=False)
    if len(reports) > 1 and not report_mod.comparable(reports) and fmt in ("csv", "json"):
        click.echo(f"gansweep: note: {report_mod.not_comparable_note(reports)}", err=True)
    if html_file is not None:
        report_mod.write_html(report_mod.open_store(store), reports[0], html_file)
        click.echo(f"wrote {html_file} (self-contained: plots embedded, Optuna's plots)", err=True)


@main.command()
@click.argument("target", metavar="RUN_OR_SWEEP")
@click.option("-n", "count", type=int, default=None,
              help="Images (default 64), or frames with --interpolate (10).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("faces.png"), show_default=True,
              help="PNG file, or a folder with --individual.")
@click.option("--seed", type=int, default=0, show_default=True, help="Latent seed: same seed, same images.")
@click.option("--store", default=None, help="MLflow tracking URI (default: sqlite:///mlruns/mlflow.db).")
@click.option("--individual", is_flag=True, help="One PNG per image in the folder -o.")
@click.option("--interpolate", is_flag=True, help="A latent walk strip (slerp between seeded latents).")
@click.option("--anchors", type=int, default=2, show_default=True,
              help="Seeded latents the walk passes through.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.option("--last", is_flag=True, help="Use the last epoch's weights instead of the best epoch's.")
@handles_user_errors
def generate(target: str, count: int | None, output: Path, seed: int, store: str | None, individual: bool,
             interpolate: bool, anchors: int, force: bool, last: bool) -> None:
    """Sample faces from a trial's generator (a child run id) or a sweep's best trial (name or run id)."""
    from orchestrator.generate import generate as generate_images

    used, paths = generate_images(target, output, n=count, seed=seed, store=store, individual=individual,
                                  interpolate=interpolate, anchors=anchors, force=force, last=last)
    where = output if individual else paths[0]
    click.echo(f"wrote {len(paths) if individual else 1} PNG(s) to {where} from {used.label}")


from orchestrator import cluster as _cluster  # noqa: E402  (stdlib + click only at import time)

main.add_command(_cluster.submit)
main.add_command(_cluster.jobs)
main.add_command(_cluster.stop)

if __name__ == "__main__":
    main()
