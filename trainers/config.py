"""Plain-value configuration of one GAN training run.

Everything the hand-run seed experiments changed (architecture width, optimizer, lr, batch size,
precision, label smoothing, WGAN-GP settings, ...) is a field here, so a sweep can vary it. The
orchestrator builds one of these per trial from the spec plus the sampled parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

MIN_SWEEP_CONV_DIM = 8  # the narrowest width a sweep's spec accepts (the networks take any power of two)

Optimizer = Literal["adam", "rmsprop", "sgd"]
Precision = Literal["fp32", "bf16", "fp16"]


def check_conv_dim(value: int, minimum: int = 1) -> int:
    """The one conv_dim rule: a power of two (each 2x stage halves or doubles the width), >= ``minimum``.

    The networks accept any power of two (tests train width-4 nets for speed); the spec asks for
    at least :data:`MIN_SWEEP_CONV_DIM`. Returns ``value``; raises ValueError saying what is wrong.
    """
    if value < minimum or value & (value - 1):
        bound = f" >= {minimum}" if minimum > 1 else ""
        raise ValueError(f"must be a power of two{bound}, got {value}")
    return value


@dataclass(frozen=True)
class TrainConfig:
    # model
    family: str = "dcgan"  # a name in trainers.families.FAMILY_NAMES
    fc: bool = False  # Udacity-style: Linear first layer in G, Linear last layer in D
    image_size: int = 32  # 32 or 64
    conv_dim: int = 32  # power of two
    z_dim: int = 100
    d_dropout: float = 0.0
    # optimisation
    epochs: int = 5
    batch_size: int = 64
    optimizer: Optimizer = "adam"
    lr: float = 2e-4  # generator lr (and D's unless lr_d is set)
    lr_d: float | None = None
    beta1: float | None = None  # None -> the family's default (0.5 dcgan, 0.0 wgan_gp)
    beta2: float | None = None  # None -> the family's default (0.999 dcgan, 0.9 wgan_gp)
    precision: Precision = "fp32"
    ema: bool = True  # evaluate (and keep) an exponential moving average of G's weights
    ema_kimg: float = 10.0  # EMA half-life in thousands of images (StyleGAN2-ADA), independent of batch size
    label_smoothing: float = 0.0  # one-sided: real label = 1 - label_smoothing (0.1 -> 0.9)
    gp_lambda: float = 10.0
    n_critic: int = 5
    # bookkeeping
    seed: int = 0
    report_every_images: int | None = None  # None: report once per epoch
    metric_every: int = 1  # evaluate the metric every N reports (last value repeated between)
    grid_size: int = 64  # images in the fixed-noise sample grid
    channels_last: bool = False
    compile: bool = False
    device: str = "auto"  # auto -> cuda if available else cpu

    def __post_init__(self) -> None:
        from .families import FAMILY_NAMES  # lazy: the families import the models, which import this module

        if self.family not in FAMILY_NAMES:
            raise ValueError(f"family must be one of {', '.join(FAMILY_NAMES)}, got {self.family!r}")
        if not self.ema_kimg > 0:
            raise ValueError(f"ema_kimg must be > 0, got {self.ema_kimg!r}")

    @property
    def d_lr(self) -> float:
        return self.lr if self.lr_d is None else self.lr_d

    @property
    def betas(self) -> tuple[float, float]:
        from .families import FAMILIES

        default = FAMILIES[self.family].betas
        return (
            default[0] if self.beta1 is None else self.beta1,
            default[1] if self.beta2 is None else self.beta2,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return cls(**values)

    def with_values(self, **values: Any) -> TrainConfig:
        return replace(self, **values)


TRAIN_FIELDS: frozenset[str] = frozenset(f.name for f in fields(TrainConfig))
