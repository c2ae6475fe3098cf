import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import csr
from benchmarks.results import output_dir


@pytest.mark.smoke
def test_cartpole_smoke_runs_every_method_and_resumes(capsys):
    state = csr.main("csr-cartpole", "smoke", fresh=True)
    assert set(state["cells"]) == {f"seed=0/method={m}" for m in csr.METHODS}
    for cell in state["cells"].values():
        assert [t["task"] for t in cell["tasks"]] == [0, 1, 2, 3]
        for t in cell["tasks"]:
            if cell["method"] == "oracle" and t["task"] == 0:
                assert t == {"task": 0, "same_as": "csr"}  # CSR's source task, not trained twice
                continue
            assert t["curve"] and all(len(p) == 2 for p in t["curve"])
    oracle = state["cells"]["seed=0/method=oracle"]["tasks"]
    assert all(t["start"] == 0 and "decision" not in t for t in oracle[1:])  # fresh agents
    assert oracle[3]["curve"][0][0] <= 200  # from scratch: its own steps, not the sequence's
    wm = state["cells"]["seed=0/method=csr"]["tasks"]
    assert wm[3]["new_actions"] == 4  # task 4 adds four forces
    assert wm[2]["truth"] == ["state_expansion"]
    assert all(t["decision"] in ("distribution_shift", "space_expansion") for t in wm[1:])
    # task 3 shows a new observed variable: CSR expands, and draws its reconstructions
    assert wm[2]["decision"] == "space_expansion" and wm[2]["added"] >= 1
    assert Path(wm[2]["reconstructions"]).stat().st_size > 0
    assert state["cells"]["seed=0/method=dreamer"]["tasks"][1]["decision"] == "fine_tune"
    # each later task is decided against the tau* of the last task the model trained on
    # (Algorithm 1 records it after each task; one returned untrained keeps the reference)
    reference = wm[1]["tau"]  # the source task's
    for t in wm[1:]:
        assert t["tau"] == reference
        assert ("tau_recorded" in t) is (t["trained"] and t["task"] < 3)  # none after the last
        reference = t.get("tau_recorded", reference)
    assert wm[2]["trained"] and wm[3]["tau"] == wm[2]["tau_recorded"] != wm[1]["tau"]
    scale = csr.agent_config(
        csr.PROFILES_BY_BENCH["csr-cartpole"]["smoke"], "csr", 0, "cpu"
    ).threshold_scale
    for t in wm[1:]:  # decided against the matched tau*, scaled
        assert t["threshold"] == pytest.approx(scale * t["tau_matched"])
        assert 0.0 <= t["coverage"] <= 1.0  # the share of probe steps decided on
    assert state["cells"]["seed=0/method=adarl"]["tasks"][2]["added"] == 0  # AdaRL never expands
    # Algorithm 1: a distribution shift returns the adapted model and policy untrained; an
    # expansion (and the baselines) trains on the task for the rest of its budget
    for method in ("csr", "adarl", "dreamer"):
        for t in state["cells"][f"seed=0/method={method}"]["tasks"][1:]:
            shift = method != "dreamer" and t["decision"] == "distribution_shift"
            assert t["trained"] is not shift, (method, t["task"])
            if shift:  # only the score right after `adapt`, which is also the final one
                assert len(t["curve"]) == 1 and t["final_score"] == t["adapted"]
            # zero-shot wherever the old model can read the observation (task 3 widens it)
            assert (t["zero_shot"] is None) is (t["task"] == 2), (method, t["task"])
    for t in state["cells"]["seed=0/method=dqn"]["tasks"][1:]:
        assert t["steps"] == 120 and t["zero_shot"] is None if t["task"] == 2 else True
    out = capsys.readouterr().out
    assert "minimum adaptation steps" in out and "detected change" in out
    path = output_dir() / "csr_cartpole_smoke.json"
    assert json.loads(path.read_text())["bench"] == "csr-cartpole"
    assert (output_dir() / "csr_cartpole_smoke_curves.png").stat().st_size > 0
    assert "final score" in (output_dir() / "csr_cartpole_smoke.txt").read_text()
    csr.main("csr-cartpole", "smoke")
    assert f"resuming: {len(csr.METHODS)} finished cells" in capsys.readouterr().out


