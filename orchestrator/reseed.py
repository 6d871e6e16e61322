"""Seed variance of the answer: the top trials trained again with other seeds (`metrics.final_seeds`).

Why: the end-of-sweep re-measurement (`orchestrator.remeasure`) says how well the sample draws
measured the generators that were trained; a GAN trained again with another seed is another
generator, often a different FID. With ``metrics.final_seeds: N`` (N > 1) each of the top
``metrics.final_top_k`` trials (the ones re-measured) is trained from scratch N-1 more times, for its
full epochs, with the same config and seeds derived from its own (`sampling.reseed_seed`).

How: a second Ray Tune experiment of the same sweep, `reseed/` inside the sweep's folder on the same
storage: one `tune.grid_search` point per (trial, seed index), the same trainable, resources,
concurrency limit and checkpointing, no scheduler (every reseed trains to the end). The sweep's MLflow
writer records each as a child run of the sweep's parent of kind ``reseed``, tagged with the trial it
retrains (`names.TAG_RESEED_OF`, `names.TAG_RESEED_INDEX`); reports and the re-measurement's ranking
count sweep trials only. Each reseed's best generator is then measured exactly as the re-measurement
measured the original (same samples, same draws, same latents) and logged on its run as
``final_<metric>``; each top trial gets its N per-seed values, their mean and std
(``final_<metric>_per_seed``, ``_seeds``, ``_seeds_std``), and the parent the verdict across seeds
(`uncertainty.record_seeds`). Cost: (N-1) x K full trainings (`plan.reseed_trainings` counts them).

`--resume`: a driver killed during this phase resumes it. The reseed experiment is restored from Tune's
snapshot (unfinished reseeds continue from their last checkpoint, in the same MLflow runs); if the
driver died before Tune's first snapshot, the points without a finished run start again in a new
experiment (`reseed-2/`, ...) and the orphaned runs are closed as KILLED (tag status `abandoned`).
Measurements and aggregates already on record are kept, never logged twice (`remeasure.FinalMeasure.run`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs
from mlflow.tracking import MlflowClient
from ray import tune

from orchestrator import uncertainty
from orchestrator.record import names
from orchestrator.remeasure import FinalMeasure, final_samples
from orchestrator.sampling import RESEED_INDEX, RESEED_KEY, RESEED_OF, reseed_points
from orchestrator.storage import SweepFolder, run_config
from orchestrator.sweep_spec import SweepSpec

RESEED_EXPERIMENT = "reseed"  # the Tune experiment's folder inside the sweep's folder (then reseed-2, ...)
ENDED = ("completed", "stopped", "failed")


@dataclass(frozen=True)
class ReseedPhase:
    """What the driver needs to run the reseeds: the sweep's folder, trainable and MLflow writer."""

    spec: SweepSpec
    folder: SweepFolder
    trainable: Any  # the sweep's trainable (resources and shared inputs already attached)
    callbacks: Any  # a tune Callback: the sweep's MLflow writer (orchestrator.tune.SweepCallbacks)
    reuse_actors: bool = True

    @property
    def storage(self) -> str:
        return self.folder.uri

    def uri(self, name: str) -> str:
        return f"{self.storage.rstrip('/')}/{name}"

    def attempts(self) -> list[tuple[str, bool]]:
        """The reseed experiments started so far, oldest first: (folder name, restorable).

        Restorable means Tune snapshotted it (an ``experiment_state-*.json``): ``Tuner.can_restore``
        looks only for ``tuner.pkl``, written before the first snapshot, and restoring a folder that
        has no snapshot makes Tune start an unrelated experiment.
        """
        fs, base = pafs.FileSystem.from_uri(self.storage)
        found = []
        for info in fs.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
            number = info.base_name.removeprefix(RESEED_EXPERIMENT).removeprefix("-") or "1"
            if info.type != pafs.FileType.Directory or not info.base_name.startswith(RESEED_EXPERIMENT) \
                    or not number.isdigit():
                continue
            files = fs.get_file_info(pafs.FileSelector(info.path, allow_not_found=True))
            snapshot = any(f.base_name.startswith("experiment_state-") for f in files)
            found.append((int(number), info.base_name, snapshot))
        return [(name, snapshot) for _, name, snapshot in sorted(found)]


def reseed_runs(client: MlflowClient, experiment_id: str, parent_run_id: str) -> list[Any]:
    return client.search_runs(
        [experiment_id], filter_string=f"tags.`{names.PARENT}` = '{parent_run_id}' "
                                       f"and tags.`{names.TAG_KIND}` = '{names.KIND_RESEED}'",
        max_results=10_000,
    )


def _point_id(run: Any) -> tuple[str, int]:
    tags = run.data.tags
    return tags.get(names.TAG_RESEED_OF, ""), int(tags.get(names.TAG_RESEED_INDEX, "0"))


def _ended(runs: list[Any]) -> dict[tuple[str, int], Any]:
    """The finished run of each reseed point (the last started one where a point ran twice)."""
    out: dict[tuple[str, int], Any] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time):
        if run.data.tags.get(names.TAG_STATUS) in ENDED:
            out[_point_id(run)] = run
    return out


