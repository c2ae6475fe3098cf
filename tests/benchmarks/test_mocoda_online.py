"""The online MoCoDA benchmark: its smoke profile end to end through the runner (record,
summary, report, figure, resumption), the same numbers from the same seed, refused profiles,
and its two-masses env against the one the your-own-env guide builds."""

from __future__ import annotations

import json
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest

from benchmarks import mocoda_online as bench
from benchmarks import render
from benchmarks.mocoda_profiles import ONLINE_ENVS, ONLINE_METHODS
from benchmarks.results import output_dir
from benchmarks.two_masses import GOALS, make_two_masses
from tests.test_docs import ROOT, run_page

SMOKE = bench.PROFILES["smoke"]
#: what a record holds that depends on the machine's speed, not on the seed
TIMINGS = ("train_seconds", "seconds_per_step", "eval_seconds", "refit_seconds")


@pytest.mark.smoke
def test_smoke_profile_runs_reports_plots_and_resumes(capsys, monkeypatch):
    state = bench.main("smoke", fresh=True)
    assert len(state["cells"]) == len(bench.ENVS) * len(ONLINE_METHODS) * len(SMOKE.seeds)
    evaluations = [0, *range(SMOKE.eval_every, SMOKE.steps + 1, SMOKE.eval_every)]
    for record in state["cells"].values():
        assert [row["env_steps"] for row in record["curve"]] == evaluations
        for row in record["curve"]:
            assert 0.0 <= row["success_rate"] <= 1.0
            assert np.isfinite(row["mean_return"]) and 1 <= row["mean_length"] <= 70
        assert record["final_success"] == record["curve"][-1]["success_rate"]
        assert 0.0 <= record["auc_success"] <= 1.0
        assert record["train_seconds"] > 0 and record["seconds_per_step"] > 0
        assert 0 <= record["train_successes"] <= record["train_episodes"]
        assert (
            record["device"]
            == state["cell_provenance"][f"env={record['env']}/method={record['method']}/seed=0"][
                "device"
            ]
        )
        # the smoke profile fits MoCoDA after 100 real steps and every 100 after
        fits = record["n_refits"]
        assert fits == len(record["refit_seconds"])
        assert fits >= 1 if record["method"] == "sac-mocoda" else fits == 0

    summary = state["summary"]
    assert summary["success_level"] == SMOKE.success_level
    for env_name in bench.ENVS:
        env_out = summary["envs"][env_name]
        assert set(env_out["methods"]) == set(ONLINE_METHODS)
        assert env_out["cost_ratio"] > 0 and env_name in env_out["finding"]
        row = env_out["methods"]["sac-mocoda"]
        assert row["final_success"]["interval"] == "range of 1 seed"
        assert len(row["curve"]) == len(evaluations) and row["refit_seconds_mean"] > 0
    saved = json.loads((output_dir() / "mocoda_online_smoke.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(summary))

    out = capsys.readouterr().out
    assert "| method | final success | AUC success |" in out
    assert "x sac" in out and "sac-mocoda's fits" in out
    assert (output_dir() / "mocoda_online_smoke_success.png").stat().st_size > 10_000

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished cell was trained again")

    monkeypatch.setattr(bench, "train_cell", must_not_run)
    again = bench.main("smoke")
    assert "resuming: 4 finished cells" in capsys.readouterr().out
    assert again["cells"] == state["cells"]
    # the docs' renderer reads the record: a table per env, the peer at 1.00x, the finding
    page = render.mocoda_online(str(output_dir() / "mocoda_online_smoke.json"))
    assert page.count("| sac |") == len(bench.ENVS) and "1.00x (peer)" in page
    assert summary["envs"]["nav2d"]["finding"] in page and "Source: [" in page


def _seeded(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMINGS}


@pytest.mark.parametrize(("env_name", "method"), [("two-masses", "sac-mocoda"), ("nav2d", "sac")])
def test_the_same_seed_gives_the_same_record(env_name, method):
    first = bench.train_cell(env_name, method, 0, SMOKE, "cpu")
    again = bench.train_cell(env_name, method, 0, SMOKE, "cpu")
    assert _seeded(again) == _seeded(first)
    assert len(again["refit_seconds"]) == len(first["refit_seconds"])


def test_another_seed_gives_another_curve():
    returns = [
        [
            row["mean_return"]
            for row in bench.train_cell("two-masses", "sac", s, SMOKE, "cpu")["curve"]
        ]
        for s in (0, 1)
    ]
    assert returns[0] != returns[1]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": 0}, "steps"),
        ({"eval_every": 0}, "eval_every"),
        ({"steps": 301}, "multiple of eval_every"),
        ({"eval_episodes": 0}, "eval_episodes"),
        ({"success_level": 0.0}, "success_level"),
        ({"success_level": 1.5}, "success_level"),
        ({"learning_starts": -1}, "learning_starts"),
        ({"batch_size": 0}, "batch_size"),
        ({"net_arch": (16, 0)}, "net_arch"),
        ({"net_arch": [16, 16]}, "net_arch"),
        ({"envs": ("cartpole",)}, "envs"),
        ({"envs": ()}, "envs"),
        ({"methods": ("td3",)}, "methods"),
        ({"methods": ("sac", "sac")}, "methods"),
        ({"seeds": ()}, "seeds"),
        ({"seeds": (1, 1)}, "seeds"),
        ({"mocoda_kwargs": {"mocoda_config": {}}}, "mocoda_config"),
        ({"description": ""}, "description"),
    ],
)
def test_bad_profiles_are_refused(change, field):
    with pytest.raises(ValueError, match=field):
        replace(SMOKE, **change)


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"mocoda_kwargs": {"env": "CausalNav2D-v0"}}, ValueError, "mocoda_kwargs"),
        ({"mocoda_kwargs": {"refit_evry": 10}}, ValueError, "mocoda_kwargs"),
        ({"mocoda_config": {"n_component": 4}}, TypeError, "n_component"),
    ],
)
def test_settings_only_the_buffer_knows_are_refused_when_the_run_starts(change, error, field):
    # the profiles are torch-free (the command line lists them): the MoCoDA buffer's keywords
    # and online_config's are checked by `cells`, before any cell runs
    with pytest.raises(error, match=field):
        bench.cells(replace(SMOKE, **change))