@pytest.mark.smoke
def test_synthetic_smoke_reports_true_expansion_sizes(capsys):
    state = csr.main("csr-synthetic", "smoke", fresh=True)
    tasks = state["cells"]["seed=0/method=csr"]["tasks"]
    assert tasks[2]["true_new_latent"] >= 3 and tasks[1]["true_new_latent"] == 0
    # every task's learned graph is scored against the truth, latents matched first
    seq = csr.make_sequence("synthetic", seed=0)
    for t in tasks:
        s = t["structure"]
        assert s["true_latent"] == seq[t["task"]].truth["latent_dim"]
        assert len(s["matching"]) == min(s["true_latent"], s["learned_latent"])
        assert set(s["edges"]) == {"s->s", "a->s", "theta->s", "s->o", "s->r", "all"}
    out = capsys.readouterr().out
    assert "true" in out and "learned structure vs the true graph" in out
    # each cell carries its tasks' reference returns, and the report reads scores against them
    cell = state["cells"]["seed=0/method=csr"]
    assert len(cell["references"]) == len(tasks)
    assert "final score normalised per seed and task" in out
    # and the world model's diagnostics at the end of every task
    for t in tasks:
        m = t["model"]
        assert m["reward_explained"] is None or m["reward_explained"] <= 1.0
        assert 0.0 <= m["s_r_edges"] <= 1.0 and 0.0 <= m["a_s_edges"] <= 1.0
        assert 0.0 <= m["mask_flip"] <= 0.5
        assert m["error_hard"] > 0 and m["error_sampled"] > 0
    assert "world model at the end of each task" in out


def test_model_diagnostics_read_the_model_and_leave_the_runs_random_draws_alone():
    from agents.csr import CSRAgent, CSRConfig, WorldModelParams

    env = csr.make_sequence("synthetic", seed=0).make(0)
    for structured in (True, False):
        world = WorldModelParams(latent_dim=4, hidden=16, structured=structured)
        agent = CSRAgent(
            env.observation_space.shape,
            int(env.action_space.n),
            CSRConfig(world=world, batch_size=4, seq_len=8),
        )
        replay = agent.new_replay(env)
        agent.collect(env, 200, replay, random=True)
        agent.update(replay)
        torch.manual_seed(7)
        got = csr.model_diagnostics(agent, replay)
        after = torch.rand(3)
        torch.manual_seed(7)
        torch.testing.assert_close(after, torch.rand(3))  # the generator did not move
        assert got == csr.model_diagnostics(agent, replay)  # the same windows, the same draws
        assert got["reward_explained"] < 1.0
        if structured:  # every mask starts on (logit 3): sigmoid(-3) flips a sample
            assert got["s_r_edges"] == got["a_s_edges"] == 1.0
            assert got["mask_flip"] == pytest.approx(1 / (1 + np.exp(3.0)), rel=0.05)
            assert got["error_sampled"] != got["error_hard"]
        else:
            assert set(got) == {"reward_explained"}


def test_adaptation_steps_need_a_positive_source_score():
    def cell(seed, scores):
        tasks = [{"final_score": scores[0], "curve": [(100, scores[0])], "start": 0}]
        tasks.append(
            {"final_score": scores[1], "curve": [(300, 0.0), (600, scores[1])], "start": 200}
        )
        return {"seed": seed, "method": "csr", "tasks": tasks}

    cells = [cell(0, (200.0, 190.0)), cell(1, (0.0, 0.0))]
    targets = csr.adaptation_targets(cells, 0.9)
    # 90% of the seed's best source score; 90% of a zero score is no target
    assert targets == {(0, 0): 180.0, (0, 1): 180.0, (1, 0): None, (1, 1): None}
    assert csr.adaptation_steps(cells[0], 1, targets) == 400  # 600 - 200 env steps on the task
    assert csr.adaptation_steps(cells[1], 1, targets) is None
    # with an oracle (a fresh agent per task), 90% of its score on that task and seed
    oracle = {"seed": 0, "method": "oracle", "tasks": [{"task": 0, "same_as": "csr"}]}
    oracle["tasks"].append({"final_score": 100.0, "curve": [(900, 100.0)], "start": 0})
    both = csr.resolve_shared_rows([{**cells[0], "method": "csr"}, oracle])
    assert both[1]["tasks"][0] == both[0]["tasks"][0]  # the oracle's task 1 is CSR's
    targets = csr.adaptation_targets(both, 0.9)
    assert targets == {(0, 0): 180.0, (0, 1): 90.0}
    assert csr.adaptation_steps(both[0], 1, targets) == 400
    assert csr.adaptation_steps(both[1], 1, targets) == 900
    alone = csr.resolve_shared_rows([oracle])  # no CSR cell to read task 1 from
    assert np.isnan(alone[0]["tasks"][0]["final_score"])


