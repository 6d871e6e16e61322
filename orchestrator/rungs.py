"""Where synchronous successive halving decides: pure arithmetic shared by the scheduler registry
(``orchestrator.schedulers``: rungs, the sweep's planned epochs) and Tune's bracket
(``orchestrator.schedule.SuccessiveHalving``), with no Ray import.
"""

from __future__ import annotations

import math


def halvings(max_t: int, grace_period: int, reduction_factor: float) -> int:
    """How many times successive halving cuts: rungs grace, grace * rf, ... until max_t is reached."""
    if grace_period >= max_t:
        return 0
    return math.ceil(math.log(max_t / grace_period) / math.log(reduction_factor) - 1e-9)


def sha_rungs(max_t: int, grace_period: int, reduction_factor: float) -> list[int]:
    """The reports at which ``SuccessiveHalving`` decides: grace, grace * rf, ... (Tune's _Bracket rule)."""
    rungs, r = [], grace_period
    for _ in range(halvings(max_t, grace_period, reduction_factor)):
        rungs.append(r)
        r = int(min(r * reduction_factor, max_t))
    return rungs
