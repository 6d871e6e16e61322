"""The names of the MLflow record: tags, params and metrics a sweep writes and reports read.

Readers (report, generate, tests) import these constants instead of spelling strings, so a key
that changes here changes everywhere at once.
"""

from __future__ import annotations

from typing import Any

# Our tags (gansweep.*): what kind of run, which sweep/trial, how it ended.
TAG_SWEEP = "gansweep.sweep"
TAG_KIND = "gansweep.kind"  # KIND_SWEEP | KIND_TRIAL
KIND_SWEEP = "sweep"  # the parent run
KIND_TRIAL = "trial"  # a child run
KIND_RESEED = "reseed"  # a child run retraining a top trial with another seed (metrics.final_seeds)
TAG_TRIAL = "gansweep.trial_id"
TAG_STATUS = "gansweep.status"  # running | completed | stopped | failed
TAG_DETAIL = "gansweep.status_detail"
TAG_SWEPT = "gansweep.swept_params"
TAG_BACKBONE = "gansweep.fid_backbone"
TAG_METRIC = "gansweep.metric"
TAG_NODE = "gansweep.node_id"
TAG_RESTARTS = "gansweep.restarts"  # times Tune restarted the trial from its checkpoint (dead worker)
TAG_SPEC_HASH = "gansweep.spec_hash"
TAG_PROTOCOL_KEY = "gansweep.protocol_key"  # short hash of the measurement protocol (F compares it)
TAG_PROTOCOL = "gansweep.protocol"  # the protocol dict as JSON
TAG_BEST_RUN = "gansweep.best_run_id"  # on the parent: the child run holding the sweep's best
TAG_BEST_TRIAL = "gansweep.best_trial_id"
TAG_BEST_EPOCH = "gansweep.best_epoch"
TAG_LEASE_OWNER = "gansweep.lease.owner"  # on the parent: the driver that holds the sweep (record/lease.py)
TAG_LEASE_HEARTBEAT = "gansweep.lease.heartbeat"  # on the parent: that driver's last heartbeat (unix s)
TAG_FINAL_METRIC = "gansweep.final_metric"  # on the parent: the `final_key` of the re-measured metric
TAG_RESEED_OF = "gansweep.reseed_of"  # on a reseed run: the Tune trial id of the trial it retrains
TAG_RESEED_INDEX = "gansweep.reseed_index"  # on a reseed run: its seed index (1..N-1; 0 is the original)

# MLflow's own tags: the UI shows them in its Source/Version columns and the run page.
PARENT = "mlflow.parentRunId"
GIT_COMMIT = "mlflow.source.git.commit"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"

# Images logged with `log_image(key=..., step=epoch)`: MLflow's image slider on the run page.
SAMPLES_KEY = "samples"  # the fixed-noise grid of each epoch, on every child
REAL_KEY = "real_images"  # a grid of real training images, on the parent, for comparison
MODEL_DIR = "model"  # a trial's artifact folder; its files, by name:
BEST_GENERATOR_NAME = "best_generator.pt"  # {"config", "generator", "epoch", "metric", "value"}
GENERATOR_NAME = "generator.pt"  # the last epoch's generator, when the trial exposes it
TRIAL_CONFIG_NAME = "trial_config.json"  # {"config", "spec", "best", "final"}
BEST_GENERATOR = f"{MODEL_DIR}/{BEST_GENERATOR_NAME}"  # artifact paths, as `list_artifacts` gives them
GENERATOR = f"{MODEL_DIR}/{GENERATOR_NAME}"
SPEC_DIR = "spec"  # the parent's artifact folder: the spec file, resolved spec, real statistics
SPEC_PARAM_PREFIX = "spec."  # the parent's params: the resolved spec, flattened (`spec.train.lr`)

# The saved view of the runs table (MLflow's "shared view": an experiment tag the UI reads when the
# URL carries `viewStateShareKey=<key>`): opens on best FID, the swept params, status.
VIEW_KEY = "gansweep"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"

# Numbers a trial reports that are bookkeeping, not something to chart: kept out of the metrics.
# Tune's own counters plus our progress fields. `time_total_s` is Tune's trial clock (it survives
# restores); it is kept as a metric because reports sum trial wall time from it.
BOOKKEEPING = frozenset({
    "epoch", "images_seen", "final", "node_id", "already_finished",
    "timestamp", "training_iteration", "pid", "iterations_since_restore", "time_since_restore",
    "time_this_iter_s", "timesteps_total", "episodes_total", "timesteps_since_restore", "done",
    "episodes_this_iter", "timesteps_this_iter", "experiment_tag", "checkpoint_dir_name",
})
KEEP_FROM_TUNE = frozenset({"time_total_s"})


def short_trial_id(trial_id: str) -> str:
    """Tune ids are `<experiment hash>_<index>`; the index (`00003`) is the one form people are shown."""
    return trial_id.rsplit("_", 1)[-1]


BEST_PREFIX = "best_"
FINAL_PREFIX = "final_"
BEST_EPOCH = f"{BEST_PREFIX}epoch"  # on a child: the step of `best_key(metric)`

# Tune result keys (also logged as metrics): a trial's last report carries FINAL_KEY; beside the raw
# metric a trial reports its decision signals (`signal_key`), which the schedulers judge.
FINAL_KEY = "final"  # 1.0 on a trial's last report (trained out or diverged): searchers tell it from a stop
SIGNAL_SUFFIX = {"raw": "", "best": "_best", "smoothed": "_smooth"}
SIGNAL_STEP_KEY = "signal_step"  # report index of the latest fresh evaluation: the schedulers' time_attr


