"""What the offline agents truly share: networks, a tensor replay sampler, the training loop with
evaluation and logs, and checkpoints. Each algorithm's losses live in its own file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from causal_envs.core import (
    Int,
    Range,
    Real,
    Sizes,
    atomic_path,
    check_fields,
    check_int,
    first_line,
)
from causal_envs.core.checkpoint import CheckpointError, check_keys, load_checkpoint
from causal_envs.core.device import (
    AUTO,
    check_precision,
    keep_on_host,
    resolve_device,
    training_autocast,
)

__all__ = [
    "EvalResult",
    "Float32Linear",
    "OfflineAgent",
    "OfflineConfig",
    "TransitionSampler",
    "TwinQ",
    "adam",
    "evaluate",
    "frozen",
    "mlp",
    "polyak_",
]


class Float32Linear(nn.Linear):
    """A linear layer computed in float32 even under ``torch.autocast``.

    `mlp` uses it for the first and the last layer: they cost little (the inputs and outputs
    are narrow) and carry what must stay exact, the observation's coordinates in and the Q
    value or action out (bfloat16 keeps 8 bits of mantissa: a Q value of -20 would be known to
    0.06, the size of a TD error late in training).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float())


def mlp(n_in: int, n_out: int, hidden: tuple[int, ...], out_act: nn.Module | None = None):
    """A ReLU MLP ``n_in -> hidden... -> n_out`` (optionally with an output activation).

    The first and last layers are `Float32Linear`; under bf16 autocast only the wide
    hidden-to-hidden products (nearly all of the arithmetic at 2x512) run in bfloat16.
    """
    layers: list[nn.Module] = []
    for i, h in enumerate(hidden):
        layers += [(Float32Linear if i == 0 else nn.Linear)(n_in, h), nn.ReLU()]
        n_in = h
    layers.append(Float32Linear(n_in, n_out))
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


class TwinQ(nn.Module):
    """Two independent Q networks ``Q(s, a)`` (clipped double-Q learning)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.q1 = mlp(obs_dim + act_dim, 1, hidden)
        self.q2 = mlp(obs_dim + act_dim, 1, hidden)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sa = torch.cat([obs, act], 1)
        return self.q1(sa).squeeze(1), self.q2(sa).squeeze(1)

    def min(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return torch.min(*self(obs, act))


def adam(params: Any, lr: float) -> torch.optim.Adam:
    """The agents' optimiser: Adam, fused (one kernel for every parameter's update)."""
    return torch.optim.Adam(params, lr=lr, fused=True)


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Build the graph without gradients for ``modules``' parameters (e.g. the critic in an
    actor step: the actor's loss goes through it, its weights must not learn from it, and
    their gradients need not be computed at all)."""
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


