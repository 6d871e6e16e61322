"""TrainConfig: one definition (fields with their bounds), family knobs declared by the family."""

from __future__ import annotations

import pytest
import torch

from trainers.checkpoint import reapply_hyperparameters
from trainers.config import TrainConfig, for_family
from trainers.families import FAMILIES, KNOB_OWNERS
from trainers.step import make_optimizer


def test_fields_carry_their_bounds() -> None:
    for bad, says in [({"lr": 0.0}, "greater than 0"), ({"conv_dim": 48}, "power of two"),
                      ({"ema_kimg": -1.0}, "greater than 0"), ({"device": "gpu"}, "cuda:N"),
                      ({"family": "stylegan"}, "'dcgan'"), ({"beta1": 1.0}, "less than 1")]:
        with pytest.raises(ValueError, match=says):
            TrainConfig(**bad)


def test_family_knobs_are_the_familys_own() -> None:
    assert KNOB_OWNERS == {"label_smoothing": ("dcgan",), "gp_lambda": ("wgan_gp",), "n_critic": ("wgan_gp",)}
    wgan = TrainConfig(family="wgan_gp", n_critic=3)
    assert (wgan.knobs.n_critic, wgan.knobs.gp_lambda) == (3, 10.0)  # the family's default filled in
    assert wgan.to_dict()["n_critic"] == 3 and "label_smoothing" not in wgan.to_dict()
    assert TrainConfig().knobs.label_smoothing == 0.0 and "n_critic" not in TrainConfig().to_dict()
    assert TrainConfig.from_dict(wgan.to_dict()) == wgan  # what checkpoints hold reads back
    with pytest.raises(ValueError, match="n_critic is a knob of family wgan_gp, not of dcgan"):
        TrainConfig(family="dcgan", n_critic=3)
    with pytest.raises(ValueError, match="n_critic"):
        TrainConfig(family="wgan_gp", n_critic=0)
    assert FAMILIES["sngan"].knobs.model_fields == {}


def test_for_family_keeps_only_the_trials_own_knobs() -> None:
    mixed = {"family": "dcgan", "n_critic": 3, "label_smoothing": 0.1, "lr": 1e-3, "typo": 1}
    assert for_family(mixed) == {"family": "dcgan", "label_smoothing": 0.1, "lr": 1e-3, "typo": 1}
    wgan = {"family": "wgan_gp", "n_critic": 3, "lr": 1e-3, "typo": 1}
    assert for_family({**mixed, "family": "wgan_gp"}) == wgan


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "sgd"])
def test_reapplied_settings_are_those_an_optimiser_is_built_with(optimizer: str) -> None:
    """A resumed trial's optimiser gets what a fresh one would: one list (step.optimizer_settings)."""
    old = TrainConfig(optimizer=optimizer, lr=1e-3, beta1=0.1, beta2=0.2)
    new = old.with_values(lr=5e-4, beta1=0.3, beta2=0.4)
    params = [torch.nn.Parameter(torch.zeros(2))]
    loaded = make_optimizer(old, params, old.lr, torch.device("cpu"))
    reapply_hyperparameters(loaded, new, new.lr)
    fresh = make_optimizer(new, params, new.lr, torch.device("cpu"))
    assert loaded.param_groups[0].keys() == fresh.param_groups[0].keys()
    assert {k: v for k, v in loaded.param_groups[0].items() if k != "params"} == {
        k: v for k, v in fresh.param_groups[0].items() if k != "params"}
