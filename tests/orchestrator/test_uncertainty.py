"""The answer with its uncertainty (orchestrator.uncertainty): winner vs runner-up against the noise of
the re-measurement, recorded on the parent run and printed by `gansweep report`."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from report_helpers import DEMO_TRIALS, make_sweep

from orchestrator.cli import main
from orchestrator.record import names
from orchestrator.uncertainty import Measured, record, verdict


def test_the_winner_beats_the_runner_up_only_beyond_the_noise() -> None:
    clear = verdict("final_fid5k_rand", [Measured("00007", (0.0366, 0.0371, 0.0362)),
                                         Measured("00003", (0.0247, 0.0251, 0.0244))])
    assert clear is not None and clear.winner.trial == "00003" and clear.runner_up.trial == "00007"
    assert clear.margin == pytest.approx(0.0119, abs=1e-4) and clear.beyond_noise
    assert "more than the noise" in clear.line() and "0.02473 ± 0.00035" in clear.line()
    # issue 20's coin toss: 0.0399 vs 0.0400 with draws that swing by ~0.0005 either way
    tie = verdict("final_fid5k_rand", [Measured("00001", (0.0400, 0.0395, 0.0406)),
                                       Measured("00002", (0.0399, 0.0404, 0.0396))])
    assert tie is not None and not tie.beyond_noise and "within noise" in tie.line()
    one = verdict("final_fid5k_rand", [Measured("a", (0.03,)), Measured("b", (0.04,))])
    assert one is not None and math.isnan(one.noise) and "noise unknown" in one.line()
    assert verdict("final_fid5k_rand", []) is None


def test_verdict_is_recorded_on_the_store_and_shown_by_report(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    parent = make_sweep(client, tmp_path, "demo", "fid1k_rand", DEMO_TRIALS)
    children = {r.data.tags[names.TAG_TRIAL]: r.info.run_id
                for r in client.search_runs([client.get_run(parent).info.experiment_id],
                                            filter_string=f"tags.`{names.PARENT}` = '{parent}'")}
    key = names.final_key("fid5k_rand")
    measured = {children["abc_00001"]: Measured("00001", (11.9, 12.1, 12.0)),
                children["abc_00000"]: Measured("00000", (12.05, 11.8, 12.3))}
    found = record(client, parent, key, measured)
    assert found is not None and found.winner.trial == "00001" and not found.beyond_noise
    child = client.get_run(children["abc_00001"]).data.metrics
    assert child[key] == pytest.approx(12.0) and child[names.std_key(key)] == pytest.approx(0.1)
    run = client.get_run(parent).data
    assert run.tags[names.TAG_VERDICT] == found.line()
    assert run.metrics[names.MARGIN] == pytest.approx(found.margin)
    assert run.metrics[names.MARGIN_NOISE] == pytest.approx(found.noise)

    result = CliRunner().invoke(main, ["report", "demo", "--store", uri])
    assert result.exit_code == 0, result.output
    assert "demo: winner 00001: final_fid5k_rand 12 ± 0.1 over 3 draws; runner-up 00000" in result.output
    assert "within noise" in result.output


def test_across_seeds_the_margin_is_judged_against_two_independent_means() -> None:
    """Seeds are unpaired (seed j of one trial has nothing to do with seed j of another): the margin's
    standard error is sqrt(s_w^2/n_w + s_r^2/n_r), not the paired differences' one."""
    w, r = Measured("00003", (0.030, 0.034)), Measured("00007", (0.040, 0.036))
    seeds = verdict("final_fid5k_rand", [r, w], unit="seeds")
    assert seeds is not None and seeds.winner.trial == "00003" and not seeds.paired
    assert seeds.margin == pytest.approx(0.006)
    assert seeds.noise == pytest.approx(math.sqrt(w.std**2 / 2 + r.std**2 / 2))  # 0.00283
    assert seeds.beyond_noise  # 0.006 > 2 x 0.00283
    assert seeds.line() == ("across training seeds: winner 00003: final_fid5k_rand 0.032 ± 0.0028 over 2 "
                            "seeds; runner-up 00007: 0.038 ± 0.0028; the winner is ahead by 0.006, more "
                            "than the seed spread (2 x 0.0028)")
    # read as paired draws, the same numbers are within noise (differences 0.010 and 0.002: SE 0.004)
    paired = verdict("final_fid5k_rand", [r, w])
    assert paired is not None and paired.noise == pytest.approx(0.004) and not paired.beyond_noise
    wide = verdict("final_fid5k_rand", [Measured("a", (0.030, 0.040)), Measured("b", (0.033, 0.041))],
                   unit="seeds")
    assert wide is not None and not wide.beyond_noise
    assert "within seed spread (margin 0.002 <= 2 x" in wide.line()
    one = verdict("final_fid5k_rand", [Measured("a", (0.03,)), Measured("b", (0.04, 0.05))], unit="seeds")
    assert one is not None and math.isnan(one.noise) and "seed spread unknown" in one.line()
    # higher-is-better metrics rank the other way round across seeds too
    prec = verdict("final_prec2k_rand", [Measured("a", (0.5, 0.52)), Measured("b", (0.7, 0.72))],
                   unit="seeds")
    assert prec is not None and prec.winner.trial == "b" and prec.margin == pytest.approx(0.2)
