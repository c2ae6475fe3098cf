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


def _source_agent(folder, sequence: str, **seq_kwargs):
    from benchmarks import csr

    env = make_sequence(sequence, seed=0, **seq_kwargs).make(0)
    profile = csr.PROFILES_BY_BENCH[f"csr-{sequence}"]["smoke"]
    agent = CSRAgent(
        env.observation_space.shape,
        env.action_space.n,
        csr.agent_config(profile, "csr", 0, "cpu"),
    )
    replay = agent.new_replay(env)
    agent.collect(env, 100, replay, random=True)
    agent.update(replay)
    agent.record_threshold(env=env)
    return agent.save(folder / f"csr_{sequence}_smoke" / "csr_seed0_source.pt")


def test_score_decides_every_case_under_each_rule(tmp_path):
    cartpole = _source_agent(tmp_path, "cartpole", obs_type="state")
    synthetic = _source_agent(tmp_path, "synthetic")
    r = csr_detection.score([cartpole, synthetic])
    rows = r["rows"]
    by_bench = {b: [x for x in rows if x["bench"] == b] for b in ("csr-cartpole", "csr-synthetic")}
    # CartPole: the control, tasks 2-4 of seed 0's sequence and the extra shifts
    assert len(by_bench["csr-cartpole"]) == 1 + 3 + len(csr_detection.VARIANTS) - 1
    assert len(by_bench["csr-synthetic"]) == 4
    truth = [x["expand_needed"] for x in by_bench["csr-synthetic"]]
    assert truth == [False, False, True, True]  # unchanged, new theta, grown, both
    for x in rows:
        assert x["decision"] in ("distribution_shift", "space_expansion")
        assert x["error_every_step"] > 0 and x["tau"] > 0
    # the smoke profile's CartPole widens the observation at task 3: CSR expands on that alone
    widened = [x for x in by_bench["csr-cartpole"] if x["width_grew"]]
    assert widened and all(x["decision"] == "space_expansion" for x in widened)
    always = csr_detection.confusion(by_bench["csr-synthetic"], "always")
    assert always["sensitivity"] == 1.0 and always["specificity"] == 0.0
    never = csr_detection.confusion(by_bench["csr-synthetic"], "never")
    assert (never["tp"], never["fn"], never["fp"], never["tn"]) == (0, 2, 0, 2)
    text = csr_detection.score_report(r)
    assert "paper's rule" in text and "csr-synthetic, seeds 0: 4 cases" in text


def test_score_refuses_a_checkpoint_it_cannot_place(tmp_path):
    path = _source_agent(tmp_path, "cartpole", obs_type="state")
    moved = path.rename(tmp_path / "somewhere.pt")
    from causal_envs.core.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="not a source checkpoint of a CSR benchmark run"):
        csr_detection.score([moved])
