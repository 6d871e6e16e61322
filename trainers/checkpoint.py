"""The resume state of a training run as ONE plain dict, and putting it back.

The dict holds CPU tensors only (``torch.save``-able, independent of the device it came from):
the networks (G, D, EMA G), both optimisers, the GradScaler, every RNG the run draws from, the
data stream's position and the loop's progress counters. ``restore`` checks that the shape of the
networks matches the config, then re-applies the config's learning rates and Adam betas to the
loaded optimisers: a resumed (or PBT-exploited) trial trains with the hyper-parameters it is given
now, not those frozen into the optimiser state (as Ray Tune's ``pbt_dcgan`` example does).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .config import TrainConfig, shapes_networks
from .step import optimizer_settings

VERSION = 2
SHAPE_FIELDS = tuple(n for n, f in TrainConfig.model_fields.items() if shapes_networks(f))  # marked there


def to_cpu(obj: Any) -> Any:
    """Deep copy of a (nested) state with every tensor cloned to CPU: safe to keep while training goes on."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return copy.deepcopy(obj)


def capture(
    cfg: TrainConfig,
    nets: Mapping[str, nn.Module | None],
    optimizers: Mapping[str, torch.optim.Optimizer],
    scaler: torch.amp.GradScaler,
    generators: Mapping[str, torch.Generator],
    progress: Mapping[str, Any],
) -> dict[str, Any]:
    """The full resume state: ``nets`` / ``optimizers`` by name, torch's global RNG (and the CUDA one
    when a generator lives there), the named generators' states and the loop's ``progress``."""
    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    rng.update({name: gen.get_state() for name, gen in generators.items()})
    devices = {gen.device for gen in generators.values() if gen.device.type == "cuda"}
    if devices:
        rng["cuda"] = torch.cuda.get_rng_state(next(iter(devices)))
    state = {
        "version": VERSION,
        "cfg": cfg.to_dict(),
        **{name: (net.state_dict() if net is not None else None) for name, net in nets.items()},
        **{name: opt.state_dict() for name, opt in optimizers.items()},
        "scaler": scaler.state_dict(),
        "rng": rng,
        "progress": dict(progress),
    }
    return to_cpu(state)


def restore(
    state: Mapping[str, Any],
    cfg: TrainConfig,
    nets: Mapping[str, nn.Module | None],
    optimizers: Mapping[str, tuple[torch.optim.Optimizer, float]],
    scaler: torch.amp.GradScaler,
    generators: Mapping[str, torch.Generator],
) -> dict[str, Any]:
    """Load ``state`` into the given objects and return its ``progress`` dict.

    ``optimizers`` maps a name to (optimiser, the learning rate ``cfg`` gives it now). A net that
    is missing from the state (an EMA G where the run had none) starts from ``state["G"]``.
    """
    if state.get("version") != VERSION:
        raise ValueError(
            f"unsupported checkpoint version {state.get('version')!r} (this build reads {VERSION})"
        )
    old = state["cfg"]
    for name in SHAPE_FIELDS:
        if old.get(name) != getattr(cfg, name):
            raise ValueError(
                f"checkpoint was made with {name}={old.get(name)!r}, config says {getattr(cfg, name)!r}"
            )
    for name, net in nets.items():
        if net is not None:
            net.load_state_dict(state[name] if state.get(name) is not None else state["G"])
    for name, (opt, lr) in optimizers.items():
        opt.load_state_dict(state[name])
        reapply_hyperparameters(opt, cfg, lr)
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    # RNG states must be CPU byte tensors whatever map_location the state was loaded with
    rng = {name: value.cpu() for name, value in state["rng"].items()}
    torch.set_rng_state(rng["torch"])
    for name, gen in generators.items():
        gen.set_state(rng[name])
        if gen.device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], gen.device)
    return to_cpu(dict(state["progress"]))


def reapply_hyperparameters(opt: torch.optim.Optimizer, cfg: TrainConfig, lr: float) -> None:
    """Put ``cfg``'s optimiser settings (``step.optimizer_settings``: lr, betas, ...) on every group."""
    for group in opt.param_groups:
        group.update(optimizer_settings(cfg, lr))
