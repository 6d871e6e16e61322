"""``python -m trainers``: its flags come from TrainConfig, the families' knobs and the data SOURCES."""

from __future__ import annotations

import argparse

import pytest

from trainers.__main__ import _add_config_flags, main
from trainers.config import TrainConfig


def test_every_field_and_knob_is_a_typed_flag() -> None:
    ap = argparse.ArgumentParser()
    _add_config_flags(ap)
    args = ap.parse_args(["--lr-d", "0.001", "--optimizer", "sgd", "--ema", "false", "--n-critic", "3",
                          "--label-smoothing", "0.1"])
    got = (args.lr_d, args.optimizer, args.ema, args.n_critic, args.label_smoothing)
    assert got == (0.001, "sgd", False, 3, 0.1)
    assert set(TrainConfig.model_fields) <= set(vars(args))
    with pytest.raises(SystemExit):
        ap.parse_args(["--precision", "fp8"])  # a Literal's values are the flag's choices


def test_a_knob_of_another_family_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--n-critic", "3"])  # the default family is dcgan
    assert info.value.code == 2
    assert "n_critic is a knob of family wgan_gp, not of dcgan" in capsys.readouterr().err
