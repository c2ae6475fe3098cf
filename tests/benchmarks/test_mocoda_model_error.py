"""The model-error benchmark end to end on its smoke profile (one epoch), and its resume."""

import json

import pytest

from benchmarks import mocoda_model_error as bench
from benchmarks.results import output_dir


@pytest.mark.smoke
def test_smoke_run_reports_the_table_and_resumes(capsys, monkeypatch):
    payload = bench.main("smoke", fresh=True)
    out = capsys.readouterr().out
    for name in (
        "unfactored",
        "global",
        "local",
        "mocoda-u",
        "uniform",
        "the authors' metric",
        "the ensemble's mean prediction",
        "whole pipeline (parent model, three ensembles, five datasets)",
        "binned KDE vs scikit-learn",
        "criterion: " + bench.CLAIMS["mocoda-model-error"].criterion,
    ):
        assert name in out
    # the verdict is read from the data and the criterion: one seed never "reproduces"
    verdict = bench.claim_verdict(list(payload["cells"].values()))
    assert f"verdict: {verdict}" in out and verdict.outcome != "reproduced"
    for metric in ("errors_x100_mean_std", "errors_sample_x100_mean_std"):
        table = payload["summary"][metric]
        assert set(table) == {"unfactored", "global", "local"}
        assert all(0 < v[0] < 50 for arch in table.values() for v in arch.values())
    table = payload["summary"]["errors_x100_mean_std"]
    # a member's sample with std / 3 is noisier than the ensemble's mean
    sample = payload["summary"]["errors_sample_x100_mean_std"]
    assert sample["local"]["mocoda-u"][0] > table["local"]["mocoda-u"][0]
    saved = json.loads((output_dir() / "mocoda_model_error_smoke.json").read_text())
    assert saved["cells"]["seed=0"]["seed"] == 0
    assert (output_dir() / "mocoda_nav2d_distributions.png").stat().st_size > 10_000
    assert (output_dir() / "mocoda_nav2d_model_error_map.png").stat().st_size > 10_000

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished seed was recomputed")

    monkeypatch.setattr(bench, "run_seed", must_not_run)
    again = bench.main("smoke")
    assert "resuming: 1 finished cells" in capsys.readouterr().out
    assert again["summary"]["errors_x100_mean_std"] == table


def test_the_locally_factored_model_beats_the_unfactored_one_out_of_distribution():
    """The paper's claim at the quick profile's budget (one seed, about a minute): on every
    input the data never shows, the locally factored model's generated next states are closer
    to the simulator's than the unfactored model's, and by a clear margin on MOCODA-U."""
    record = bench.run_seed(0, bench.PROFILES["quick"], plots=False, device="cpu")
    errors = record["errors_sample_x100"]
    for d in bench.OOD:
        assert errors["local"][d] < errors["unfactored"][d], d
    assert errors["unfactored"]["mocoda-u"] > 2 * errors["local"]["mocoda-u"]


@pytest.mark.smoke
def test_the_hooksweep2_profile_scores_against_the_rebuilt_simulator(capsys):
    """HookSweep2's table: its expert data, MOCODA-P for MOCODA-U, no uniform states, and the
    truth's own error against recorded next states (the floor) in the record and the report."""
    payload = bench.main("hooksweep2-smoke", fresh=True)
    out = capsys.readouterr().out
    cell = payload["cells"]["seed=0"]
    assert cell["env"] == "hooksweep2" and cell["n_empirical"] == 1_500
    assert set(cell["errors_sample_x100"]["local"]) == {"empirical", "dyn", "mocoda", "mocoda-u"}
    # the rebuilt simulator is close to, not exactly, the recorded step
    assert 0.05 < cell["truth_floor_x100"] < 1.5
    assert "MOCODA-P" in out and "the floor under every error" in out
    assert "uniform" not in payload["summary"]["errors_x100_mean_std"]["local"]
