"""Every torch module runs on the device it is given, and nowhere else.

This machine has no GPU, so the tests make a second device out of torch's default: they set
it to ``meta`` (tensors without storage) and give every module ``device="cpu"`` explicitly.
A tensor or parameter that the code builds without naming its device then lands on ``meta``,
and the first operation mixing it with the real ones fails ("Tensor on device meta is not on
the expected device cpu"); on a CUDA machine the same line would have put it on the CPU. What
runs below is the real work, briefly: training, sampling, acting, growing, pruning, saving
and loading. A static check covers what the default device cannot reach: tensors made from
NumPy arrays (always on the CPU), generators (CPU unless told) and ``"cpu"`` written in code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import causal_envs  # noqa: F401  (registers the envs)
from agents import AGENTS
from agents.csr import CSRAgent, CSRConfig, adapt
from agents.csr import WorldModelParams as W
from augment import DynamicsConfig, FactoredEnsemble, MoCoDA, MoCoDAConfig, TrainingConfig
from causal_envs.core.device import check_device_spec, resolve_device
from causal_envs.datasets.nav2d import generate_nav2d_empirical
from causal_envs.tasks import make_sequence

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


@pytest.fixture
def meta_default():
    """torch's default device is ``meta`` for the test; the modules are given the CPU."""
    torch.set_default_device("meta")
    try:
        yield CPU
    finally:
        torch.set_default_device(None)


def _tensors(obj) -> list[tuple[str, torch.Tensor]]:
    """Every parameter, buffer and optimiser state tensor reachable from ``obj``."""
    out: list[tuple[str, torch.Tensor]] = []
    items = {"": obj} if isinstance(obj, torch.nn.Module) else vars(obj)
    for name, value in items.items():
        if isinstance(value, torch.nn.Module):
            out += [(f"{name}.{k}", t) for k, t in value.named_parameters()]
            out += [(f"{name}.{k}", t) for k, t in value.named_buffers()]
        elif isinstance(value, torch.optim.Optimizer):
            for state in value.state.values():
                # Adam keeps its step counter on the CPU on purpose (torch's design)
                out += [(f"{name}.{k}", t) for k, t in state.items() if k != "step"]
        elif isinstance(value, torch.Tensor):
            out.append((name, value))
    return out


def _assert_on(obj, device: torch.device) -> None:
    wrong = [(n, str(t.device)) for n, t in _tensors(obj) if t.device != device]
    assert not wrong, f"not on {device}: {wrong}"
    assert _tensors(obj), "found no tensors to check"


@pytest.fixture(scope="module")
def nav2d_data():
    return generate_nav2d_empirical(0).head(8_000)


# ----------------------------------------------------------------------------- MoCoDA
def test_mocoda_pipeline_trains_and_samples_on_the_given_device(meta_default, nav2d_data):
    config = MoCoDAConfig(
        total_size=10_000,
        val_size=1_000,
        n_components=4,
        dynamics=DynamicsConfig(
            ensemble_size=2, hidden=(16,), embed_dim=8, training=TrainingConfig(epochs=1)
        ),
    )
    mocoda = MoCoDA("CausalNav2D-v0", config, device="cpu").fit(
        nav2d_data, models=("local", "unfactored")
    )
    for method in ("dyn", "mocoda-u", "rand"):
        assert len(mocoda.generate(method)) == 10_000
    for model in mocoda.models.values():
        assert model.device == meta_default
        _assert_on(model, meta_default)


def test_a_saved_ensemble_loads_onto_the_device_asked_for(meta_default, nav2d_data, tmp_path):
    env = gym.make("CausalNav2D-v0").unwrapped
    cfg = DynamicsConfig(
        ensemble_size=2, hidden=(16,), embed_dim=8, training=TrainingConfig(epochs=1)
    )
    model = FactoredEnsemble(env.causal_structure, cfg, env.local_mask, "CausalNav2D-v0", "cpu")
    path = model.save(tmp_path / "model.pt")
    loaded = FactoredEnsemble.load(path, device="cpu")
    _assert_on(loaded, meta_default)
    s, a = nav2d_data.observations[:5], nav2d_data.actions[:5]
    assert loaded.sample(s, a, np.random.default_rng(0)).shape == (5, 2)


