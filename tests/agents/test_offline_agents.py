"""Each agent learns a problem whose answer is known, deterministically, and round-trips."""

import numpy as np
import pytest
import torch

from agents import AGENTS, CQL, TD3BC, TransitionSampler, evaluate
from agents.bcq import MDNEnsemble
from agents.common import Float32Linear, mlp
from agents.td3bc import TD3BCConfig
from causal_envs.datasets.nav2d import generate_nav2d_empirical

SMALL = dict(hidden=(64, 64), batch_size=256)


def bandit(n=4000, seed=0):
    """One-step episodes: reward -|a - a*(s)|, terminal. The best action is a*(s) = (s, -s)."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    a = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    best = np.concatenate([s, -s], 1) * 0.8
    r = -np.abs(a - best).sum(1).astype(np.float32)
    return {
        "observations": s,
        "actions": a,
        "rewards": r,
        "next_observations": s,
        "terminals": np.ones(n, bool),
    }


def make(name, **kw):
    cls = AGENTS[name]
    extra = {"mdn_steps": 300, "mdn_batch_size": 500} if name == "bcq" else {}
    return cls(cls.config_class(**{**SMALL, **extra, "target_clip": (-4.0, 0.0), **kw}))


# bf16 is one mechanism shared by every agent (the autocast of the common update loop, whose
# products test_bf16_runs_only_the_hidden_products_in_bfloat16 checks): one agent learning
# under it shows it trains; every agent under it is checked for determinism below
@pytest.mark.parametrize(
    "name, precision",
    [("td3bc", "fp32"), ("bcq", "fp32"), ("cql", "fp32"), ("td3bc", "bf16")],
)
def test_agents_find_the_best_action_of_a_bandit(name, precision):
    data = bandit()
    extra = {"bc_weight": 0.1} if name == "td3bc" else {}
    agent = make(name, precision=precision, **extra)
    agent.fit(data, 1500, progress=False)
    s = np.linspace(-0.9, 0.9, 9, dtype=np.float32)[:, None]
    best = np.concatenate([s, -s], 1) * 0.8
    err = np.abs(agent.act(s) - best).sum(1).mean()
    random_err = np.abs(np.random.default_rng(1).uniform(-1, 1, (9, 2)) - best).sum(1).mean()
    assert err < 0.35 * random_err, (name, err, random_err)
    for key, values in agent.logs.items():
        assert np.isfinite([v for _, v in values]).all(), key


def test_mdn_proposer_matches_the_data_actions():
    data = bandit()
    mdn = MDNEnsemble(1, 2, members=3, components=5, hidden=(64, 64))
    opt = torch.optim.Adam(mdn.parameters(), lr=3e-3)
    obs = torch.as_tensor(data["observations"][:, :1]) * 0 + 0.3
    act = torch.as_tensor(np.random.default_rng(0).normal(0.5, 0.1, (4000, 2)).astype(np.float32))
    for _ in range(400):
        loss = mdn.nll(obs[:1000], act[:1000])
        opt.zero_grad()
        loss.backward()
        opt.step()
    props = mdn.propose(obs[:200], 20, torch.Generator().manual_seed(0))
    assert props.shape == (200, 20, 2)
    assert (props.mean((0, 1)) - 0.5).abs().max() < 0.05
    assert abs(props.std() - 0.1) < 0.05


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("name", ["td3bc", "bcq", "cql"])
def test_same_seed_same_agent_and_checkpoint_round_trip(name, precision, tmp_path):
    data = bandit(1000)
    # BCQ's proposer pre-training shortened: the test is about sameness, not quality
    short = {"mdn_steps": 30} if name == "bcq" else {}
    a, b = make(name, precision=precision, **short), make(name, precision=precision, **short)
    a.fit(data, 40, progress=False)
    b.fit(data, 40, progress=False)
    s = np.linspace(-1, 1, 7, dtype=np.float32)[:, None]
    if name != "bcq":  # BCQ's act draws proposals from the agent's generator
        assert np.array_equal(a.act(s), b.act(s))
    a_logs = {k: v for k, v in a.logs.items() if not k.startswith("time/")}
    assert a_logs == {k: v for k, v in b.logs.items() if not k.startswith("time/")}
    path = a.save(tmp_path / f"{name}.pt")
    c = type(a).load(path)
    assert c.n_updates == 40
    a.fit(data, 10, progress=False)
    c.fit(data, 10, progress=False)  # training continues identically after a reload
    assert np.array_equal(a.act(s), c.act(s))


def test_bf16_runs_only_the_hidden_products_in_bfloat16():
    net = mlp(3, 1, (16, 16))
    seen = {}
    for i, layer in enumerate(net):
        if isinstance(layer, torch.nn.Linear):
            layer.register_forward_hook(lambda m, x, y, i=i: seen.__setitem__(i, y.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q = net(torch.randn(5, 3))
    assert q.dtype == torch.float32  # the output layer: float32, even under autocast
    assert seen == {0: torch.float32, 2: torch.bfloat16, 4: torch.float32}
    assert isinstance(net[0], Float32Linear) and isinstance(net[4], Float32Linear)
    with pytest.raises(ValueError, match="precision"):
        TD3BC(TD3BCConfig(precision="fp16"))


def test_replay_buffer_and_bad_input():
    data = bandit(50)
    buf = TransitionSampler(data)
    obs, act, _rew, _nxt, done = buf.sample(16, torch.Generator().manual_seed(0))
    assert obs.shape == (16, 1) and act.shape == (16, 2) and done.dtype == torch.float32
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        buf.sample(0, torch.Generator())
    with pytest.raises(ValueError, match="lacks 'terminals'"):
        TransitionSampler({k: v for k, v in data.items() if k != "terminals"})
    bad = dict(data, rewards=np.full(50, np.nan, np.float32))
    with pytest.raises(ValueError, match="rewards contains NaN"):
        TransitionSampler(bad)
    for terminals in (np.full(50, np.nan), np.full(50, 2.0)):
        with pytest.raises(ValueError, match="terminals must be booleans, or numbers 0 and 1"):
            TransitionSampler(dict(data, terminals=terminals))
    agent = TD3BC()
    with pytest.raises(RuntimeError, match="not been trained"):
        agent.act(np.zeros(1))
    agent.fit(data, 1, progress=False)
    with pytest.raises(ValueError, match=r"obs must be \(1,\)"):
        agent.act(np.zeros(3))
    for bad in (np.full(1, np.nan), np.full((2, 1), np.inf)):
        with pytest.raises(ValueError, match="obs must be finite"):
            agent.act(bad)
    with pytest.raises(ValueError, match="n_updates"):
        agent.fit(data, -1)
    with pytest.raises(ValueError, match="holds a 'td3bc' agent"):
        CQL.load(agent.save(__import__("tempfile").mkdtemp() + "/a.pt"))


def test_evaluate_counts_steps_to_goal():
    def straight_to_goal(obs):
        return np.clip((0.85 - obs) / 0.05, -1, 1)

    good = evaluate(straight_to_goal, "CausalNav2D-v0", 16, seed=0)
    assert good.success_rate == 1.0 and 10 < good.mean_steps < 25
    assert all(len(t) == s + 1 for t, s in zip(good.trajectories, good.steps, strict=True))
    idle = evaluate(lambda o: np.zeros_like(o), "CausalNav2D-v0", 4, seed=0)
    assert idle.success_rate == 0.0 and idle.mean_steps == 70 and idle.mean_return == -70
    with pytest.raises(ValueError, match="n_episodes must be an integer >= 1"):
        evaluate(straight_to_goal, "CausalNav2D-v0", 0)


def test_tensorboard_logs(tmp_path):
    agent = make("td3bc")
    agent.fit(generate_nav2d_empirical(0, 300).to_d4rl(), 200, log_dir=tmp_path, progress=False)
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


def test_td3bc_targets_use_the_online_actor_as_the_authors_mrl_does():
    """With the default ``target_policy="online"`` the target actor plays no part: scrambling
    it changes nothing; with ``"target"`` (Fujimoto's TD3) it does."""
    data = bandit(n=1000)
    data["terminals"] = np.zeros(1000, bool)  # bootstrap, so the target's next action matters
    runs = {}
    for policy in ("online", "target"):
        for scramble in (False, True):
            agent = make("td3bc", target_policy=policy, policy_delay=1)
            agent.fit(data, 1, progress=False)
            if scramble:
                with torch.no_grad():
                    for p in agent.actor_target.parameters():
                        p.add_(1.0)
            agent.fit(data, 5, progress=False)
            runs[policy, scramble] = agent.act(data["observations"][:50])
    assert np.array_equal(runs["online", False], runs["online", True])
    assert not np.array_equal(runs["target", False], runs["target", True])
    with pytest.raises(ValueError, match="target_policy must be"):
        AGENTS["td3bc"].config_class(target_policy="lagged")


def test_cql_keeps_the_authors_nav2d_target_range():
    assert AGENTS["cql"].config_class().target_clip == (-40.0, 0.0)
    assert AGENTS["td3bc"].config_class().target_clip == (-50.0, 0.0)


@pytest.mark.parametrize("name", ["td3bc", "bcq", "cql"])
@pytest.mark.parametrize(
    "field, value",
    [
        ("batch_size", 0),
        ("batch_size", 2.0),
        ("gamma", 2),
        ("gamma", 1.0),
        ("gamma", float("nan")),
        ("hidden", (0,)),
        ("hidden", ()),
        ("hidden", "64"),
        ("lr", 0.0),
        ("tau", 0.0),
        ("seed", -1),
        ("seed", True),
        ("target_clip", (0.0, -1.0)),
        ("target_clip", (1.0,)),
    ],
)
def test_bad_settings_are_refused_with_their_name(name, field, value):
    cls = AGENTS[name].config_class
    with pytest.raises(ValueError, match=field):
        cls(**{field: value})


def test_settings_take_numpy_scalars_and_agent_specific_fields_are_checked():
    from agents.bcq import BCQConfig
    from agents.cql import CQLConfig

    c = BCQConfig(batch_size=np.int64(64), gamma=np.float32(0.5), hidden=[np.int32(8)])
    assert (type(c.batch_size), type(c.gamma), c.hidden) == (int, float, (8,))
    for kw in ({"mdn_steps": -1}, {"n_proposals": 0}, {"mdn_hidden": (0,)}, {"mdn_lr": 0}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            BCQConfig(**kw)
    with pytest.raises(ValueError, match="log_std_range"):
        CQLConfig(log_std_range=(2.0, -5.0))
    with pytest.raises(ValueError, match="policy_delay"):
        TD3BCConfig(policy_delay=0)


def test_bcq_refuses_a_bad_update_count_before_pre_training(monkeypatch):
    from agents.bcq import BCQ, MDNEnsemble

    def never(*args, **kwargs):
        raise AssertionError("the proposer was pre-trained before n_updates was checked")

    monkeypatch.setattr(MDNEnsemble, "nll", never)
    with pytest.raises(ValueError, match="n_updates"):
        BCQ().fit(bandit(50), -5)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["state"].pop("actor"), r"state checkpoint: it lacks 'actor'"),
        (lambda p: p.update(state=[1, 2]), r"state checkpoint: it lacks 'actor'"),
        (lambda p: p["config"].update(bogus=1), r"td3bc config is not this version.s.*bogus"),
        (lambda p: p.update(config=[1]), r"its config is not a dict"),
        (lambda p: p.update(dims=(4,)), r"its dims must be the observation and action sizes"),
        (lambda p: p.update(dims=[3, 1]), r"its 'actor' does not fit a td3bc agent"),
        (lambda p: p["config"].update(hidden=[8]), r"its 'actor' does not fit a td3bc agent"),
    ],
)
def test_a_checkpoint_with_broken_contents_is_a_checkpoint_error(tmp_path, edit, message):
    from causal_envs.core.checkpoint import CheckpointError

    agent = TD3BC(TD3BCConfig(hidden=(16, 16), seed=0))
    agent.fit(bandit(200), 2, progress=False)
    payload = torch.load(agent.save(tmp_path / "a.pt"), weights_only=True)
    edit(payload)
    torch.save(payload, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match=message):
        TD3BC.load(tmp_path / "b.pt")
