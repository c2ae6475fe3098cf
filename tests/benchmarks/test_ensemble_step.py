"""The ensemble-step profile: its figures are measured, add up, and the report reads them."""

import json

import pytest

from augment import DynamicsConfig, TrainingConfig
from benchmarks import ensemble_step

TINY = DynamicsConfig.authors_nav2d(
    ensemble_size=2,
    hidden=(16, 16),
    embed_dim=8,
    training=TrainingConfig.authors_nav2d(batch_size=64, val_rows=500, epochs=3),
)


@pytest.fixture()
def tiny(monkeypatch):
    monkeypatch.setitem(ensemble_step.PROFILES, "tiny", TINY)
    monkeypatch.setattr(ensemble_step, "ROWS", 2_000)
    monkeypatch.setattr(ensemble_step, "STEPS", 20)


def test_every_architecture_is_measured_against_the_product_rate_and_the_peer(tiny):
    r = ensemble_step.measure("tiny", "cpu")
    assert set(r["models"]) >= {"unfactored/fp32", "global/fp32", "local/fp32"}
    for row in r["models"].values():
        # the step's FLOPs are counted (forward and backward), its time measured
        assert row["flops_per_step"] > 0 and row["step_s"] > 0 and row["product_gflops"] > 0
        assert row["step_gflops"] == pytest.approx(row["flops_per_step"] / row["step_s"] / 1e9)
        assert set(row["phases_s"]) == set(ensemble_step.PHASES)
        assert all(v >= 0 for v in row["phases_s"].values())
        assert row["steps"] == 29 and row["validations"] >= 1  # one epoch of 29 steps
        assert row["projected_training_min"] == pytest.approx(row["step_s"] * 3 * 29 / 60)
    # the local model's masks cost FLOPs the unfactored one does not have: per group, more
    flops = {a: r["models"][f"{a}/fp32"]["flops_per_step"] for a in ensemble_step.ARCHS}
    assert flops["global"] > flops["unfactored"]
    assert r["peer"]["step_s"] > 0
    # the peer's plain MLP has no input embedding: fewer FLOPs a step than ours
    assert 0 < r["peer"]["flops_per_step"] < flops["unfactored"]
    text = ensemble_step.report(r)
    assert "peer (the authors' layout" in text and "where a step's time goes" in text
    assert "x the peer's FLOPs a step" in text
    assert "the profile's training (87 steps a model), fp32" in text
    # the record is plain JSON (what main writes): the config's training settings nested
    assert r["config"]["training"]["batch_size"] == 64
    json.dumps(r)


def test_an_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="profile must be one of"):
        ensemble_step.measure("huge", "cpu")
