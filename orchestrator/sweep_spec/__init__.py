"""A sweep spec: YAML -> a typed, frozen ``SweepSpec``; every user mistake named by its field path.

This is the only place that parses a spec, so it is where all validation lives: nothing launched
by Ray should fail minutes later on a value that could have been rejected here. Every problem is a
one-line ``SpecError`` of the form ``"<file>: <field.path[idx]>: <what is wrong>"`` (the CLI prints
it and exits 2), and only the first problem is reported, so the message stays short.

Schema (every section optional except ``name``; unknown keys are errors everywhere)::

    name: demo                 # [A-Za-z0-9_.-]+
    seed: 0
    storage: runs              # Ray results dir: a path (made absolute) or a URI (s3://, gs://, file://)
    time_budget_s: null
    data: {source: synthetic|folder|zip|celeba, path: null, image_size: 32|64, limit: null, count: 2000}
    model: {family: dcgan|wgan_gp|..., fc: false, z_dim: 100, conv_dim: 32, d_dropout: 0.0}
    train: {epochs: 5, batch_size: 64, optimizer: adam|rmsprop|sgd, lr: 2.0e-4, ema: true, ...,
            label_smoothing: null (dcgan's knob), gp_lambda: null, n_critic: null (wgan_gp's)}
    search: {algorithm: grid|random|optuna, num_samples: 1, startup_trials: null,
             params: {NAME: {KIND: VALUES}}}
    metrics: {backbone: rand|inception, samples: 1000, real_samples: null, every: 1, kid: true,
              kinds: null (fid, kid; or a list of fid|kid|prec), weights: null, batch_size: 250,
              final_samples: null, final_top_k: 3, final_draws: 3}
    scheduler: {type: sha|asha|hyperband|none, metric: fid, mode: null (the metric's: fid/kid min,
                prec max), grace_period: 1, reduction_factor: null (sha 2.25, asha/hyperband 3),
                max_t: null, signal: raw|best|smoothed, smoothing: 0.5, noise_bound: 2}
    resources: {cpus_per_trial: 1, gpus_per_trial: 0, max_concurrent: 2, max_failures: 2}
    checkpoint: {every: null, num_to_keep: 2}
    tracking: {uri: null, experiment: null}   # null uri: $MLFLOW_TRACKING_URI, else ./mlruns SQLite

The model/train sections are derived from ``trainers.config.TrainConfig`` (its fields' types,
bounds and defaults) and the families' knobs (``trainers.families``: a knob is accepted where the
sweep trains its family, null meaning the family's default); search params are described in
``params.py``.

Relative paths (``data.path``, ``storage``, ``metrics.weights``) are resolved against the process
cwd at load time and stored absolute, because Ray trials run in other working directories. With
the default ``check_data=True`` the data source is listed (names only, nothing decoded), so an
empty folder or a batch larger than the dataset fails here rather than seconds into ``run``;
``load(..., check_data=False)`` (``validate --no-data``, cluster submission) previews a spec whose
files are not on this machine.

Modules: ``sections`` (one model per section), ``params`` (the search section), ``sweep`` (the
whole spec and what is derived from it), ``loading`` (YAML, overrides), ``errors`` (the wording).
"""

from orchestrator.sweep_spec.errors import SpecError
from orchestrator.sweep_spec.loading import from_dict, load, parse_overrides
from orchestrator.sweep_spec.params import PARAM_KINDS, SEARCHABLE, ParamEntry, ParamSpec, SearchSpec
from orchestrator.sweep_spec.sections import (
    CheckpointSpec,
    DataSpec,
    MetricsSpec,
    ModelSpec,
    ResourcesSpec,
    SchedulerSpec,
    TrackingSpec,
    TrainSpec,
    default_tracking_uri,
)
from orchestrator.sweep_spec.sweep import SweepSpec

__all__ = [
    "PARAM_KINDS",
    "SEARCHABLE",
    "CheckpointSpec",
    "DataSpec",
    "MetricsSpec",
    "ModelSpec",
    "ParamEntry",
    "ParamSpec",
    "ResourcesSpec",
    "SchedulerSpec",
    "SearchSpec",
    "SpecError",
    "SweepSpec",
    "TrackingSpec",
    "TrainSpec",
    "default_tracking_uri",
    "from_dict",
    "load",
    "parse_overrides",
]