@torch.no_grad()
def polyak_(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``target <- (1 - tau) target + tau source``, in place."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.lerp_(s, tau)


_KEYS = ("observations", "actions", "rewards", "next_observations", "terminals")


class TransitionSampler:
    """An offline dataset held as torch tensors on the training device; uniform mini-batches.

    Takes a D4RL-style dict (or anything with those attributes, e.g. a ``TransitionDataset``):
    ``observations, actions, rewards, next_observations, terminals``. ``timeouts`` are not
    terminals: bootstrapping continues through them.
    """

    def __init__(self, data: Any, device: str | torch.device = AUTO) -> None:
        arrays = {}
        for key in _KEYS:
            value = data.get(key) if isinstance(data, Mapping) else getattr(data, key, None)
            if value is None:
                raise ValueError(f"dataset lacks {key!r}; needs {', '.join(_KEYS)}")
            arrays[key] = np.asarray(value)
        n = len(arrays["observations"])
        if n == 0 or any(len(v) != n for v in arrays.values()):
            raise ValueError(
                f"dataset arrays must be non-empty and of one length, got "
                f"{ {k: len(v) for k, v in arrays.items()} }"
            )
        for key in ("observations", "actions", "rewards", "next_observations"):
            if not np.isfinite(arrays[key]).all():
                raise ValueError(f"dataset {key} contains NaN or inf")
        done = arrays["terminals"]
        if done.dtype != np.bool_ and not np.isin(done, (0, 1)).all():
            raise ValueError("dataset terminals must be booleans, or numbers 0 and 1 only")
        self.device = device = resolve_device(device)  # the data moves there once, here
        self.obs = torch.as_tensor(arrays["observations"], dtype=torch.float32, device=device)
        self.act = torch.as_tensor(arrays["actions"], dtype=torch.float32, device=device)
        self.rew = torch.as_tensor(arrays["rewards"], dtype=torch.float32, device=device).reshape(
            -1
        )
        self.next_obs = torch.as_tensor(
            arrays["next_observations"], dtype=torch.float32, device=device
        )
        self.done = torch.as_tensor(
            arrays["terminals"], dtype=torch.float32, device=device
        ).reshape(-1)
        if self.obs.ndim != 2 or self.act.ndim != 2 or self.next_obs.shape != self.obs.shape:
            raise ValueError("observations, next_observations and actions must be 2-D arrays")

    def __len__(self) -> int:
        return len(self.obs)

    @property
    def obs_dim(self) -> int:
        return self.obs.shape[1]

    @property
    def act_dim(self) -> int:
        return self.act.shape[1]

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """``(obs, act, rew, next_obs, done)`` of ``batch_size`` rows drawn with replacement."""
        check_int("batch_size", batch_size, 1)
        idx = torch.randint(len(self), (batch_size,), generator=generator, device=self.device)
        return self.obs[idx], self.act[idx], self.rew[idx], self.next_obs[idx], self.done[idx]


@dataclass
class EvalResult:
    """Evaluation of a policy on ``n`` episodes: steps to goal (``max_steps`` on failure)."""

    success_rate: float
    mean_steps: float
    mean_return: float
    steps: list[int]
    trajectories: list[np.ndarray]


def evaluate(
    act: Callable[[np.ndarray], np.ndarray],
    env_id: str,
    n_episodes: int = 50,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Run ``n_episodes`` first episodes in parallel (one batched policy call per step).

    Uses the env's vector env (native where registered); each sub-env's first episode counts.
    ``act`` maps a batch of observations to a batch of actions. Success is the env's to say:
    ``info["is_success"]`` where the env reports it (Nav2D: the goal box reached; HookSweep2:
    both boxes at their goals), else termination (a goal-reaching task's end). ``steps`` is
    the step of the first success, ``max_episode_steps`` for an episode without one.
    """
    n_episodes = check_int("n_episodes", n_episodes, 1)
    envs = gym.make_vec(env_id, num_envs=n_episodes, **dict(env_kwargs or {}))
    obs, _ = envs.reset(seed=seed)
    max_steps = gym.spec(env_id).max_episode_steps or 1000
    alive = np.ones(n_episodes, bool)
    success = np.zeros(n_episodes, bool)
    steps = np.full(n_episodes, max_steps)
    returns = np.zeros(n_episodes)
    paths = [[o.copy()] for o in obs]
    for t in range(max_steps):
        actions = np.asarray(act(obs), dtype=np.float32)
        obs, reward, terminated, truncated, infos = envs.step(actions)
        returns[alive] += reward[alive]
        for i in np.flatnonzero(alive):
            paths[i].append(obs[i].copy())
        if "is_success" in infos:
            hit = np.asarray(infos["is_success"], bool) & infos.get("_is_success", True)
        else:
            hit = np.asarray(terminated, bool)
        first = alive & hit & ~success
        steps[first] = t + 1
        success |= first
        alive &= ~(terminated | truncated)
        if not alive.any():
            break
    envs.close()
    return EvalResult(
        success_rate=float(success.mean()),
        mean_steps=float(steps.mean()),
        mean_return=float(returns.mean()),
        steps=steps.tolist(),
        trajectories=[np.array(p) for p in paths],
    )


@dataclass
class OfflineConfig:
    """Settings shared by the offline agents (defaults: MoCoDA's 2D Navigation agents);
    `agents.BCQConfig`, `agents.CQLConfig` and `agents.TD3BCConfig` add their own."""

    #: hidden-layer sizes of every network (actor, critics; BCQ's perturbation model)
    hidden: tuple[int, ...] = (512, 512)
    #: discount factor, in [0, 1)
    gamma: float = 0.98
    #: transitions per gradient step
    batch_size: int = 500
    #: Adam's learning rate for the actor and the critics
    lr: float = 1e-3
    #: Q targets are clipped to this range (the return range of -1/0 rewards); None: no clip
    target_clip: tuple[float, float] | None = (-50.0, 0.0)
    #: initial weights and mini-batches
    seed: int = 0
    #: where the networks train and act: "auto" (CUDA if available), "cpu", "cuda", "cuda:N"
    device: str = AUTO
    #: "fp32", "bf16" (training steps under bfloat16 autocast; weights, optimiser, losses and
    #: each network's first and last layer stay float32, see `Float32Linear`), or "auto"
    #: (bf16 where the device has native bfloat16). Faster only where bfloat16 has matrix
    #: units: see docs/agents.md
    precision: str = "fp32"

    #: each numeric field's rule (`causal_envs.core.check_fields`); an agent's config extends it
    RULES: ClassVar[dict[str, Int | Range | Real | Sizes]] = {
        "hidden": Sizes(),
        "gamma": Real(0.0, 1.0, high_open=True),
        "batch_size": Int(1),
        "lr": Real(0.0, low_open=True),
        "seed": Int(0),
        "target_clip": Range(optional=True),
    }

    def __post_init__(self) -> None:
        check_precision(self.precision)
        # stored as Python numbers (NumPy scalars are accepted), so configs save as plain data
        check_fields(self, self.RULES)


class OfflineAgent:
    """Base of the offline agents: ``fit(dataset, n_updates)``, ``act(obs)``, save and load.

    Subclasses build their networks in ``_build(obs_dim, act_dim)``, do one gradient step in
    ``_update(batch) -> dict of scalars`` and act greedily in ``_policy(obs_tensor)``.
    """

    #: the agent's key in ``agents.AGENTS`` and in results files
    name = "agent"
    #: the agent's name as the papers write it, for tables and plots
    label = "agent"
    config_class: type[OfflineConfig] = OfflineConfig
    config: OfflineConfig

    def __init__(self, config: OfflineConfig) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.obs_dim: int | None = None
        self.act_dim: int | None = None
        self.n_updates = 0
        #: scalar logs: name -> list of (update, value)
        self.logs: dict[str, list[tuple[int, float]]] = {}
        self._gen = torch.Generator(device=self.device).manual_seed(config.seed)

    # ----------------------------------------------------------------- subclass hooks
    def _build(self, obs_dim: int, act_dim: int) -> None:
        raise NotImplementedError

    def _update(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        """One gradient step; the scalars to log as detached 0-d tensors (read on the host
        only when they are logged, so the training loop never waits on the device)."""
        raise NotImplementedError

    def _policy(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _modules(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        raise NotImplementedError

    # ----------------------------------------------------------------- shared
    def _ensure_built(self, obs_dim: int, act_dim: int) -> None:
        if self.obs_dim is None:
            torch.manual_seed(self.config.seed)
            self.obs_dim, self.act_dim = obs_dim, act_dim
            with self.device:  # every parameter is made on the device
                self._build(obs_dim, act_dim)
        elif (self.obs_dim, self.act_dim) != (obs_dim, act_dim):
            raise ValueError(
                f"agent was built for obs/act dims {(self.obs_dim, self.act_dim)}, "
                f"data has {(obs_dim, act_dim)}"
            )

    def clip_target(self, q: torch.Tensor) -> torch.Tensor:
        lim = self.config.target_clip
        return q if lim is None else q.clamp(lim[0], lim[1])

    def fit(
        self,
        dataset: Any,
        n_updates: int,
        *,
        eval_env: str | None = None,
        eval_every: int = 0,
        eval_episodes: int = 20,
        log_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> dict[str, list[tuple[int, float]]]:
        """Train for ``n_updates`` gradient steps on ``dataset`` (a dict, ``TransitionDataset``
        or `TransitionSampler`); evaluate on ``eval_env`` every ``eval_every`` updates.

        Scalars go to ``self.logs`` and, with ``log_dir``, to TensorBoard event files.
        """
        n_updates = check_int("n_updates", n_updates, 0)
        buffer = (
            dataset
            if isinstance(dataset, TransitionSampler)
            else TransitionSampler(dataset, self.device)
        )
        self._ensure_built(buffer.obs_dim, buffer.act_dim)
        writer = None
        if log_dir is not None:
            # deferred: TensorBoard's writer imports tensorboard (~1 s), only when logging
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(log_dir))
        start = time.perf_counter()
        bar = tqdm(range(n_updates), desc=self.name, disable=not progress, mininterval=1.0)
        for _ in bar:
            batch = buffer.sample(self.config.batch_size, self._gen)
            with training_autocast(self.device, self.config.precision):
                scalars = self._update(batch)
            self.n_updates += 1
            if self.n_updates % 100 == 0 or self.n_updates == 1:
                self._log(scalars, writer)
            if eval_env and eval_every and self.n_updates % eval_every == 0:
                result = evaluate(self.act, eval_env, eval_episodes, seed=10_000 + self.n_updates)
                self._log(
                    {
                        "eval/success_rate": result.success_rate,
                        "eval/mean_steps": result.mean_steps,
                    },
                    writer,
                )
                bar.set_postfix(
                    success=f"{result.success_rate:.2f}", steps=f"{result.mean_steps:.1f}"
                )
        self._log(
            {"time/updates_per_s": n_updates / max(time.perf_counter() - start, 1e-9)}, writer
        )
        if writer is not None:
            writer.close()
        return self.logs

    def _log(self, scalars: Mapping[str, float | torch.Tensor], writer: Any) -> None:
        for key, value in scalars.items():
            self.logs.setdefault(key, []).append((self.n_updates, float(value)))
            if writer is not None:
                writer.add_scalar(key, float(value), self.n_updates)

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions for one observation ``(obs_dim,)`` or a batch ``(B, obs_dim)``."""
        if self.obs_dim is None:
            raise RuntimeError("the agent has not been trained or loaded")
        o = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        single = o.ndim == 1
        if single:
            o = o[None]
        if o.ndim != 2 or o.shape[1] != self.obs_dim:
            raise ValueError(
                f"obs must be ({self.obs_dim},) or (B, {self.obs_dim}), got {tuple(o.shape)}"
            )
        if not bool(torch.isfinite(o).all()):
            raise ValueError(
                "obs must be finite (it holds NaN or inf): the policy's action would be NaN"
            )
        a = self._policy(o).cpu().numpy()
        return a[0] if single else a

    # ----------------------------------------------------------------- checkpoints
    def save(self, path: str | os.PathLike) -> Path:
        """Write config, dims, update count, logs and every module/optimizer state (atomic)."""
        if self.obs_dim is None:
            raise RuntimeError("nothing to save: the agent has not been built")
        path = Path(path)
        payload = {
            "agent": self.name,
            "config": asdict(self.config),
            "dims": (self.obs_dim, self.act_dim),
            "n_updates": self.n_updates,
            "logs": self.logs,
            "generator": self._gen.get_state(),
            "state": {k: m.state_dict() for k, m in self._modules().items()},
        }
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(payload, tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = AUTO):
        """Rebuild an agent saved by `save` on ``device``, whichever device saved it (training
        can continue where it stopped)."""
        # tensors come to host memory first, then into the parameters on the agent's device
        kind = f"{cls.name} agent"
        payload = load_checkpoint(path, kind, map_location=keep_on_host)
        if payload.get("agent") != cls.name:
            raise CheckpointError(
                f"{path} holds a {payload.get('agent')!r} agent, not {cls.name!r}"
            )
        check_keys(
            payload, path, kind, ("config", "dims", "n_updates", "logs", "generator", "state")
        )
        settings, dims, state = payload["config"], payload["dims"], payload["state"]
        if not isinstance(settings, dict):
            raise CheckpointError(f"{path}: its config is not a dict of {cls.name} settings")
        if not (
            isinstance(dims, list | tuple)
            and len(dims) == 2
            and all(type(d) is int and d > 0 for d in dims)
        ):
            raise CheckpointError(
                f"{path}: its dims must be the observation and action sizes, got {dims!r}"
            )
        try:
            agent = cls(cls.config_class(**{**settings, "device": str(device)}))
        except (TypeError, ValueError) as err:
            raise CheckpointError(
                f"{path}: its {cls.name} config is not this version's ({err})"
            ) from None
        agent._ensure_built(*dims)
        modules = agent._modules()
        held = state if isinstance(state, dict) else {}
        check_keys(held, path, f"{kind}'s state", tuple(modules))
        for key, module in modules.items():
            try:
                module.load_state_dict(state[key])
            except (RuntimeError, TypeError, ValueError, KeyError) as err:
                raise CheckpointError(
                    f"{path}: its {key!r} does not fit a {cls.name} agent of these sizes "
                    f"({first_line(err)})"
                ) from None
        agent.n_updates = payload["n_updates"]
        agent.logs = payload["logs"]
        agent._gen.set_state(payload["generator"])
        return agent
