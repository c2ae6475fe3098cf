from benchmarks import sb3_vec_env


def test_measure_and_report():
    r = sb3_vec_env._measure("native", "CausalCartPole-v0", 64, 256)
    assert r["learn_steps_per_s"] > 0 and r["rollout_steps_per_s"] > 0
    rows = [
        {"env": "E", "num_envs": 8, "vec_env": k, "learn_steps_per_s": v, "rollout_steps_per_s": v}
        for k, v in (("native", 300.0), ("DummyVecEnv", 100.0), ("SubprocVecEnv", 50.0))
    ]
    text = sb3_vec_env.report({"profile": "quick", "machine": "m", "steps": 64, "rows": rows})
    assert "3.00x" in text and "0.50x" in text and "1.00x" in text
