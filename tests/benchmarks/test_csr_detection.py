import pytest

from agents.csr import CSRAgent, CSRConfig, WorldModelParams
from benchmarks import csr_detection
from causal_envs.tasks import make_sequence


def test_study_on_a_small_source_agent(tmp_path):
    env = make_sequence("cartpole", seed=0, obs_type="state").make(0)
    cfg = CSRConfig(
        world=WorldModelParams(latent_dim=4, hidden=16),
        batch_size=4,
        seq_len=8,
        detect_steps=3,
        adapt_collect=60,
    )
    agent = CSRAgent(env.observation_space.shape, env.action_space.n, cfg)
    replay = agent.new_replay(env)
    agent.collect(env, 100, replay, random=True)
    agent.update(replay)
    path = agent.save(tmp_path / "source.pt")
    r = csr_detection.run(path, quick=True)
    assert len(r["rows"]) == 3 * 2 * 1 * 3  # probes x theta_reg x repeats x variants
    assert {x["probe"] for x in r["rows"]} == {"random", "policy", "matched"}
    assert all(x["ratio"] > 0 and x["theta_drift"] >= 0 for x in r["rows"])
    assert r["threshold_scale"] == CSRConfig.threshold_scale  # the default, not the checkpoint's
    # the matched probe divides by tau* at the probe's states, the others by tau* itself
    for x in r["rows"]:
        basis = x["tau_matched"] if x["probe"] == "matched" else x["tau"]
        assert x["ratio"] == pytest.approx(x["error_after_theta"] / basis)
        assert (x["tau_matched"] is not None) == (x["probe"] == "matched")
        assert (x["coverage"] is not None) == (x["probe"] == "matched")
    text = csr_detection.report(r)
    assert "random probe, theta_reg 1: " in text and "decided right" in text
