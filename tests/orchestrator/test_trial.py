"""orchestrator.trial: what a checkpoint holds and when, the artifact channel the MLflow writer
reads, divergence as a final result. Real torch training (tiny), real Tune checkpoints and, for
divergence, a real Tune run."""

from __future__ import annotations

import io
import json
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from ray import tune

from orchestrator import trial
from orchestrator.schedulers import decision_steps
from orchestrator.sweep_spec import from_dict
from trainers.config import TrainConfig
from trainers.loop import train
from trainers.models import build_generator


def _inputs(**overrides: Any) -> trial.TrialInputs:
    values: dict[str, Any] = dict(
        base_config={}, data_path="", stats_path=None, backbone="rand", samples=0, kinds=("fid",),
        weights=None, metric_batch_size=1,
        resolved_spec=from_dict({"name": "t"}, check_data=False).resolved(),
    )
    values.update(overrides)
    return trial.TrialInputs(**values)


def _cfg(**overrides: Any) -> TrainConfig:
    values = {"conv_dim": 8, "image_size": 32, "z_dim": 16, "batch_size": 32, "epochs": 3, "device": "cpu"}
    return TrainConfig.from_dict({**values, **overrides})


DATA = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)


def test_checkpoint_points_are_the_rungs_or_every_n_reports() -> None:
    spec = from_dict({"name": "t", "train": {"epochs": 20},
                      "scheduler": {"type": "asha", "grace_period": 2, "reduction_factor": 3}},
                     check_data=False)
    assert decision_steps(spec, 1000) == (2, 6, 18)  # ASHA's milestones below max_t = 20
    fifo = from_dict({"name": "t", "scheduler": {"type": "none"}}, check_data=False)
    assert decision_steps(fifo, 1000) == ()
    rungs = _inputs(checkpoint_steps=(2, 6, 18))
    assert [s for s in range(1, 21) if trial.is_checkpoint_step(rungs, s)] == [2, 6, 18]
    every = _inputs(checkpoint_every=5, checkpoint_steps=(2, 6, 18))  # `every` wins
    assert [s for s in range(1, 21) if trial.is_checkpoint_step(every, s)] == [5, 10, 15, 20]
    # Training time bounds the loss of a dead worker whatever the rungs (scheduler none: no rungs).
    timed = _inputs(checkpoint_every_s=600.0)
    assert not trial.is_checkpoint_step(timed, 3, trained_s=599.0)
    assert trial.is_checkpoint_step(timed, 3, trained_s=600.0)
    assert trial.is_checkpoint_step(_inputs(checkpoint_every_s=600.0, checkpoint_steps=(2,)), 2, 1.0)
    assert not trial.is_checkpoint_step(_inputs(checkpoint_every_s=None), 3, trained_s=1e9)
    # The spec's default: every 10 minutes of training; null turns it off.
    assert from_dict({"name": "t"}, check_data=False).checkpoint.every_s == 600.0
    off = from_dict({"name": "t", "checkpoint": {"every_s": None}}, check_data=False)
    assert off.checkpoint.every_s is None