def test_task_curve_mean_carries_an_early_stopped_seed():
    rows = [
        {"tasks": [{"curve": [(100, 10.0), (200, 500.0)], "start": 0}]},  # learned at 200
        {"tasks": [{"curve": [(100, 20.0), (200, 30.0), (300, 500.0)], "start": 0}]},
    ]
    xs, ys = csr.task_curve_mean(rows, 0)
    assert xs.tolist() == [100, 200, 300]
    assert ys.tolist() == [15.0, 265.0, 500.0]


def test_dqn_uses_the_zoo_settings_and_one_learn_call_per_task(monkeypatch):
    from dataclasses import replace

    from stable_baselines3 import DQN

    p = csr.PROFILES_BY_BENCH["csr-cartpole"]["smoke"]
    settings = csr.dqn_settings(replace(p, dqn={}), pixels=False)
    assert settings == csr.ZOO_DQN_CARTPOLE and settings["train_freq"] == 256
    calls = []
    original = DQN.learn

    def spy(self, total_timesteps, **kwargs):
        calls.append(total_timesteps)
        return original(self, total_timesteps, **kwargs)

    monkeypatch.setattr(DQN, "learn", spy)
    p = replace(p, source_steps=300, task_steps=150)
    row = csr._run_dqn(p, seed=0, device="cpu")
    # SB3 anneals epsilon over a fraction of each learn call: one call per task's budget
    assert calls == [300, 150, 150, 150]
    assert [s for s, _ in row["tasks"][0]["curve"]] == [100, 200, 300]
    # 150 is no multiple of 100: the curve ends with an evaluation at the budget's end
    assert [s for s, _ in row["tasks"][1]["curve"]] == [400, 450]
    assert row["tasks"][1]["zero_shot"] is not None and row["tasks"][1]["steps"] == 150


def test_source_task_trains_until_learned_and_later_tasks_their_whole_budget(tmp_path):
    from dataclasses import replace

    from agents.csr.continual import converged

    assert converged([(100, 5.0), (200, 0.0)], 0.0, 2)
    assert not converged([(100, 5.0)], 0.0, 2)  # fewer evaluations than the patience
    assert not converged([(100, -1.0), (200, 3.0)], 2.0, 2)
    p = replace(
        csr.PROFILES_BY_BENCH["csr-cartpole"]["smoke"],
        source_target=0.0,
        patience=2,
        source_steps=1_000,
        task_steps=150,
    )
    row = csr._run_dqn(p, seed=0, device="cpu")
    # every CartPole score is >= 0: learned at the second evaluation, not the 1,000-step budget
    assert [s for s, _ in row["tasks"][0]["curve"]] == [100, 200]
    assert row["tasks"][1]["start"] == 200
    # later tasks: no early stop although every evaluation reaches the source's target
    assert [t["steps"] for t in row["tasks"][1:]] == [150, 150, 150]
    targets = csr.adaptation_targets([row], 0.9, optimum=500.0)
    assert set(targets.values()) == {450.0} and len(targets) == 4
    cell = csr._run_world_model(p, "dreamer", 0, tmp_path, "cpu")
    curve = cell["tasks"][0]["curve"]
    assert len(curve) == 2 and curve[-1][0] < 1_000
    # Dreamer: the adaptation's 100 collected steps, then training to the 150-step budget
    assert [t["steps"] for t in cell["tasks"][1:]] == [150, 150, 150]


def test_a_shift_is_returned_untrained_whatever_it_scores(tmp_path):
    from dataclasses import replace

    smoke = csr.PROFILES_BY_BENCH["csr-cartpole"]["smoke"]
    p = replace(smoke, source_target=500.0, patience=1, source_steps=300, task_steps=100)
    cell = csr._run_world_model(p, "adarl", 0, tmp_path, "cpu")  # AdaRL: always a shift
    for t in cell["tasks"][1:]:
        # no smoke-budget policy reaches 500: Algorithm 1 returns it all the same
        assert t["decision"] == "distribution_shift" and t["adapted"] < 500
        assert not t["trained"] and len(t["curve"]) == 1


