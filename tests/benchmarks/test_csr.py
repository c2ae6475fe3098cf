import json
from pathlib import Path

import pytest

from benchmarks import csr
from benchmarks.results import output_dir


@pytest.mark.smoke
def test_cartpole_smoke_runs_every_method_and_resumes(capsys):
    state = csr.main("csr-cartpole", "smoke", fresh=True)
    assert set(state["cells"]) == {f"seed=0/method={m}" for m in csr.METHODS}
    for cell in state["cells"].values():
        assert [t["task"] for t in cell["tasks"]] == [0, 1, 2, 3]
        for t in cell["tasks"]:
            assert t["curve"] and all(len(p) == 2 for p in t["curve"])
    wm = state["cells"]["seed=0/method=csr"]["tasks"]
    assert wm[3]["new_actions"] == 4  # task 4 adds four forces
    assert wm[2]["truth"] == ["state_expansion"]
    assert all(t["decision"] in ("distribution_shift", "space_expansion") for t in wm[1:])
    # task 3 shows a new observed variable: CSR expands, and draws its reconstructions
    assert wm[2]["decision"] == "space_expansion" and wm[2]["added"] >= 1
    assert Path(wm[2]["reconstructions"]).stat().st_size > 0
    assert state["cells"]["seed=0/method=dreamer"]["tasks"][1]["decision"] == "fine_tune"
    assert state["cells"]["seed=0/method=adarl"]["tasks"][2]["added"] == 0  # AdaRL never expands
    out = capsys.readouterr().out
    assert "minimum adaptation steps" in out and "detected change" in out
    path = output_dir() / "csr_cartpole_smoke.json"
    assert json.loads(path.read_text())["bench"] == "csr-cartpole"
    assert (output_dir() / "csr_cartpole_smoke_curves.png").stat().st_size > 0
    assert "final score" in (output_dir() / "csr_cartpole_smoke.txt").read_text()
    csr.main("csr-cartpole", "smoke")
    assert "resuming: 4 finished cells" in capsys.readouterr().out


@pytest.mark.smoke
def test_synthetic_smoke_reports_true_expansion_sizes(capsys):
    state = csr.main("csr-synthetic", "smoke", fresh=True)
    tasks = state["cells"]["seed=0/method=csr"]["tasks"]
    assert tasks[2]["true_new_latent"] >= 3 and tasks[1]["true_new_latent"] == 0
    assert "true" in capsys.readouterr().out


def test_adaptation_steps_need_a_positive_source_score():
    def cell(seed, scores):
        tasks = [{"final_score": scores[0], "curve": [(100, scores[0])], "start": 0}]
        tasks.append(
            {"final_score": scores[1], "curve": [(300, 0.0), (600, scores[1])], "start": 200}
        )
        return {"seed": seed, "method": "csr", "tasks": tasks}

    cells = [cell(0, (200.0, 190.0)), cell(1, (0.0, 0.0))]
    targets = csr.adaptation_targets(cells, 0.9)
    assert targets == {0: 180.0, 1: None}  # 90% of a zero score is no target
    assert csr.adaptation_steps(cells[0], 1, targets) == 400  # 600 - 200 env steps on the task
    assert csr.adaptation_steps(cells[1], 1, targets) is None


def test_dqn_uses_the_zoo_settings_and_one_learn_call_per_task(monkeypatch):
    from dataclasses import replace

    from stable_baselines3 import DQN

    p = csr.BENCHMARKS["csr-cartpole"]["smoke"]
    settings = csr.dqn_settings(replace(p, dqn={}), pixels=False)
    assert settings == csr.ZOO_DQN_CARTPOLE and settings["train_freq"] == 256
    calls = []
    original = DQN.learn

    def spy(self, total_timesteps, **kwargs):
        calls.append(total_timesteps)
        return original(self, total_timesteps, **kwargs)

    monkeypatch.setattr(DQN, "learn", spy)
    row = csr._run_dqn(replace(p, source_steps=300, task_steps=150), seed=0, device="cpu")
    # SB3 anneals epsilon over a fraction of each learn call: one call per task's budget
    assert calls == [300, 150, 150, 150]
    assert [s for s, _ in row["tasks"][0]["curve"]] == [100, 200, 300]
    assert [s for s, _ in row["tasks"][1]["curve"]] == [400, 450]  # 150 is no multiple of 100


def test_source_task_trains_until_learned(tmp_path):
    from dataclasses import replace

    p = replace(csr.BENCHMARKS["csr-cartpole"]["smoke"], source_target=0.0, source_patience=2)
    assert csr.source_learned([(100, 5.0), (200, 0.0)], p)
    assert not csr.source_learned([(100, 5.0)], p)  # fewer evaluations than the patience
    assert not csr.source_learned([(100, -1.0), (200, 3.0)], replace(p, source_target=2.0))
    row = csr._run_dqn(replace(p, source_steps=1_000, task_steps=100), seed=0, device="cpu")
    # every CartPole score is >= 0: learned at the second evaluation, not the 1,000-step budget
    assert [s for s, _ in row["tasks"][0]["curve"]] == [100, 200]
    assert row["tasks"][1]["start"] == 200
    targets = csr.adaptation_targets([row], 0.9, optimum=500.0)
    assert targets == {0: 450.0}
    cell = csr._run_world_model(
        replace(p, source_steps=1_000, task_steps=100), "adarl", 0, tmp_path, "cpu"
    )
    curve = cell["tasks"][0]["curve"]
    assert len(curve) == 2 and curve[-1][0] < 1_000


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