# ----------------------------------------------------------------------------- offline agents
@pytest.mark.parametrize("name", sorted(AGENTS))
def test_offline_agents_train_act_and_reload_on_the_given_device(
    name, meta_default, nav2d_data, tmp_path
):
    cls = AGENTS[name]
    kwargs = {"hidden": (16, 16), "batch_size": 32, "device": "cpu"}
    if name == "bcq":
        kwargs["mdn_steps"] = 5
    agent = cls(cls.config_class(**kwargs))
    agent.fit(nav2d_data.to_d4rl(), 5, progress=False)
    assert agent.act(nav2d_data.observations[:3]).shape == (3, 2)
    _assert_on(agent, meta_default)
    loaded = cls.load(agent.save(tmp_path / f"{name}.pt"), device="cpu")
    loaded.fit(nav2d_data.to_d4rl(), 2, progress=False)
    _assert_on(loaded, meta_default)


# ----------------------------------------------------------------------------- CSR
@pytest.mark.parametrize("adaptation", ["csr", "finetune"])
def test_csr_agents_learn_grow_prune_and_reload_on_the_given_device(
    adaptation, meta_default, tmp_path
):
    structured = adaptation == "csr"
    cfg = CSRConfig(
        world=W(latent_dim=4, hidden=16, embed=16, structured=structured, use_theta=structured),
        adaptation=adaptation,
        expansion="self_adaptive",
        batch_size=4,
        seq_len=8,
        prefill=60,
        imagine_starts=8,
        horizon=3,
        detect_steps=2,
        adapt_collect=40,
        expand_steps=2,
        sa_trials=2,
        sa_train_steps=2,
        detect_probe="policy",  # compared with tau* itself (matched recomputes it)
        device="cpu",
    )
    seq = make_sequence("cartpole", seed=0, obs_type="state")
    env = seq.make(0)
    agent = CSRAgent(env.observation_space.shape, env.action_space.n, cfg)
    agent.learn(env, 40)
    agent.record_threshold(env=env)
    agent.threshold.tau = 1e-9  # every error is above it: the adaptation grows the latent space
    agent, _, report = adapt(agent, seq.make(1), task=1)
    if structured:
        assert report.decision == "space_expansion" and report.added >= 1
    agent.learn(seq.make(1), 16)
    _assert_on(agent, meta_default)
    _assert_on(agent.world, meta_default)
    loaded = CSRAgent.load(agent.save(tmp_path / "csr.pt"), device="cpu")
    loaded.learn(seq.make(1), 16)
    _assert_on(loaded.world, meta_default)


# ----------------------------------------------------------------------------- the peers
def test_the_peers_are_given_the_device():
    pytest.importorskip("d3rlpy")
    from benchmarks.d3rlpy_peer import train_d3rlpy_td3bc

    peer = train_d3rlpy_td3bc(generate_nav2d_empirical(0).head(2_000), 2, 0, (16,), "cpu")
    assert peer["device"] == "cpu"


# ----------------------------------------------------------------------------- specs
def test_device_specs_are_checked_and_resolved():
    assert resolve_device("cpu") == CPU and resolve_device(torch.device("cpu")) == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert check_device_spec(" CUDA:1 ") == "cuda:1"
    for bad in ("gpu", "cuda:", "cuda:x", ""):
        with pytest.raises(ValueError, match="auto, cpu, cuda or cuda:N"):
            check_device_spec(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="asks for CUDA, but torch finds none"):
            resolve_device("cuda:0")


# ----------------------------------------------------------------------------- static check
_FACTORIES_FROM_HOST = {"from_numpy"}
_CPU_LITERAL = re.compile(r"cpu(:\d+)?")


def _torch_sources() -> list[Path]:
    return [
        p
        for pkg in ("augment", "agents", "benchmarks")
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if p.name != "device.py"  # where "auto" falls back to the CPU
    ]


def test_no_module_pins_the_cpu_or_builds_tensors_off_the_device():
    problems = []
    for path in _torch_sources():
        rel = path.relative_to(ROOT)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if _CPU_LITERAL.fullmatch(node.value):
                    problems.append(f"{rel}:{node.lineno}: the literal {node.value!r}")
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner = node.func.value
            if not (isinstance(owner, ast.Name) and owner.id == "torch"):
                continue
            if node.func.attr in _FACTORIES_FROM_HOST:
                problems.append(f"{rel}:{node.lineno}: torch.from_numpy (always on the CPU)")
            if node.func.attr == "Generator" and not any(k.arg == "device" for k in node.keywords):
                problems.append(f"{rel}:{node.lineno}: torch.Generator() without device=")
    assert not problems, "\n".join(problems)