def run_reseeds(phase: ReseedPhase, client: MlflowClient, experiment_id: str, parent_run_id: str,
                configs: dict[str, dict[str, Any]]) -> bool:
    """Train every reseed point of ``configs`` ({trial id: its Tune config}) that has no finished run;
    False when the phase was interrupted (Ctrl-C: `--resume` finishes it)."""
    spec = phase.spec
    points = reseed_points(configs, spec.metrics.final_seeds, spec.seed)
    wanted = {(p[RESEED_OF], p[RESEED_INDEX]) for p in points}
    if wanted <= set(_ended(reseed_runs(client, experiment_id, parent_run_id))):
        return True
    attempts = phase.attempts()
    restorable = [name for name, snapshot in attempts if snapshot]
    if restorable:  # a driver died during this phase: continue Tune's experiment
        tuner = tune.Tuner.restore(phase.uri(restorable[-1]), trainable=phase.trainable,
                                   resume_unfinished=True, resume_errored=True)
    else:  # the first attempt, or one killed before Tune's first snapshot: a new folder beside it
        name = f"{RESEED_EXPERIMENT}-{len(attempts) + 1}" if attempts else RESEED_EXPERIMENT
        done = set(_ended(reseed_runs(client, experiment_id, parent_run_id)))
        _close_orphans(client, experiment_id, parent_run_id)
        todo = [p for p in points if (p[RESEED_OF], p[RESEED_INDEX]) not in done]
        tuner = tune.Tuner(
            phase.trainable,
            param_space={RESEED_KEY: tune.grid_search(todo)},  # one trial per point
            tune_config=tune.TuneConfig(
                num_samples=1,  # no scheduler: every reseed trains its full epochs
                max_concurrent_trials=spec.resources.max_concurrent or None,
                reuse_actors=phase.reuse_actors,
                trial_dirname_creator=_dirname,
            ),
            # inside the sweep's folder, on the sweep's storage, recorded by the sweep's writer
            run_config=run_config(spec, name, phase.storage, phase.callbacks),
        )
    tuner.fit()
    return wanted <= set(_ended(reseed_runs(client, experiment_id, parent_run_id)))


def _dirname(trial: Any) -> str:
    """`reseed<index>_of_<trial>_<reseed trial id>`: Tune's default would spell out the whole point."""
    point = trial.config.get(RESEED_KEY, {})
    return f"reseed{point.get(RESEED_INDEX)}_of_{point.get(RESEED_OF)}_{trial.trial_id}"


def _close_orphans(client: MlflowClient, experiment_id: str, parent_run_id: str) -> None:
    """Reseed runs a killed driver left open that Tune cannot restore (no snapshot yet): closed as
    KILLED, their points train again in a new run."""
    for run in reseed_runs(client, experiment_id, parent_run_id):
        if run.data.tags.get(names.TAG_STATUS, "running") == "running":
            client.set_tag(run.info.run_id, names.TAG_STATUS, "abandoned")
            client.set_tag(run.info.run_id, names.TAG_DETAIL,
                           "abandoned: the driver died before Tune's first snapshot; trained again")
            client.set_terminated(run.info.run_id, status="KILLED")


def record_seed_spread(spec: SweepSpec, client: MlflowClient, experiment_id: str, parent_run_id: str,
                       info: dict[str, Any], remeasured: dict[str, float],
                       progress: bool = False) -> uncertainty.Verdict | None:
    """Measure each finished reseed like the re-measurement, then log every top trial's values over its
    seeds and the verdict across seeds. ``remeasured``: {run id: final mean} of the top trials."""
    n = final_samples(spec, int(info["images"]))
    measure = FinalMeasure.build(spec, info, n, progress)
    key = measure.key
    ended = _ended(reseed_runs(client, experiment_id, parent_run_id))
    measured: dict[str, uncertainty.Measured] = {}
    logged: set[str] = set()
    for run_id, original in remeasured.items():
        run = client.get_run(run_id)
        trial_id = run.data.tags.get(names.TAG_TRIAL, run_id)
        values = [original]
        for index in range(1, spec.metrics.final_seeds):
            reseed = ended.get((trial_id, index))
            if reseed is None or reseed.data.tags.get(names.TAG_STATUS) != "completed":
                continue  # a failed reseed has no generator worth measuring; its trial has one seed fewer
            draws, done = measure.run(client, reseed, spec.metrics.final_draws)
            seed = uncertainty.Measured(trial_id, draws)
            if not done:  # its draws were on record but not their mean (a driver killed in between)
                uncertainty.record(client, parent_run_id, key, {reseed.info.run_id: seed}, verdict_tag=False)
            values.append(seed.mean)
        if names.seeds_key(key) in run.data.metrics:
            logged.add(run_id)
        measured[run_id] = uncertainty.Measured(names.short_trial_id(trial_id), tuple(values))
    return uncertainty.record_seeds(client, parent_run_id, key, measured, logged=logged)
