"""An augmented or goal-conditioned dataset into d3rlpy, torchrl and Minari in one call each:
every transition arrives exactly, and each library's own algorithm trains on it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from augment import DynamicsConfig, MoCoDA, MoCoDAConfig, TrainingConfig
from causal_envs.datasets import (
    TransitionDataset,
    load_stored,
    to_d3rlpy,
    to_minari,
    to_torchrl,
    transitions_from_minari,
)
from causal_envs.datasets.export import transition_runs
from causal_envs.datasets.nav2d import generate_nav2d_empirical
from causal_envs.datasets.transitions import ARRAY_FIELDS

N_EMPIRICAL, N_TOTAL = 600, 1_000


@pytest.fixture(scope="module")
def augmented() -> TransitionDataset:
    """A small MoCoDA-augmented Nav2D set: 600 empirical transitions (24 episodes, 8 terminals
    inside episodes that go on) then 400 generated ones, each its own episode. The goal box is
    rarely hit by so few generated rows, so five of them are flagged terminal here: the
    exporters must keep a generated row's terminal flag too."""
    torch.manual_seed(0)
    data = generate_nav2d_empirical(seed=0, n_per_behaviour=N_EMPIRICAL // 2)
    config = MoCoDAConfig(
        total_size=N_TOTAL,
        n_components=2,
        val_size=100,
        seed=0,
        dynamics=DynamicsConfig(
            hidden=(16, 16), embed_dim=8, training=TrainingConfig(epochs=1, batch_size=128)
        ),
    )
    out = MoCoDA("CausalNav2D-v0", config).fit(data, models=("local",)).generate("mocoda")
    assert out.metadata["n_empirical"] == N_EMPIRICAL
    assert out.metadata["n_generated"] == N_TOTAL - N_EMPIRICAL
    terminals = out.terminals.copy()
    terminals[[600, 650, 700, 800, 999]] = True
    return dataclasses.replace(out, terminals=terminals)


@pytest.fixture(scope="module")
def goal_conditioned() -> TransitionDataset:
    """HookSweep2's layout, ``[state (16), goal (6)]`` rows: 3 expert-like episodes of 20 steps
    (one goal each, so their rows chain), then 40 rows relabelled each with its own goal (what
    MoCoDA's goal-conditioned output is), so none of those chain."""
    rng = np.random.default_rng(1)
    parts = []
    for _ in range(3):
        states = rng.random((21, 16), dtype=np.float32)
        goal = np.repeat(rng.random((1, 6), dtype=np.float32), 21, axis=0)
        obs = np.concatenate([states, goal], axis=1)
        parts.append((obs[:-1], obs[1:], np.arange(20) == 19))
    for _ in range(40):
        pair = np.concatenate(
            [rng.random((2, 16), dtype=np.float32), rng.random((2, 6), dtype=np.float32)], axis=1
        )
        parts.append((pair[:1], pair[1:], np.ones(1, np.bool_)))
    n = 100
    return TransitionDataset(
        observations=np.concatenate([p[0] for p in parts]),
        actions=rng.uniform(-1, 1, (n, 4)).astype(np.float32),
        rewards=-rng.random(n, dtype=np.float32),
        next_observations=np.concatenate([p[1] for p in parts]),
        terminals=rng.random(n) < 0.1,
        episode_ends=np.concatenate([p[2] for p in parts]),
        metadata={"n_empirical": 60, "n_generated": 40, "observation_layout": "state then goal"},
    )


def _empty() -> TransitionDataset:
    arrays = {name: np.zeros((0, 2), np.float32) for name in ARRAY_FIELDS[:4]}
    arrays["rewards"] = np.zeros(0, np.float32)
    flags = np.zeros(0, np.bool_)
    return TransitionDataset(**arrays, terminals=flags, episode_ends=flags)


# --- d3rlpy -------------------------------------------------------------------------------


def _d3rlpy_rows(buffer) -> dict[str, np.ndarray]:
    """Every transition the buffer's picker gives, in order."""
    rows: dict[str, list] = {k: [] for k in ("o", "a", "r", "n", "d")}
    for episode in buffer.episodes:
        for i in range(episode.transition_count):
            t = buffer.transition_picker(episode, i)
            values = (t.observation, t.action, t.reward[0], t.next_observation, t.terminal)
            for key, value in zip("oarnd", values, strict=True):
                rows[key].append(value)
    return {k: np.asarray(v) for k, v in rows.items()}


@pytest.mark.parametrize("which", ["augmented", "goal_conditioned"])
def test_d3rlpy_keeps_every_transition(which, request):
    pytest.importorskip("d3rlpy")
    data = request.getfixturevalue(which)
    buffer = to_d3rlpy(data)
    rows = _d3rlpy_rows(buffer)
    assert buffer.transition_count == len(data) == len(rows["o"])
    np.testing.assert_array_equal(rows["o"], data.observations)
    np.testing.assert_array_equal(rows["a"], data.actions)
    np.testing.assert_array_equal(rows["r"], data.rewards)
    np.testing.assert_array_equal(rows["n"], data.next_observations)
    np.testing.assert_array_equal(rows["d"], data.terminals.astype(np.float32))
    # one d3rlpy episode per run: each generated (or per-row relabelled) row is its own
    n_generated = data.metadata["n_generated"]
    n_episodes = int(data.episode_ends[: data.metadata["n_empirical"]].sum())
    assert len(buffer.episodes) == len(transition_runs(data)) == n_episodes + n_generated


def test_d3rlpy_td3plusbc_trains_on_an_augmented_set(augmented):
    d3rlpy = pytest.importorskip("d3rlpy")
    from d3rlpy.logging import NoopAdapterFactory

    d3rlpy.seed(0)
    algo = d3rlpy.algos.TD3PlusBCConfig(batch_size=64).create(device="cpu:0")
    history = algo.fit(
        to_d3rlpy(augmented),
        n_steps=200,
        n_steps_per_epoch=200,
        logger_adapter=NoopAdapterFactory(),
        show_progress=False,
    )
    metrics = history[-1][1]
    assert np.isfinite(metrics["critic_loss"]) and np.isfinite(metrics["actor_loss"])
    action = algo.predict(augmented.observations[:8])
    assert action.shape == (8, 2) and (np.abs(action) <= 1).all()


# --- torchrl ------------------------------------------------------------------------------


def test_torchrl_buffer_holds_every_transition_in_torchrl_keys(augmented):
    pytest.importorskip("torchrl")
    buffer = to_torchrl(augmented, batch_size=32)
    assert len(buffer) == len(augmented)
    stored = buffer[:]
    n = len(augmented)
    expected = {
        "observation": (augmented.observations, torch.float32, (n, 2)),
        "action": (augmented.actions, torch.float32, (n, 2)),
        ("next", "observation"): (augmented.next_observations, torch.float32, (n, 2)),
        ("next", "reward"): (augmented.rewards[:, None], torch.float32, (n, 1)),
        ("next", "terminated"): (augmented.terminals[:, None], torch.bool, (n, 1)),
    }
    for key, (values, dtype, shape) in expected.items():
        assert stored[key].dtype == dtype and tuple(stored[key].shape) == shape, key
        np.testing.assert_array_equal(stored[key].numpy(), values, err_msg=str(key))
    # a generated one-step transition that is not terminal is truncated; done = either
    terminated = stored["next", "terminated"][:, 0].numpy()
    truncated = stored["next", "truncated"][:, 0].numpy()
    assert truncated[N_EMPIRICAL:].tolist() == (~terminated[N_EMPIRICAL:]).tolist()
    assert truncated[:N_EMPIRICAL].sum() == augmented.timeouts[:N_EMPIRICAL].sum()
    np.testing.assert_array_equal(stored["next", "done"][:, 0].numpy(), terminated | truncated)
    # runs: the empirical episodes, then one per generated row
    episode = stored["episode"].numpy()
    empirical_episodes = int(augmented.episode_ends[:N_EMPIRICAL].sum())
    assert episode[0] == 0 and episode[N_EMPIRICAL - 1] == empirical_episodes - 1
    assert (np.diff(episode[N_EMPIRICAL - 1 :]) == 1).all()
    # a sampled batch is rows of the dataset, found by their index
    torch.manual_seed(0)
    batch = buffer.sample()
    rows = batch["index"].numpy()
    assert batch.batch_size == torch.Size([32])
    np.testing.assert_array_equal(batch["observation"].numpy(), augmented.observations[rows])
    np.testing.assert_array_equal(
        batch["next", "observation"].numpy(), augmented.next_observations[rows]
    )


def test_torchrl_takes_a_goal_conditioned_set_and_discrete_actions(goal_conditioned):
    pytest.importorskip("torchrl")
    stored = to_torchrl(goal_conditioned)[:]
    np.testing.assert_array_equal(stored["observation"].numpy(), goal_conditioned.observations)
    np.testing.assert_array_equal(
        stored["next", "observation"].numpy(), goal_conditioned.next_observations
    )
    assert stored["episode"].max().item() == 3 + 40 - 1
    indices = np.arange(len(goal_conditioned)) % 3
    discrete = dataclasses.replace(
        goal_conditioned,
        actions=indices.astype(np.float32).reshape(-1, 1),
        metadata={"action_n": 3},
    )
    actions = to_torchrl(discrete)[:]["action"]
    assert actions.dtype == torch.int64 and actions.tolist() == indices.tolist()
    with pytest.raises(ValueError, match="integer action"):
        to_torchrl(goal_conditioned, discrete=True)


def test_torchrl_td3bc_loss_trains_on_an_augmented_set(augmented):
    pytest.importorskip("torchrl")
    from tensordict.nn import TensorDictModule
    from torchrl.data import Bounded
    from torchrl.modules import MLP, ValueOperator
    from torchrl.objectives import SoftUpdate, TD3BCLoss

    torch.manual_seed(0)
    buffer = to_torchrl(augmented, batch_size=128)
    actor = TensorDictModule(
        torch.nn.Sequential(
            MLP(in_features=2, out_features=2, num_cells=[64, 64]), torch.nn.Tanh()
        ),
        in_keys=["observation"],
        out_keys=["action"],
    )
    qvalue = ValueOperator(
        MLP(in_features=4, out_features=1, num_cells=[64, 64]), in_keys=["observation", "action"]
    )
    loss = TD3BCLoss(actor, qvalue, action_spec=Bounded(-1, 1, shape=(2,)))
    loss.make_value_estimator(gamma=0.9)
    target_update = SoftUpdate(loss, tau=0.05)
    optimizer = torch.optim.Adam(loss.parameters(), lr=1e-3)
    everything = buffer[:]

    def bc_error() -> float:
        with torch.no_grad():
            predicted = actor(everything.select("observation").clone())["action"]
            return float(((predicted - everything["action"]) ** 2).mean())

    before, critic = bc_error(), []
    for step in range(300):
        out = loss(buffer.sample())
        total = out["loss_qvalue"] + (out["loss_actor"] if step % 2 else 0.0)  # delayed actor
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        target_update.step()
        critic.append(out["loss_qvalue"].item())
    assert np.isfinite(critic).all()
    assert np.mean(critic[-20:]) < np.mean(critic[:20])
    assert bc_error() < 0.5 * before  # TD3+BC's actor moves towards the data's actions
    # the TD target stops at a terminal: r, with no bootstrapped value after it
    terminal_rows = buffer[np.flatnonzero(augmented.terminals)]
    with torch.no_grad():
        target = loss(terminal_rows)["target_value"]
    np.testing.assert_allclose(
        target.numpy(), augmented.rewards[augmented.terminals], rtol=0, atol=1e-6
    )


# --- Minari -------------------------------------------------------------------------------


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    return tmp_path / "minari"


def _assert_same_transitions(back: TransitionDataset, data: TransitionDataset) -> None:
    for name in ("observations", "actions", "rewards", "next_observations", "terminals"):
        np.testing.assert_array_equal(getattr(back, name), getattr(data, name), err_msg=name)


def test_minari_lists_and_loads_an_augmented_set_with_every_transition(augmented, minari_root):
    minari = pytest.importorskip("minari")
    from minari.cli import app
    from typer.testing import CliRunner

    written = to_minari(augmented, "me/nav2d-mocoda-v0")  # the root: $MINARI_DATASETS_PATH
    assert (minari_root / "me" / "nav2d-mocoda-v0" / "data").is_dir()
    assert "me/nav2d-mocoda-v0" in minari.list_local_datasets()
    listed = CliRunner().invoke(app, ["list", "local"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "me/nav2d-mocoda-v0" in listed.output
    ds = minari.load_dataset("me/nav2d-mocoda-v0")
    assert ds.total_steps == written.total_steps == len(augmented)
    # the empirical episodes stay episodes; each generated row is a one-step episode
    assert ds.total_episodes == augmented.n_episodes
    back = transitions_from_minari(ds)  # episode by episode, through Minari's HDF5
    _assert_same_transitions(back, augmented)
    np.testing.assert_array_equal(back.episode_ends, augmented.episode_ends)
    meta = ds.storage.metadata["causal_envs"]
    assert meta["n_generated"] == 400 and meta["n_empirical"] == N_EMPIRICAL
    assert meta["minari_episodes"] == augmented.n_episodes
    env = ds.recover_environment()
    assert env.spec.id == "CausalNav2D-v0"
    env.close()
    (last,) = ds.iterate_episodes([ds.total_episodes - 1])
    assert last.terminations.tolist() == [True]  # row 999, flagged terminal
    # the package's flat copy of the same dataset reads back exactly too
    exact = load_stored("me/nav2d-mocoda-v0", minari_root, regenerate_hint="to_minari")
    assert exact.equals(augmented)


def test_minari_splits_an_episode_where_its_rows_stop_chaining(augmented, minari_root):
    minari = pytest.importorskip("minari")
    observations = augmented.observations.copy()
    observations[10] += 0.01  # row 9's s' is no longer row 10's s: two runs in episode 0
    assert not augmented.episode_ends[9]
    broken = dataclasses.replace(augmented, observations=observations)
    ds = to_minari(broken, "me/broken-v0", root=minari_root)
    assert ds.total_steps == len(broken)
    assert ds.total_episodes == augmented.n_episodes + 1
    (first,) = ds.iterate_episodes([0])
    assert len(first.actions) == 10 and first.truncations[-1] and not first.terminations[-1]
    np.testing.assert_array_equal(first.observations[-1], broken.next_observations[9])
    back = transitions_from_minari(minari.load_dataset("me/broken-v0"))
    _assert_same_transitions(back, broken)
    assert back.episode_ends[9] and back.episode_ends.sum() == broken.episode_ends.sum() + 1


def test_minari_takes_a_goal_conditioned_set_with_its_flat_env(goal_conditioned, minari_root):
    minari = pytest.importorskip("minari")
    pytest.importorskip("mujoco")
    meta = {**goal_conditioned.metadata, "env_id": "HookSweep2-v1"}  # as MoCoDA's output says
    to_minari(dataclasses.replace(goal_conditioned, metadata=meta), "me/hooksweep2-goals-v0")
    ds = minari.load_dataset("me/hooksweep2-goals-v0")
    assert ds.total_steps == 100 and ds.total_episodes == 3 + 40
    _assert_same_transitions(transitions_from_minari(ds), goal_conditioned)
    spec = json.loads(ds.storage.metadata["env_spec"])
    assert spec["id"] == "HookSweep2-v1" and spec["kwargs"]["flat_obs"] is True


def test_minari_refuses_bad_input(augmented, goal_conditioned, minari_root):
    pytest.importorskip("minari")
    small = augmented.head(20)
    for bad in ("nav2d mocoda-v0", "me/no-version", "me/../up-v0"):
        with pytest.raises(ValueError, match="Minari refuses"):
            to_minari(small, bad)
    with pytest.raises(TypeError, match="dataset_id"):
        to_minari(small, 3)
    with pytest.raises(ValueError, match="namespace of your own"):
        to_minari(small, "causal-envs/nav2d/empirical-v0")
    with pytest.raises(ValueError, match="no transitions"):
        to_minari(_empty(), "me/empty-v0")
    with pytest.raises(ValueError, match="names no env"):
        to_minari(goal_conditioned, "me/goals-v0")
    with pytest.raises(ValueError, match="does not fit the data"):
        to_minari(goal_conditioned, "me/goals-v0", env="CausalNav2D-v0")
    with pytest.raises(TypeError, match="env must be"):
        to_minari(small, "me/small-v0", env=42)
    to_minari(small, "me/small-v0")
    with pytest.raises(FileExistsError):
        to_minari(small, "me/small-v0")
    assert to_minari(augmented.head(30), "me/small-v0", overwrite=True).total_steps == 30
    with pytest.raises(ValueError, match="hidden from Minari"):
        to_minari(small, "me/small-v0/inner-v0")
    to_minari(small, "ns-v0/inner-v0")
    with pytest.raises(ValueError, match="not a dataset"):
        to_minari(small, "ns-v0", overwrite=True)  # the namespace folder holding inner-v0


def test_torchrl_refuses_bad_input(augmented):
    pytest.importorskip("torchrl")
    with pytest.raises(ValueError, match="no transitions"):
        to_torchrl(_empty())
    with pytest.raises(TypeError, match="D4RL dict"):
        to_torchrl(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="batch_size"):
        to_torchrl(augmented, batch_size=0)
    with pytest.raises(TypeError, match="discrete"):
        to_torchrl(augmented, discrete="yes")


def test_d3rlpy_refuses_an_empty_dataset():
    pytest.importorskip("d3rlpy")
    with pytest.raises(ValueError, match="no transitions"):
        to_d3rlpy(_empty())
