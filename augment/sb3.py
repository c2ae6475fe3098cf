"""MoCoDA online: Stable-Baselines3 replay buffers that mix counterfactual transitions into
every batch.

Offline, `MoCoDA` augments a fixed dataset once. Online, the data grows as the agent acts, so
the augmentation has to follow it: these buffers store the agent's real transitions exactly as
SB3's own buffers do and, every ``refit_every`` real steps, fit MoCoDA on them (the parent-set
mixtures and the locally factored dynamics model) and generate a pool of counterfactual
transitions. ``sample`` then draws a fixed ``fraction`` of each batch from that pool and the
rest from the real data, so SAC, TD3 and DDPG train on both without knowing it:

```python
from stable_baselines3 import SAC
from augment.sb3 import MoCoDAReplayBuffer

model = SAC(
    "MlpPolicy",
    "CausalNav2D-v0",
    replay_buffer_class=MoCoDAReplayBuffer,
    replay_buffer_kwargs={"env": "CausalNav2D-v0", "fraction": 0.5},
)
model.learn(100_000)
```

Two buffers, one per kind of observation:

- `MoCoDAReplayBuffer` (a `ReplayBuffer`): ``Box`` observations. The observation is the env's
  state (a `CausalEnv`), or ``[state, goal]`` for a
  `GoalConditionedCausalEnv` with flat observations
  (``HookSweep2-v1`` with ``flat_obs=True``). SB3 hands its env only to HER buffers, so this one
  takes the env as a keyword: an env id (best: it pickles and is stored by ``model.save``), a
  Gymnasium env or an SB3 ``VecEnv``.
- `MoCoDAHerReplayBuffer` (a `HerReplayBuffer`): Gymnasium-Robotics goal dicts
  (``observation``, ``achieved_goal``, ``desired_goal``) of a goal-conditioned causal env
  (``HookSweep2-v1``). The real part of each batch is SB3's HER (real transitions and their
  hindsight relabellings, ``n_sampled_goal`` as in SB3); the generated part is MoCoDA's. SB3
  passes it the env, as to any HER buffer.

What the generated rows are:

- MoCoDA samples state-action pairs from per-parent-set mixtures of the real data and predicts
  their next states with the locally factored model (``method="mocoda"``), or re-weights the
  pairs toward uniform over the state first (``"mocoda-u"``); ``"rand"`` (uniform pairs) and
  ``"dyn"`` (short rollouts of an unfactored model) are the paper's baselines.
- Every generated row is labelled by the env's own ``reward_fn`` and ``termination_fn`` (its
  ``done`` is the termination; a generated row is never a time-out). For a goal-conditioned
  env each row first gets its own goal from ``env.sample_goals`` (the target task), and the
  labels are that goal's: hindsight-style relabelling through ``reward_fn``, not through
  ``compute_reward``.
- Rows are stored in the env's original units; at sample time they pass through SB3's
  ``VecNormalize`` (when there is one) exactly as the real rows do.

When fitting happens, and what it costs:

- Fitting runs inside ``sample``, the first time at least ``min_real`` real transitions are
  stored and then whenever ``refit_every`` more have been added (counted over all ``n_envs``),
  or when you call `refit` yourself. Before the first fit (and with ``fraction=0``, which never
  fits) batches are all real. ``buffer.refit_seconds`` records each fit's wall time.
- The work of a fit is bounded whatever the buffer holds: MoCoDA sees at most
  ``max_fit_rows`` real transitions (a random subset), the default model trains a fixed number
  of gradient steps (`online_config`: 10 epochs of 50 steps, 5 members of 2x128 units,
  mixtures of 16 components), and later fits **warm-start** the dynamics model from the
  previous weights for ``refit_epochs`` epochs (the mixtures are refitted from scratch: EM
  on the subset takes about as long as the warm model steps). As a rough indication only,
  measured on a 2-core CPU busy with another job: the first fit on 5,000 Nav2D transitions
  took about 7 s and later fits (15,000 and 25,000 transitions) about 3-4 s each, generating
  the 50,000 rows of the pool included.

Saving: ``model.save_replay_buffer`` / ``load_replay_buffer`` pickle the buffer: the real data,
the current pool (so batches keep their generated share right after loading), the counters and
the dynamics model's weights (so the next fit still warm-starts). The fitted `MoCoDA` object
(``buffer.mocoda``: parent mixtures, model) and the env are dropped and rebuilt at the next
fit: the env from its id or ``EnvSpec``; an env made without a spec needs ``buffer.set_env``
after loading (SB3 does that itself for the HER buffer). Callables passed as
``uniform_features``, ``prefilter`` or ``goal_observation`` must be module-level functions for
the buffer to pickle.

Determinism: with ``seed`` (default: drawn from NumPy's global generator, which SB3 seeds with
the algorithm's ``seed``) the fits, the pools and the generated share of every batch repeat
exactly; the real share is drawn from NumPy's global generator, as SB3 draws it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec
from numpy.typing import NDArray
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import DictReplayBufferSamples, ReplayBufferSamples
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from stable_baselines3.her.goal_selection_strategy import GoalSelectionStrategy
from stable_baselines3.her.her_replay_buffer import HerReplayBuffer
from threadpoolctl import threadpool_limits

from augment.dynamics import DynamicsConfig, EnsembleTrainer, FactoredEnsemble, TrainingConfig
from augment.methods import MODEL_FOR_METHOD
from augment.pipeline import MoCoDA, MoCoDAConfig
from causal_envs.core import (
    CausalEnv,
    ContractError,
    GoalConditionedCausalEnv,
    check_int,
    check_real,
)
from causal_envs.datasets import TransitionDataset
from causal_envs.datasets.transitions import ARRAY_FIELDS

__all__ = ["ONLINE_METHODS", "MoCoDAHerReplayBuffer", "MoCoDAReplayBuffer", "online_config"]

#: the methods a buffer can generate with: the ones that produce new transitions (``emp`` only
#: repeats the data, which the real share of each batch already does)
ONLINE_METHODS = tuple(MODEL_FOR_METHOD)
#: a goal-conditioned env's ``(states (B, S), goals (B, G)) -> observation dict`` (see
#: `MoCoDAHerReplayBuffer`)
GoalObservationFn = Callable[[NDArray, NDArray], dict[str, NDArray]]
#: what the buffers accept as the env: an env id, a Gymnasium env or an SB3 VecEnv
EnvLike = str | gym.Env | VecEnv


def online_config(**overrides: Any) -> MoCoDAConfig:
    """The buffers' default `MoCoDAConfig`: small models and a fixed budget of gradient steps.

    Mixtures of 16 components per parent set; dynamics ensembles of 5 members with 2x128
    hidden units trained for 10 epochs of 50 steps of 256 rows (cosine learning rate from 1e-3),
    so a fit costs the same whatever the buffer holds, on inputs standardised by the buffer's
    rows (``normalise_inputs``). ``overrides`` replace `MoCoDAConfig`
    fields; pass ``dynamics=DynamicsConfig(...)`` to change the model.

    Examples:
        >>> from augment.sb3 import online_config
        >>> cfg = online_config(n_components=8)
        >>> cfg.n_components, cfg.dynamics.training.epochs, cfg.dynamics.training.steps_per_epoch
        (8, 10, 50)
    """
    # inputs standardised: a buffer's env may be of any scale
    training = TrainingConfig(epochs=10, steps_per_epoch=50, batch_size=256)
    dynamics = DynamicsConfig(normalise_inputs=True, training=training)
    settings: dict[str, Any] = {"n_components": 16, "val_size": 0, "dynamics": dynamics}
    return MoCoDAConfig(**{**settings, **overrides})


def _single_env(env: EnvLike) -> gym.Env:
    """One Gymnasium env to read the causal contract from (MoCoDA calls its batched functions
    locally, so a VecEnv's first env is taken out of it, as HER's ``env_method(indices=[0])``
    takes the first env's ``compute_reward``)."""
    if isinstance(env, str | EnvSpec):
        return gym.make(env)
    if isinstance(env, gym.Env):
        return env
    if isinstance(env, VecEnv):
        base = env.unwrapped
        inner = getattr(base, "envs", None)  # DummyVecEnv
        if inner:
            return inner[0]
        found = base.get_attr("unwrapped", indices=[0])[0]  # e.g. SubprocVecEnv: a copy
        if isinstance(found, gym.Env) and not hasattr(found, "num_envs"):
            return found
        raise ValueError(
            f"cannot take a single env out of a {type(base).__name__}; pass the env id as "
            "replay_buffer_kwargs={'env': '<env id>'}"
        )
    raise TypeError(
        "env must be a registered env id, a Gymnasium env or an SB3 VecEnv, got "
        f"{type(env).__name__} {env!r}"
    )


def _take(data: TransitionDataset, rows: NDArray) -> TransitionDataset:
    """Rows of ``data`` as single-transition episodes (a subset breaks the episodes)."""
    arrays = {k: getattr(data, k)[rows] for k in ARRAY_FIELDS}
    arrays["episode_ends"] = np.ones(len(rows), np.bool_)
    return TransitionDataset(**arrays, metadata=dict(data.metadata))


def _tail(data: TransitionDataset, start: int) -> TransitionDataset:
    """Transitions ``start:`` of ``data`` (generated transitions end their own episodes)."""
    arrays = {k: getattr(data, k)[start:] for k in ARRAY_FIELDS}
    return TransitionDataset(**arrays, metadata=dict(data.metadata))


class _MoCoDABuffer:
    """What both buffers share: the settings, the fits, the pool, the counters and pickling.

    Mixed into an SB3 buffer class (first in the bases), it relies on the buffer's arrays
    (``observations``, ``actions``, ``dones``, ``timeouts``...) and ``pos``/``full``/``size``.
    """

    # set by the SB3 buffer class this is mixed into
    buffer_size: int
    n_envs: int
    pos: int
    full: bool
    device: torch.device
    observation_space: spaces.Space
    action_space: spaces.Space
    observations: Any
    next_observations: Any
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    timeouts: np.ndarray

    def _setup_mocoda(
        self,
        env: EnvLike | None,
        *,
        method: str,
        fraction: float,
        refit_every: int,
        min_real: int,
        pool_size: int,
        refit_epochs: int,
        max_fit_rows: int,
        mocoda_config: MoCoDAConfig | None,
        uniform_features: Callable[[NDArray], NDArray] | None,
        prefilter: Callable[[NDArray], NDArray] | None,
        model_device: str | torch.device | None,
        seed: int | None,
        optimize_memory_usage: bool,
    ) -> None:
        name = type(self).__name__
        if method not in ONLINE_METHODS:
            raise ValueError(
                f"method must be one of {ONLINE_METHODS} (the methods that generate new "
                f"transitions), got {method!r}"
            )
        self.method = method
        self.fraction = check_real("fraction", fraction, 0.0, 1.0)
        self.refit_every = check_int("refit_every", refit_every, 1)
        self.pool_size = check_int("pool_size", pool_size, 1)
        self.refit_epochs = check_int("refit_epochs", refit_epochs, 1)
        self.max_fit_rows = check_int("max_fit_rows", max_fit_rows, 1)
        config = online_config() if mocoda_config is None else mocoda_config
        if not isinstance(config, MoCoDAConfig):
            raise TypeError(
                f"mocoda_config must be a MoCoDAConfig (see augment.sb3.online_config), got "
                f"{type(config).__name__}"
            )
        self.mocoda_config = config
        needed = self.min_rows(config)
        self.min_real = check_int("min_real", min_real, needed)
        if self.max_fit_rows < self.min_real:
            raise ValueError(
                f"max_fit_rows={self.max_fit_rows} is smaller than min_real={self.min_real}"
            )
        if self.min_real > self.buffer_size * self.n_envs:
            raise ValueError(
                f"min_real={self.min_real} is more than the buffer holds "
                f"({self.buffer_size * self.n_envs} transitions): it would never fit"
            )
        if optimize_memory_usage:
            raise ValueError(
                f"{name} does not support optimize_memory_usage=True (the fits read each "
                "transition's next observation from its own array)"
            )
        self.uniform_features = uniform_features
        self.prefilter = prefilter
        self.model_device = model_device
        if seed is None:  # SB3 seeds NumPy's global generator with the algorithm's seed
            seed = int(np.random.randint(0, 2**31 - 1))  # noqa: NPY002 (SB3's generator)
        self.seed = check_int("seed", seed, 0)
        self._rng = np.random.default_rng(self.seed)
        if env is None:
            raise ValueError(
                f"{name} needs the env whose causal contract it fits: pass "
                "replay_buffer_kwargs={'env': '<env id>'} (an env id, a Gymnasium env or a "
                "VecEnv); SB3 hands its env only to HerReplayBuffer subclasses"
            )
        self._env_source: EnvLike | EnvSpec | None = env
        self._env: gym.Env | None = _single_env(env)
        self._check_env(self._env)
        #: real transitions added since the buffer was made (over all ``n_envs``)
        self.n_real_added = 0
        #: how many times MoCoDA has been fitted
        self.n_refits = 0
        #: wall time of each fit (fit, train and generate), in seconds
        self.refit_seconds: list[float] = []
        #: the pool of generated transitions (None before the first fit); for a
        #: goal-conditioned env its observations are ``[state, goal]``
        self.generated: TransitionDataset | None = None
        #: the last fitted `MoCoDA` (parent mixtures and dynamics model); not pickled
        self.mocoda: MoCoDA | None = None
        #: which rows of the last batch were generated (the generated rows come last)
        self.last_generated = np.zeros(0, np.bool_)
        #: for the last batch's generated rows, their rows in `generated`
        self.last_pool_indices = np.zeros(0, np.int64)
        self._added_at_refit = 0
        self._dynamics: FactoredEnsemble | None = None
        self._dynamics_state: dict[str, Any] | None = None

    @staticmethod
    def min_rows(config: MoCoDAConfig) -> int:
        """The fewest real transitions a fit with ``config`` can use: one per mixture
        component, and enough for the dynamics trainer's validation split and one batch."""
        dyn = config.dynamics.training
        eighth = dyn.batch_size // 8
        if dyn.val_rows is not None:
            trainable = dyn.val_rows + max(eighth, 1)
        else:
            trainable = math.ceil((max(eighth, 1) + 1) / (1 - dyn.val_fraction)) + 1
        return max(config.n_components, trainable, 2)

    # ----------------------------------------------------------------- the env
    def _check_env(self, env: gym.Env) -> None:
        base = env.unwrapped
        label = env.spec.id if env.spec is not None else type(base).__name__
        self.goal_conditioned = isinstance(base, GoalConditionedCausalEnv)
        if not (self.goal_conditioned or isinstance(base, CausalEnv)):
            raise ContractError(
                f"{label} does not expose the causal contract MoCoDA needs (causal_structure, "
                "local_mask, reward_fn, termination_fn on env.unwrapped: see "
                "causal_envs.core.contract, or wrap it in causal_envs.wrappers.WithCausalStructure)"
            )
        if not isinstance(self.action_space, spaces.Box):
            raise ContractError(
                f"MoCoDA generates continuous actions; the action space is {self.action_space} "
                "(a gymnasium.spaces.Box is needed: SAC, TD3, DDPG)"
            )
        structure = base.causal_structure
        self.state_dim = structure.state_dim
        self.goal_dim = int(base.goal_space.shape[0]) if self.goal_conditioned else 0
        if self.action_space.shape != (structure.action_dim,):
            raise ContractError(
                f"the action space has shape {self.action_space.shape} but {label}'s causal "
                f"structure covers {structure.action_dim} action dims"
            )
        self._check_observations(base, label)

    def _check_observations(self, base: Any, label: str) -> None:  # pragma: no cover
        raise NotImplementedError

    @property
    def causal_env(self) -> gym.Env:
        """The single env whose contract the fits use (rebuilt from its id or spec after
        loading; see `set_env`)."""
        if self._env is None:
            if self._env_source is None:
                raise RuntimeError(
                    "this buffer was loaded without its env (it was made without an id or spec): "
                    "call buffer.set_env(env) before it fits again"
                )
            self._env = _single_env(self._env_source)
            self._check_env(self._env)
        return self._env

    # ----------------------------------------------------------------- real data
    def add(
        self,
        obs: Any,
        next_obs: Any,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """Store one step of every env, as SB3's buffer does, and count it."""
        super().add(obs, next_obs, action, reward, done, infos)  # type: ignore[misc]
        self.n_real_added += self.n_envs

    def _states(self, store: Any) -> np.ndarray:  # pragma: no cover
        """The state part ``(rows, n_envs, S)`` of an observation store."""
        raise NotImplementedError

    def real_dataset(self) -> TransitionDataset:
        """The stored real transitions as a `TransitionDataset` of states, what MoCoDA fits on.

        Each env's transitions in the order they happened (the oldest first when the buffer
        has wrapped around), env after env. ``episode_ends`` are the stored dones (and each
        env's last stored step); ``terminals`` the dones that were not time-outs. For a
        goal-conditioned env the observations are the states alone (the goal dropped).
        """
        size = self.size()  # type: ignore[attr-defined]
        if size == 0:
            raise RuntimeError("the buffer holds no transitions yet")
        rows = (np.arange(size) + self.pos) % self.buffer_size if self.full else np.arange(size)

        def flat(arr: np.ndarray) -> np.ndarray:
            picked = arr[rows].swapaxes(0, 1)  # (n_envs, size, ...)
            return picked.reshape(self.n_envs * size, *picked.shape[2:])

        dones = flat(self.dones).astype(np.bool_)
        ends = dones.copy()
        ends.reshape(self.n_envs, size)[:, -1] = True
        return TransitionDataset(
            observations=flat(self._states(self.observations)).astype(np.float32),
            actions=flat(self.actions).astype(np.float32),
            rewards=flat(self.rewards).astype(np.float32),
            next_observations=flat(self._states(self.next_observations)).astype(np.float32),
            terminals=dones & ~flat(self.timeouts).astype(np.bool_),
            episode_ends=ends,
            metadata={"generator": f"{type(self).__name__}.real_dataset"},
        )

    # ----------------------------------------------------------------- fitting
    def _due(self) -> bool:
        if self.fraction == 0 or self.n_real_added < self.min_real:
            return False
        if self.size() * self.n_envs < self.min_real:  # type: ignore[attr-defined]
            return False
        return self.generated is None or self.n_real_added - self._added_at_refit >= (
            self.refit_every
        )

    def refit(self) -> TransitionDataset:
        """Fit MoCoDA on the real data now and replace the pool; return the new pool.

        ``sample`` calls this when a fit is due; call it yourself to fit at another time.
        The parent mixtures are fitted afresh on (at most ``max_fit_rows`` of) the real
        transitions; the dynamics model continues from its last weights for
        ``refit_epochs`` epochs, or trains for ``mocoda_config.dynamics.training.epochs`` the
        first time.
        """
        start = time.perf_counter()
        # NumPy's BLAS on one thread: the mixtures' and samplers' matrices are tiny (a parent
        # set's dims), so its threads only contend with the training process's own (and on a
        # busy machine made EM many times slower); torch keeps its threads
        with threadpool_limits(limits=1, user_api="blas"):
            pool = self._fit_and_generate()
        self.generated = pool
        self.n_refits += 1
        self._added_at_refit = self.n_real_added
        self.refit_seconds.append(time.perf_counter() - start)
        return pool

    def _fit_and_generate(self) -> TransitionDataset:
        env = self.causal_env
        data = self.real_dataset()
        if len(data) > self.max_fit_rows:
            data = _take(data, np.sort(self._rng.choice(len(data), self.max_fit_rows, False)))
        k = self.n_refits
        config = replace(
            self.mocoda_config,
            total_size=len(data) + self.pool_size,
            val_size=0,  # nothing is held out of the parent model online
            seed=self.seed + k,
        )
        device = self.device if self.model_device is None else self.model_device
        mocoda = MoCoDA(
            env,
            config,
            uniform_features=self.uniform_features,
            prefilter=self.prefilter,
            device=device,
        )
        mocoda.fit(data, models=())  # the parent mixtures
        architecture = MODEL_FOR_METHOD[self.method]
        mocoda.models[architecture] = self._train_dynamics(mocoda, architecture, k)
        self.mocoda = mocoda
        return _tail(mocoda.generate(self.method), len(data))

    def _train_dynamics(self, mocoda: MoCoDA, architecture: str, k: int) -> FactoredEnsemble:
        """Train the dynamics model on the fit's data: warm from the last weights if any."""
        base = self.mocoda_config.dynamics
        model = self._dynamics
        warm = model is not None
        if model is None:
            config = replace(base, architecture=architecture, seed=base.seed + k)
            model = FactoredEnsemble(
                mocoda.structure, config, mocoda.env.local_mask, mocoda.env_id, mocoda.device
            )
            if self._dynamics_state is not None:  # the weights saved with the buffer
                model.load_state_dict(self._dynamics_state)
                self._dynamics_state = None
                warm = True
        epochs = self.refit_epochs if warm else base.training.epochs
        model.config = replace(
            model.config, training=replace(base.training, epochs=epochs), seed=base.seed + k
        )
        data, rows = mocoda.data, mocoda.train_rows
        EnsembleTrainer(model).fit(
            data.observations[rows], data.actions[rows], data.next_observations[rows]
        )
        self._dynamics = model
        return model

    # ----------------------------------------------------------------- sampling
    def n_generated(self, batch_size: int) -> int:
        """How many rows of a batch of ``batch_size`` come from the pool (0 before the first
        fit): ``fraction * batch_size``, rounded half up."""
        if self.generated is None:
            return 0
        return min(batch_size, math.floor(self.fraction * batch_size + 0.5))

    def _split_batch(self, batch_size: int) -> tuple[int, NDArray[np.int64]]:
        """Fit if due; the number of real rows and the pool rows of the next batch."""
        if self._due():
            self.refit()
        n_gen = self.n_generated(batch_size)
        pool_rows = (
            self._rng.integers(0, len(self.generated), n_gen) if n_gen else np.zeros(0, np.int64)
        )
        self.last_generated = np.r_[np.zeros(batch_size - n_gen, np.bool_), np.ones(n_gen, bool)]
        self.last_pool_indices = pool_rows
        return batch_size - n_gen, pool_rows

    def _generated_tail(
        self, rows: NDArray[np.int64], env: VecNormalize | None
    ) -> tuple[Any, Any, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Observations, next observations (not yet tensors), actions, dones and rewards of
        pool ``rows``, normalised like the real rows."""
        g = self.generated
        obs = self._normalize_obs(self._observation(g.observations[rows]), env)  # type: ignore[attr-defined]
        nxt = self._normalize_obs(self._observation(g.next_observations[rows]), env)  # type: ignore[attr-defined]
        rewards = self._normalize_reward(g.rewards[rows].reshape(-1, 1), env)  # type: ignore[attr-defined]
        to_torch = self.to_torch  # type: ignore[attr-defined]
        return (
            obs,
            nxt,
            to_torch(g.actions[rows].astype(self.actions.dtype)),
            to_torch(g.terminals[rows].astype(np.float32).reshape(-1, 1)),
            to_torch(np.asarray(rewards, dtype=np.float32)),
        )

    def _observation(self, flat: NDArray) -> Any:  # pragma: no cover
        """Pool observations (``[state]`` or ``[state, goal]``) in the buffer's layout."""
        raise NotImplementedError

    # ----------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        """The state to pickle: everything but the env, the fitted `MoCoDA` and the model
        (its weights are kept, on the CPU, so the next fit after loading warm-starts)."""
        state = dict(super().__getstate__())  # type: ignore[misc]
        model = state.pop("_dynamics", None)
        if model is not None:
            state["_dynamics_state"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        state["mocoda"] = None
        state["_env"] = None
        source = state.get("_env_source")
        if not isinstance(source, str | EnvSpec):
            spec = self._env.spec if self._env is not None else None
            state["_env_source"] = spec
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        parent = getattr(super(), "__setstate__", None)
        if parent is not None:
            parent(state)
        else:
            self.__dict__.update(state)
        self._dynamics = None


def _cat(parts: list[torch.Tensor]) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts)


class MoCoDAReplayBuffer(_MoCoDABuffer, ReplayBuffer):
    """SB3's `ReplayBuffer` with MoCoDA's counterfactual transitions mixed into every batch.

    Pass the class to an off-policy algorithm (SAC, TD3, DDPG) as ``replay_buffer_class`` and
    its settings as ``replay_buffer_kwargs``; SB3 supplies the first arguments. Observations
    are ``Box``: the state of a `CausalEnv`, or ``[state, goal]`` of a
    `GoalConditionedCausalEnv` (for goal dicts use `MoCoDAHerReplayBuffer`). Several envs
    (``n_envs > 1``) are supported: their transitions are fitted together.

    Args:
        buffer_size, observation_space, action_space, device, n_envs, optimize_memory_usage,
            handle_timeout_termination: SB3's (``optimize_memory_usage`` is not supported).
        env: the env: a registered env id (best: it pickles, so ``model.save`` stores it), a
            Gymnasium env or an SB3 ``VecEnv`` (its first env). Required.
        method: ``"mocoda"`` (default), ``"mocoda-u"``, ``"rand"`` or ``"dyn"`` (see
            `augment.pipeline`).
        fraction: the share of each batch drawn from the pool, in ``[0, 1]`` (0.5).
        refit_every: real transitions between fits (10,000).
        min_real: real transitions before the first fit (5,000; at least `min_rows` of the
            config).
        pool_size: generated transitions per fit (50,000); each fit replaces the pool.
        refit_epochs: epochs of a warm-started refit of the dynamics model (3).
        max_fit_rows: at most this many real transitions (a random subset) per fit (20,000).
        mocoda_config: the pipeline's settings (default `online_config`); its ``total_size``,
            ``val_size`` and ``seed`` are set by the buffer at each fit.
        uniform_features, prefilter: MOCODA-U's feature map and MOCODA-P's filter (see
            `MoCoDA`); module-level functions, so the buffer pickles.
        model_device: where the dynamics model trains (default: the buffer's device).
        seed: seeds the fits, the pools and the pool rows of each batch (default: drawn from
            NumPy's global generator, which SB3 seeds).

    Attributes:
        generated: the pool (a `TransitionDataset`), None before the first fit.
        last_generated: bool mask of the last batch's generated rows (they come last).
        last_pool_indices: the rows of ``generated`` the last batch drew.
        n_real_added, n_refits, refit_seconds: counters and the wall time of each fit.
        mocoda: the last fitted `MoCoDA` (parent mixtures, dynamics model); not pickled.

    Besides SB3's methods: ``refit()`` fits now and returns the new pool,
    ``real_dataset()`` the stored real transitions as a `TransitionDataset` of states,
    ``n_generated(batch_size)`` the generated rows of a batch, ``min_rows(config)`` the fewest
    transitions a fit can use, ``causal_env`` the env the fits read, and ``set_env(env)``
    gives a loaded buffer its env when it could not be rebuilt from a spec.

    Examples:
        A buffer filled by hand (SB3 does this during ``learn``), fitted once:

        >>> import gymnasium as gym, numpy as np
        >>> from augment.sb3 import MoCoDAReplayBuffer, online_config
        >>> from augment import DynamicsConfig, TrainingConfig
        >>> env = gym.make("CausalNav2D-v0")
        >>> tiny = online_config(n_components=4, dynamics=DynamicsConfig(hidden=(16,),
        ...     embed_dim=8, training=TrainingConfig(epochs=1, steps_per_epoch=5, batch_size=64)))
        >>> buf = MoCoDAReplayBuffer(1_000, env.observation_space, env.action_space, env=env,
        ...     min_real=100, pool_size=500, fraction=0.25, mocoda_config=tiny, seed=0)
        >>> obs, _ = env.reset(seed=0)
        >>> for _ in range(200):
        ...     act = env.action_space.sample()
        ...     nxt, r, term, trunc, _ = env.step(act)
        ...     buf.add(obs[None], nxt[None], act[None], np.array([r]), np.array([term]), [{}])
        ...     obs = nxt if not (term or trunc) else env.reset()[0]
        >>> batch = buf.sample(64)  # fits first: 200 real transitions >= min_real
        >>> len(buf.generated), int(buf.last_generated.sum()), tuple(batch.rewards.shape)
        (500, 16, (64, 1))
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: torch.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
        *,
        env: EnvLike | None = None,
        method: str = "mocoda",
        fraction: float = 0.5,
        refit_every: int = 10_000,
        min_real: int = 5_000,
        pool_size: int = 50_000,
        refit_epochs: int = 3,
        max_fit_rows: int = 20_000,
        mocoda_config: MoCoDAConfig | None = None,
        uniform_features: Callable[[NDArray], NDArray] | None = None,
        prefilter: Callable[[NDArray], NDArray] | None = None,
        model_device: str | torch.device | None = None,
        seed: int | None = None,
    ) -> None:
        if isinstance(observation_space, spaces.Dict):
            raise TypeError(
                "MoCoDAReplayBuffer takes Box observations; for goal dicts use "
                "augment.sb3.MoCoDAHerReplayBuffer"
            )
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            device=device,
            n_envs=n_envs,
            optimize_memory_usage=False,
            handle_timeout_termination=handle_timeout_termination,
        )
        self._setup_mocoda(
            env,
            method=method,
            fraction=fraction,
            refit_every=refit_every,
            min_real=min_real,
            pool_size=pool_size,
            refit_epochs=refit_epochs,
            max_fit_rows=max_fit_rows,
            mocoda_config=mocoda_config,
            uniform_features=uniform_features,
            prefilter=prefilter,
            model_device=model_device,
            seed=seed,
            optimize_memory_usage=optimize_memory_usage,
        )

    def _check_observations(self, base: Any, label: str) -> None:
        space = self.observation_space
        want = (self.state_dim + self.goal_dim,)
        if not isinstance(space, spaces.Box) or space.shape != want:
            layout = "[state, goal]" if self.goal_conditioned else "the state"
            raise ContractError(
                f"MoCoDAReplayBuffer needs Box observations of shape {want} ({layout} of "
                f"{label}), got {space}"
            )

    def _states(self, store: np.ndarray) -> np.ndarray:
        return store[..., : self.state_dim]

    def _observation(self, flat: NDArray) -> NDArray:
        return flat.astype(self.observation_space.dtype)

    def set_env(self, env: EnvLike) -> None:
        """Give a loaded buffer its env again (needed only when it was made from an env
        without an id or spec: otherwise the env is rebuilt from its spec)."""
        self._env_source = env
        self._env = _single_env(env)
        self._check_env(self._env)

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        """A batch of ``batch_size``: real rows first, then ``fraction`` of it from the pool
        (``last_generated`` marks them); fits first when a fit is due."""
        n_real, pool_rows = self._split_batch(batch_size)
        parts: list[ReplayBufferSamples] = []
        if n_real:
            parts.append(super().sample(n_real, env=env))
        if len(pool_rows):
            obs, nxt, actions, dones, rewards = self._generated_tail(pool_rows, env)
            parts.append(
                ReplayBufferSamples(self.to_torch(obs), actions, self.to_torch(nxt), dones, rewards)
            )
        return ReplayBufferSamples(
            observations=_cat([p.observations for p in parts]),
            actions=_cat([p.actions for p in parts]),
            next_observations=_cat([p.next_observations for p in parts]),
            dones=_cat([p.dones for p in parts]),
            rewards=_cat([p.rewards for p in parts]),
        )


class MoCoDAHerReplayBuffer(_MoCoDABuffer, HerReplayBuffer):
    """SB3's `HerReplayBuffer` with MoCoDA's counterfactual transitions mixed into every batch,
    for goal-conditioned causal envs with Gymnasium-Robotics goal dicts (``HookSweep2-v1``).

    The real ``1 - fraction`` of each batch is SB3's HER sample (real transitions and their
    hindsight relabellings through the env's ``compute_reward``; ``n_sampled_goal=0`` turns
    relabelling off); the rest is drawn from the pool. MoCoDA fits on the states in the
    ``observation`` key; each generated transition gets a goal from ``env.sample_goals`` and
    the rewards and terminations of ``env.reward_fn``/``termination_fn`` for that goal. A goal
    dict holds more than the state and the goal (an ``achieved_goal`` computed from the state,
    extra elements), which only the env knows, so the buffer needs ``goal_observation``:

    ``goal_observation(states (B, S), goals (B, G)) -> {"observation": ..., "achieved_goal":
    ..., "desired_goal": ...}``, each ``(B, dim)``, exactly what the env would observe in state
    ``s`` pursuing goal ``g``; a module-level function, so the buffer pickles. It is checked
    against the observation space when the buffer is made.

    SB3 passes the env (its VecEnv, the first env's contract is used) as it does to any HER
    buffer, and calls `set_env` after ``load_replay_buffer``. The other arguments are those of
    `MoCoDAReplayBuffer` and SB3's HER (``n_sampled_goal``, ``goal_selection_strategy``,
    ``copy_info_dict``).
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        env: EnvLike,
        device: torch.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
        n_sampled_goal: int = 4,
        goal_selection_strategy: GoalSelectionStrategy | str = "future",
        copy_info_dict: bool = False,
        *,
        goal_observation: GoalObservationFn | None = None,
        method: str = "mocoda",
        fraction: float = 0.5,
        refit_every: int = 10_000,
        min_real: int = 5_000,
        pool_size: int = 50_000,
        refit_epochs: int = 3,
        max_fit_rows: int = 20_000,
        mocoda_config: MoCoDAConfig | None = None,
        uniform_features: Callable[[NDArray], NDArray] | None = None,
        prefilter: Callable[[NDArray], NDArray] | None = None,
        model_device: str | torch.device | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(observation_space, spaces.Dict):
            raise TypeError(
                "MoCoDAHerReplayBuffer takes goal dict observations; for Box observations use "
                "augment.sb3.MoCoDAReplayBuffer"
            )
        if not callable(goal_observation):
            raise ValueError(
                "MoCoDAHerReplayBuffer needs goal_observation(states, goals) -> observation dict "
                "(how the env observes a state pursuing a goal); pass it in replay_buffer_kwargs"
            )
        self.goal_observation = goal_observation
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            env,
            device=device,
            n_envs=n_envs,
            optimize_memory_usage=False,
            handle_timeout_termination=handle_timeout_termination,
            n_sampled_goal=n_sampled_goal,
            goal_selection_strategy=goal_selection_strategy,
            copy_info_dict=copy_info_dict,
        )
        self._setup_mocoda(
            env,
            method=method,
            fraction=fraction,
            refit_every=refit_every,
            min_real=min_real,
            pool_size=pool_size,
            refit_epochs=refit_epochs,
            max_fit_rows=max_fit_rows,
            mocoda_config=mocoda_config,
            uniform_features=uniform_features,
            prefilter=prefilter,
            model_device=model_device,
            seed=seed,
            optimize_memory_usage=optimize_memory_usage,
        )

    def _check_observations(self, base: Any, label: str) -> None:
        space = self.observation_space
        if not self.goal_conditioned:
            raise ContractError(
                f"MoCoDAHerReplayBuffer needs a GoalConditionedCausalEnv (state_space, "
                f"goal_space, sample_goals, goal-taking reward_fn); {label} is not one"
            )
        inner = space.spaces.get("observation")
        if not isinstance(inner, spaces.Box) or inner.shape != (self.state_dim,):
            raise ContractError(
                f"the 'observation' key must hold {label}'s state, a Box of shape "
                f"({self.state_dim},); got {inner}"
            )
        states = np.stack([base.state_space.sample() for _ in range(2)])
        goals = np.asarray(base.sample_goals(2, np.random.default_rng(0)))
        self._observation(np.concatenate([states, goals], axis=1))  # checks goal_observation

    def _states(self, store: dict[str, np.ndarray]) -> np.ndarray:
        return store["observation"]

    def _observation(self, flat: NDArray) -> dict[str, NDArray]:
        s, g = flat[:, : self.state_dim], flat[:, self.state_dim :]
        out = self.goal_observation(s, g)
        space = self.observation_space
        if not isinstance(out, dict) or set(out) != set(space.spaces):
            got = sorted(out) if isinstance(out, dict) else type(out).__name__
            raise ValueError(
                f"goal_observation must return a dict with keys {sorted(space.spaces)}, got {got}"
            )
        arrays = {}
        for key, sub in space.spaces.items():
            arr = np.asarray(out[key], dtype=sub.dtype)
            if arr.shape != (len(flat), *sub.shape):
                raise ValueError(
                    f"goal_observation's {key!r} must have shape {(len(flat), *sub.shape)}, "
                    f"got {arr.shape}"
                )
            arrays[key] = arr
        return arrays

    def set_env(self, env: VecEnv) -> None:
        """SB3's HER ``set_env`` (after ``load_replay_buffer``), which also gives the fits
        their env again."""
        super().set_env(env)
        self._env_source = env
        self._env = _single_env(env)
        self._check_env(self._env)

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> DictReplayBufferSamples:  # type: ignore[override]
        """A batch of ``batch_size``: SB3's HER rows first, then ``fraction`` of it from the
        pool (``last_generated`` marks them); fits first when a fit is due."""
        n_real, pool_rows = self._split_batch(batch_size)
        parts: list[DictReplayBufferSamples] = []
        if n_real:
            parts.append(super().sample(n_real, env=env))
        if len(pool_rows):
            obs, nxt, actions, dones, rewards = self._generated_tail(pool_rows, env)
            parts.append(
                DictReplayBufferSamples(
                    {k: self.to_torch(v) for k, v in obs.items()},
                    actions,
                    {k: self.to_torch(v) for k, v in nxt.items()},
                    dones,
                    rewards,
                )
            )
        keys = parts[0].observations.keys()
        return DictReplayBufferSamples(
            observations={k: _cat([p.observations[k] for p in parts]) for k in keys},
            actions=_cat([p.actions for p in parts]),
            next_observations={k: _cat([p.next_observations[k] for p in parts]) for k in keys},
            dones=_cat([p.dones for p in parts]),
            rewards=_cat([p.rewards for p in parts]),
        )