def test_the_profiles_name_the_benchmarks_envs():
    assert ONLINE_ENVS == tuple(bench.ENVS)


def test_the_cells_are_env_x_method_x_seed():
    p = bench.PROFILES["quick"]
    assert p.seeds == (5, 6, 7, 8, 9)
    ids = [c.id for c in bench.cells(p)]
    assert len(ids) == len(set(ids)) == 2 * 2 * 5
    assert ids[0] == "env=nav2d/method=sac/seed=5"


def _play(env: gym.Env, seed: int, actions: np.ndarray) -> list[tuple]:
    """Every step of ``env`` under ``actions`` from ``reset(seed=seed)``, resetting (with the
    next seed) when an episode ends: (observation, reward, terminated, truncated)."""
    out = []
    obs, _ = env.reset(seed=seed)
    out.append((obs, None, None, None))
    for t, action in enumerate(actions):
        obs, reward, terminated, truncated, _ = env.step(action)
        out.append((obs, reward, terminated, truncated))
        if terminated or truncated:
            obs, _ = env.reset(seed=seed + t + 1)
            out.append((obs, None, None, None))
    return out


def test_the_benchmark_two_masses_is_the_guide_env():
    """The guide's code runs (tests/test_docs.py's runner), and the env it registers gives the
    same observations, rewards, terminations and truncations as the benchmark's copy."""
    guide = run_page(ROOT / "docs" / "guides" / "your-own-env.md")
    theirs, ours = gym.make("TwoMasses-v0"), make_two_masses()
    assert theirs.observation_space == ours.observation_space
    assert theirs.action_space == ours.action_space
    structure = (theirs.unwrapped.causal_structure, ours.unwrapped.causal_structure)
    assert structure[0].parent_sets == structure[1].parent_sets
    assert np.array_equal(structure[0].graph, structure[1].graph)
    np.testing.assert_array_equal(guide["GOALS"], GOALS)

    # random pushes (truncated after 50 steps), then a controller that halves both masses'
    # distances to their goals each step near them (terminations, after steps near the
    # termination's threshold)
    rng = np.random.default_rng(0)
    random_part = rng.uniform(-1.5, 1.5, (120, 4)).astype(np.float32)
    steps = {"theirs": [], "ours": []}
    for name, env in (("theirs", theirs), ("ours", ours)):
        steps[name] = _play(env, 7, random_part)
        obs, _ = env.reset(seed=11)
        for _ in range(3):  # three episodes, each ending at the goals
            for _ in range(40):
                action = np.clip((GOALS.ravel() - obs) / 0.2, -1, 1).astype(np.float32)
                obs, reward, terminated, truncated, _ = env.step(action)
                steps[name].append((obs, reward, terminated, truncated))
                if terminated or truncated:
                    break
            obs, _ = env.reset()
            steps[name].append((obs, None, None, None))
    assert len(steps["theirs"]) == len(steps["ours"])
    for a, b in zip(steps["theirs"], steps["ours"], strict=True):
        assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]
    ends = [s for s in steps["ours"] if s[1] is not None]
    assert any(s[3] for s in ends)  # truncations
    assert sum(bool(s[2]) for s in ends) >= 3  # terminations

    # the declared labels agree on any batch: anywhere (the masses apart included) and near
    # the goals, where the termination's threshold lies
    s = rng.uniform(-1, 1, (256, 4))
    a = rng.uniform(-1, 1, (256, 4))
    s2 = guide["move"](s, a)
    s2[128:] = GOALS.ravel() + rng.normal(0.0, 0.04, (128, 4))
    for fn in ("reward_fn", "termination_fn"):
        mine = getattr(ours.unwrapped, fn)(s, a, s2)
        assert np.array_equal(getattr(theirs.unwrapped, fn)(s, a, s2), mine)
