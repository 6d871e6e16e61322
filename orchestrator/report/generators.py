"""A trial's generator, read back from its MLflow run (the best epoch's weights, or the last).

`gansweep generate` draws faces with it and the end-of-sweep re-measurement (`orchestrator.remeasure`)
scores it: both read the same artifact the same way, so it lives here rather than in either command.
A trial logs `model/best_generator.pt` = {"config": TrainConfig dict, "generator": state_dict}; the
model is rebuilt from plain values and loaded with `torch.load(weights_only=True)` (no pickled code).
"""

from __future__ import annotations

import os
import tempfile

import torch
from mlflow.tracking import MlflowClient
from torch import nn

from orchestrator.record import names
from orchestrator.report.records import ReportError
from trainers.config import TrainConfig, for_family
from trainers.models import build_generator


class GenerateError(ReportError):
    """Bad target, missing weights, output already there: exit 2 via the CLI."""


def load_generator(client: MlflowClient, run_id: str, last: bool = False) -> tuple[nn.Module, TrainConfig]:
    """Download a trial's generator (best epoch, or the last with `last`) and rebuild it on CPU."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    artifacts = {a.path for a in client.list_artifacts(run_id, names.MODEL_DIR)}
    wanted = names.GENERATOR if last or names.BEST_GENERATOR not in artifacts else names.BEST_GENERATOR
    if wanted not in artifacts:
        raise GenerateError(f"run {run_id} has no {wanted} (did it fail before its first epoch?)")
    with tempfile.TemporaryDirectory(prefix="gansweep-gen-") as tmp:
        local = client.download_artifacts(run_id, wanted, tmp)
        try:
            saved = torch.load(local, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - corrupt or foreign file
            raise GenerateError(f"run {run_id}: cannot load {wanted}: {err}") from None
    if not isinstance(saved, dict) or "config" not in saved or "generator" not in saved:
        raise GenerateError(f"run {run_id}: {wanted} is not a gansweep generator file")
    # for_family: files written before issue 22 hold every family's knobs
    cfg = TrainConfig.from_dict(for_family({**saved["config"], "device": "cpu"}))
    model = build_generator(cfg)
    model.load_state_dict(saved["generator"])
    return model.eval(), cfg