class _Payload:
    """An arbitrary object: unpickling it would call `os.system` (what a hostile checkpoint does)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        import os

        return (os.system, ("touch gansweep-pwned",))


def test_a_resume_state_holding_an_arbitrary_pickled_object_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / trial.STATE_FILE
    torch.save({"version": 2, "G": {"w": torch.zeros(2)}, "progress": _Payload()}, path)
    with pytest.raises(Exception, match="refused, not a plain resume state") as err:
        trial.load_resume_state(path, "cpu")
    assert isinstance(err.value, pickle.UnpicklingError)
    assert not (tmp_path / "gansweep-pwned").exists(), "no code of the file ran"
    pickle.loads(pickle.dumps(_Payload()))  # the payload is real: a plain unpickler runs it
    assert (tmp_path / "gansweep-pwned").exists()


def test_the_best_generator_follows_the_metric_in_its_direction() -> None:
    cfg = _cfg()
    seen: dict[str, trial._Best] = {"min": trial._Best("fid", "min"), "max": trial._Best("fid", "max")}
    values = [3.0, 2.0, math.nan, 2.5, 4.0]

    def report(epoch_report: Any) -> None:
        for best in seen.values():
            best.offer(epoch_report.step, {"fid": values[epoch_report.step - 1]}, epoch_report)

    train(_cfg(epochs=5), DATA, None, report)
    assert (seen["min"].step, seen["min"].value) == (2, 2.0)
    assert (seen["max"].step, seen["max"].value) == (5, 4.0)
    generator = build_generator(cfg)
    generator.load_state_dict(seen["min"].generator)  # a copy that outlived its report


def test_checkpoints_hold_resume_state_at_checkpoint_points_and_only_generators_at_the_end(
    tmp_path: Path,
) -> None:
    cfg = _cfg()
    inputs = _inputs()
    best = trial._Best("fid", "min")
    scores = {1: 5.0, 2: 4.0, 3: 6.0}  # best at report 2

    def report(epoch_report: Any) -> None:
        step = epoch_report.step
        best.offer(step, {"fid": scores[step]}, epoch_report)
        folder = tmp_path / f"ckpt{step}"
        folder.mkdir()
        trial._write_checkpoint(folder, epoch_report, cfg, inputs, best, final=step == cfg.epochs)

    train(cfg, DATA, None, report)
    middle, final = tmp_path / "ckpt2", tmp_path / "ckpt3"
    names = trial.STATE_FILE, trial.BEST_GENERATOR_FILE, trial.GENERATOR_FILE, trial.CONFIG_FILE
    assert {p.name for p in middle.iterdir()} == {names[0], names[1], names[3]}
    assert {p.name for p in final.iterdir()} == {names[1], names[2], names[3]}
    assert json.loads((final / trial.CONFIG_FILE).read_text())["final"] is True

    # `generate` reads these files with weights_only=True and rebuilds the model from their config.
    saved = torch.load(final / trial.BEST_GENERATOR_FILE, map_location="cpu", weights_only=True)
    assert (saved["step"], saved["value"]) == (2, 4.0)
    build_generator(TrainConfig.from_dict(saved["config"])).load_state_dict(saved["generator"])

    # The resume state continues the run: only the last report is left to make.
    steps: list[int] = []
    resume = trial.load_resume_state(middle / trial.STATE_FILE, "cpu")  # weights_only=True reads it
    train(cfg, DATA, None, lambda r: steps.append(r.step), resume=resume)
    assert steps == [3]

    # What the writer logs at the end; at report 2 the last generator is the best one (one file).
    with trial.model_files(tune.Checkpoint.from_directory(str(middle))) as files:
        assert set(files) == {"best_generator.pt", "generator.pt", "trial_config.json"}
        assert files["generator.pt"] == files["best_generator.pt"]
    with trial.model_files(tune.Checkpoint.from_directory(str(final))) as files:
        assert files["generator.pt"] != files["best_generator.pt"]
    with trial.model_files(None) as files:
        assert files == {}


def test_the_sample_grid_travels_in_the_result_and_the_writer_takes_it_out() -> None:
    grids: list[np.ndarray] = []
    train(_cfg(epochs=1), DATA, None, lambda r: grids.append(r.grid))
    result = {"d_loss": 1.0, trial.GRID_KEY: trial._png(grids[0])}
    png = trial.pop_epoch_grid(result)
    assert result == {"d_loss": 1.0}, "no image bytes left for Tune's own loggers"
    assert png is not None
    with Image.open(io.BytesIO(png)) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), grids[0])
    assert trial.pop_epoch_grid({"d_loss": 1.0}) is None


@pytest.mark.slow
def test_divergence_is_a_final_result_not_an_error(tmp_path: Path) -> None:
    """In a real Tune run: the trial ends TERMINATED with the worst metric and the reason, so
    FailureConfig does not retry it and the searcher sees it."""
    data_path = tmp_path / "data.npy"
    np.save(data_path, DATA)
    base = _cfg(optimizer="sgd", lr=1.0e12).to_dict()  # weights blow up within a few steps
    inputs = _inputs(base_config=base, data_path=str(data_path), asha_metric="fid128_rand")
    tuner = tune.Tuner(
        tune.with_parameters(trial.run_trial, inputs=inputs),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "runs"), name="diverge", verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=2)),
    )
    (result,) = tuner.fit()
    assert result.error is None
    assert result.metrics["fid128_rand"] == math.inf
    assert "became nan" in trial.diverged_reason(result.metrics)
    assert result.metrics[trial.FINAL_KEY] == 1.0
    with result.checkpoint.as_directory() as directory:
        meta = json.loads((Path(directory) / trial.CONFIG_FILE).read_text())
        assert meta["final"] is True and meta[trial.DIVERGED_KEY]


def test_device_is_resolved_by_the_one_rule() -> None:
    """`trainers.loop.resolve_device` decides; the trial only refuses CUDA that Ray did not grant."""
    from trainers.loop import resolve_device

    for requested in ("cpu", "cuda", "cuda:1", "mps"):
        assert trial._device(requested) == str(resolve_device(requested)) == requested
    if not torch.cuda.is_available():
        assert trial._device("auto") == "cpu" == str(resolve_device("auto"))