def best_key(metric: str) -> str:
    """`best_<metric>`: on a child the best value so far, on the parent the sweep's best.

    Report tables name their best-value column the same way.
    """
    return f"{BEST_PREFIX}{metric}"


def final_key(metric: str) -> str:
    """`final_<metric>`: a trial's re-measured value at the end of the sweep (`orchestrator.remeasure`)."""
    return f"{FINAL_PREFIX}{metric}"


def final_metric(key: str) -> str | None:
    """The metric a `final_key` names (`final_fid10k_rand` -> `fid10k_rand`); None for any other key."""
    return key.removeprefix(FINAL_PREFIX) if key.startswith(FINAL_PREFIX) and key != FINAL_PREFIX else None


def signal_key(metric: str, signal: str) -> str:
    """The result key of ``signal`` for ``metric``: ``fid2k_rand`` -> ``fid2k_rand_best`` / ``_smooth``."""
    if signal not in SIGNAL_SUFFIX:
        raise ValueError(f"unknown decision signal {signal!r} (expected one of {', '.join(SIGNAL_SUFFIX)})")
    return metric + SIGNAL_SUFFIX[signal]

NOISE_SUFFIX = "_noise"  # trainers.metrics.evaluator.noise_name spells it too (a test holds them equal)


def std_key(key: str) -> str:
    """`<key>_std`: the standard deviation over independent draws of a re-measured value."""
    return f"{key}_std"


def draws_key(key: str) -> str:
    """`<key>_draws`: each independent draw of a re-measured value (step = draw index)."""
    return f"{key}_draws"


TAG_VERDICT = "gansweep.verdict"  # on the parent: the winner vs the runner-up, beyond noise or within it
MARGIN = f"{FINAL_PREFIX}margin"  # on the parent: runner-up's final mean - winner's (lower is better)
MARGIN_NOISE = f"{FINAL_PREFIX}margin_noise"  # its standard error over the paired draws
TAG_SEED_VERDICT = "gansweep.seed_verdict"  # on the parent: the same question across training seeds
SEED_MARGIN = f"{FINAL_PREFIX}seed_margin"  # on the parent: runner-up's mean over seeds - winner's
SEED_MARGIN_NOISE = f"{FINAL_PREFIX}seed_margin_noise"  # its standard error over the seeds (unpaired)


def seeds_key(key: str) -> str:
    """`<key>_seeds`: on a top-K trial, the mean of a re-measured value over its training seeds
    (`metrics.final_seeds`); `std_key(seeds_key(key))` is their std."""
    return f"{key}_seeds"


def per_seed_key(key: str) -> str:
    """`<key>_per_seed`: each training seed's re-measured value (step = seed index, 0 = the original)."""
    return f"{key}_per_seed"


def noise_key(key: str) -> str:
    """`<key>_noise`: the standard deviation of a metric value over sample draws (`fid2k_rand_noise`),
    or of a decision signal (`fid2k_rand_best_noise`); logged per epoch beside the value."""
    return f"{key}{NOISE_SUFFIX}"


def chartable(result: dict[str, Any]) -> dict[str, float]:
    """The values of a Tune result that become MLflow metrics: losses, FID/KID, speed.

    Losses and the metrics are what users chart; `img_per_s`, `epoch_s` and `eval_s` chart a
    slowdown (a throttled GPU, a contended node) and reports sum them into trial time.
    Everything in BOOKKEEPING, booleans and non-numbers stay out of the charts.
    """
    out: dict[str, float] = {}
    for key, value in result.items():
        if key in BOOKKEEPING or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if "/" in key:  # Tune's nested dicts come flattened as "config/..."; not ours
            continue
        out[key] = float(value)
    return out


def flat_params(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dict -> {"a.b": "value"}, the form MLflow params take (strings, <= 6000 chars)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat_params(value, name + "."))
        else:
            out[name] = str(value)[:6000]
    return out


def set_flags(config: dict[str, Any], sections: dict[str, str]) -> str:
    """A trial's values as `--set section.field=value` flags to paste after `gansweep run SPEC`.

    `sections` maps a TrainConfig field to the spec section it is written in (model/train/...).
    """
    flags = []
    for key in sorted(config):
        section = sections.get(key)
        name = f"{section}.{key}" if section else key
        flags.append(f"--set {name}={_plain(config[key])}")
    return " ".join(flags)


def _plain(value: Any) -> str:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def metric_of(key: str) -> str:
    """The metric a record key is about: ``final_prec2k_rand``, ``best_fid1k_rand``, ``fid1k_rand_best``,
    ``final_fid1k_rand_std`` -> the bare protocol name (keys of no metric come back unchanged)."""
    for prefix in (FINAL_PREFIX, BEST_PREFIX, "budget_", "last_"):  # report columns: budget_/last_<metric>
        key = key.removeprefix(prefix)
    signals = (s for s in SIGNAL_SUFFIX.values() if s)
    for suffix in ("_std", "_draws", "_seeds", "_per_seed", NOISE_SUFFIX, *signals):
        key = key.removesuffix(suffix)
    return key


def sign_of(key: str) -> float:
    """+1 when the key's metric is better lower (fid, kid), -1 when higher (prec): ``sign * value``
    is then lower-is-better for every ranking (the metric registry's ``mode``, trainers.registry)."""
    from trainers.registry import metric_mode

    return 1.0 if metric_mode(metric_of(key)) == "min" else -1.0


def best_of(values: Any, key: str) -> float:
    """The best of ``values`` for ``key``'s metric (min or max by its mode); NaN when there are none."""
    finite = [float(v) for v in values if v is not None and v == v]
    if not finite:
        return float("nan")
    s = sign_of(key)
    return min(finite, key=lambda v: s * v)