def test_detection_confusion_against_the_truth():
    def cell(decisions):
        tasks = [{"truth": [], "final_score": 1.0, "curve": [], "start": 0}]
        for truth, decision in decisions:
            tasks.append({"truth": truth, "decision": decision})
        return {"method": "csr", "seed": 0, "tasks": tasks}

    cells = [
        cell(
            [
                (["distribution_shift"], "distribution_shift"),
                (["state_expansion"], "space_expansion"),
            ]
        ),
        cell(
            [
                (["distribution_shift"], "space_expansion"),
                (["action_expansion"], "distribution_shift"),
            ]
        ),
    ]
    c = csr.detection_confusion(cells)
    assert c == {"decisions": 4, "right": 3, "tp": 1, "fn": 0, "fp": 1, "tn": 2}
    assert "3 of 4 right (75%)" in csr._fmt_confusion(c)


def test_scores_are_normalised_between_random_and_the_best_reference_policy():
    refs = [{"random": 10.0, "best": 30.0}, {"random": 0.0, "best": 0.0}]
    rows = [
        {"tasks": [{"final_score": 20.0}, {"final_score": 5.0}], "references": refs},
        {"tasks": [{"final_score": 40.0}, {"final_score": 5.0}], "references": refs},
        {"tasks": [{"final_score": 15.0}]},  # no references: left out
    ]
    assert csr.normalised_scores(rows, 0) == [0.5, 1.5]
    assert csr.normalised_scores(rows, 1) == []  # an empty range normalises nothing
    assert csr.task_references(csr.PROFILES_BY_BENCH["csr-cartpole"]["smoke"], 0) is None
    refs = csr.task_references(csr.PROFILES_BY_BENCH["csr-synthetic"]["smoke"], 0)
    assert len(refs) == 4 and all(r["best"] >= r["best_constant"] for r in refs)


def test_every_profile_validates_and_a_misspelt_setting_fails_as_the_run_starts():
    for profiles in csr.PROFILES_BY_BENCH.values():
        for p in profiles.values():
            p.validate()
    bad = dataclasses.replace(
        csr.PROFILES_BY_BENCH["csr-cartpole"]["smoke"], agent={"detect_step": 5}
    )
    with pytest.raises(TypeError, match="detect_step"):
        csr.cells(bad)


def test_the_atari_aggregate_is_the_mean_over_tasks_and_the_iqm_over_seeds_and_tasks():
    from benchmarks.csr import _aggregate_lines, task_aggregate

    def cell(method, seed, scores):
        tasks = [{"task": i, "final_score": v, "zero_shot": v} for i, v in enumerate(scores)]
        return {"method": method, "seed": seed, "tasks": tasks}

    rows = [
        cell("csr", 0, [0.0, 10.0, 20.0, 30.0]),
        cell("csr", 1, [4.0, 14.0, 24.0, 34.0]),
        cell("csr", 2, [8.0, 18.0, 28.0, float("nan")]),  # incomplete: left out
    ]
    mean, low, high, n = task_aggregate(rows, 4, "mean")
    assert (mean, n) == (17.0, 2) and low <= mean <= high
    value, *_ = task_aggregate(rows, 4, "iqm")
    # the middle half of the 8 scores 0, 4, 10, 14, 20, 24, 30, 34: 10, 14, 20, 24
    assert value == 17.0
    assert task_aggregate(rows[2:], 4) is None
    with pytest.raises(ValueError, match="statistic"):
        task_aggregate(rows, 4, "median")
    text = "\n".join(
        _aggregate_lines([*rows, cell("dqn", 0, [1.0, 2.0, 3.0, 4.0])], ("csr", "dqn"), 4)
    )
    assert "CSR Table 2's aggregate" in text
    assert "CSR     mean 17.0 [" in text and "iqm 17.0 [" in text and "(2 seeds)" in text
    assert "DQN     mean 2.5 [2.5, 2.5]; iqm 2.5 [2.5, 2.5] (1 seed)" in text
