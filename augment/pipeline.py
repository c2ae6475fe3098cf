"""The MoCoDA pipeline: fit on a dataset and an env's causal structure, generate augmented data.

Examples:
    A toy budget (one epoch; the defaults are the paper's, and take minutes):

    >>> import tempfile
    >>> from augment import DynamicsConfig, MoCoDA, MoCoDAConfig, TrainingConfig
    >>> from causal_envs.datasets import load_dataset
    >>> data = load_dataset("nav2d/empirical", root=tempfile.mkdtemp())
    >>> one_epoch = DynamicsConfig(training=TrainingConfig(epochs=1))
    >>> toy = MoCoDAConfig(total_size=60_000, dynamics=one_epoch)
    >>> mocoda = MoCoDA("CausalNav2D-v0", toy).fit(data)
    >>> out = mocoda.generate("mocoda-u")  # the 40k empirical transitions + 20k generated
    >>> len(out), out.metadata["n_generated"]
    (60000, 20000)

Methods (MoCoDA section 5 and appendix C.1; ``total_size`` 200k, ``n_empirical`` the data):

- ``emp``: the empirical transitions, repeated (and resampled) up to ``total_size``.
- ``dyn``: the data plus rollouts of the *unfactored* model from empirical states with uniform
  random actions, each rollout 1-4 steps deep.
- ``mocoda``: the data plus the *locally factored* model applied to parent-model samples.
- ``mocoda-u``: the same on parent samples re-weighted to be uniform over a feature map (the
  state by default) by KDE rejection.
- ``rand``: the data plus the locally factored model on uniform ``(s, a)`` from the spaces.

For a goal-conditioned env (a `GoalConditionedCausalEnv`, such as
HookSweep2) the data holds
states alone (``env.state_space``), and every transition of the output, the empirical ones
included, is relabelled with a goal drawn from the env's task: observations ``[s, goal]``.

Parent samples outside the env's observation or action space are rejected (the authors' code
labels them anyway). Generated next states are clipped to the observation space (the env's
walls), and every generated transition is labelled with the env's batched ``reward_fn`` and
``termination_fn``. Each generated transition is its own episode, except ``dyn`` rollouts,
which are episodes of their depth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from numpy.typing import NDArray

import causal_envs  # noqa: F401  (registers the envs)
from augment.dynamics import DynamicsConfig, EnsembleTrainer, FactoredEnsemble
from augment.methods import METHODS, MODEL_FOR_METHOD
from augment.parents import COVARIANCES, WEIGHTS, ParentSetSampler
from augment.rejection import UniformRejection
from causal_envs.core import (
    CausalEnv,
    ContractError,
    GoalConditionedCausalEnv,
    Int,
    Real,
    check_fields,
    jsonable,
)
from causal_envs.core.device import AUTO, resolve_device
from causal_envs.core.rollout import model_rollout
from causal_envs.datasets import TransitionDataset
from causal_envs.datasets.transitions import ARRAY_FIELDS

__all__ = ["METHODS", "MODEL_FOR_METHOD", "PARENT_BOUNDS", "MoCoDA", "MoCoDAConfig"]

#: what `MoCoDAConfig.parent_bounds` may be
PARENT_BOUNDS = ("reject", "keep")


@dataclass
class MoCoDAConfig:
    """Pipeline settings (defaults: MoCoDA's 2D Navigation, appendix C.1)."""

    #: transitions each generated dataset holds (MOCODA, MOCODA-U, DYN, RAND)
    total_size: int = 200_000
    #: Gaussian components of each parent set's mixture
    n_components: int = 32
    #: the mixtures' component weights: "fitted" by EM (ours) or "uniform" (the authors')
    parent_weights: str = "fitted"
    #: each component's noise truncated at this many standard deviations (the authors: 2.5);
    #: None: no truncation
    truncate: float | None = None
    #: the parent mixtures' covariances: "full" (ours) or "diag" (the authors' GMMs)
    parent_covariance: str = "full"
    #: parent samples outside the env's state or action space: "reject" (ours: they are drawn
    #: again, and generated next states are clipped to the state space) or "keep" (the
    #: authors' code: such parents are labelled as the model predicts, nothing clipped)
    parent_bounds: str = "reject"
    #: hyperparameters of every dynamics model; the architecture is set per use
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    #: rows held out from the parent model (chosen with the seed)
    val_size: int = 5_000
    #: DYN's rollouts from data states last between these many steps (inclusive)
    dyn_depth: tuple[int, int] = (1, 4)
    #: MOCODA-U's mean acceptance probability in the re-weighting to uniform, in (0, 1]
    uniform_keep_fraction: float = 0.12
    #: the bandwidth of MOCODA-U's density estimate over the uniform features
    uniform_bandwidth: float = 0.05
    #: the density floor of MOCODA-U's acceptance ``1 / max(density, floor)``
    uniform_floor: float = 0.01
    #: the parent model's split and samples, the generation and the dynamics models' seeds
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(
            self,
            {
                "total_size": Int(1),
                "n_components": Int(1),
                "truncate": Real(0.0, low_open=True, optional=True),
                "val_size": Int(0),
                "uniform_keep_fraction": Real(0.0, 1.0, low_open=True),
                "uniform_bandwidth": Real(0.0, low_open=True),
                "uniform_floor": Real(0.0, low_open=True),
                "seed": Int(0),
            },
        )
        for name, allowed in (
            ("parent_weights", WEIGHTS),
            ("parent_covariance", COVARIANCES),
            ("parent_bounds", PARENT_BOUNDS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        lo, hi = self.dyn_depth
        if not 1 <= lo <= hi:
            raise ValueError(
                f"dyn_depth must be (low, high) with 1 <= low <= high, got {self.dyn_depth}"
            )

    def with_authors_parents(self) -> MoCoDAConfig:
        """These settings with the authors' parent model (their code, spitis/mocoda): mixtures
        with uniform component weights and diagonal covariances, noise truncated at 2.5
        standard deviations, and parents outside the spaces kept (MoCoDA appendix C.1 names
        the mixtures; the rest is their code's)."""
        return replace(
            self,
            parent_weights="uniform",
            parent_covariance="diag",
            truncate=2.5,
            parent_bounds="keep",
        )


class MoCoDA:
    """Model-based counterfactual data augmentation for any env exposing the causal contract.

    Args:
        env: a registered env id or an env instance whose ``unwrapped`` meets
            `CausalEnv` or
            `GoalConditionedCausalEnv`, with ``Box`` state and action
            spaces.
        config: pipeline settings.
        uniform_features: feature map for ``mocoda-u`` (rows of ``[s, a]`` -> features);
            default: the state.
        prefilter: optional row filter applied before the uniform re-weighting (MOCODA-P).
        device: where the dynamics ensembles train and sample (``"auto"``: CUDA if available;
            see `causal_envs.core.device`); the parent model and the rejection sampler run on NumPy.
    """

    def __init__(
        self,
        env: str | gym.Env,
        config: MoCoDAConfig | None = None,
        *,
        uniform_features: Callable[[NDArray], NDArray] | None = None,
        prefilter: Callable[[NDArray], NDArray] | None = None,
        device: str | torch.device | None = AUTO,
    ) -> None:
        self.device = resolve_device(device)  # a bad device fails here, before any work
        if not isinstance(env, str | gym.Env):
            raise TypeError(
                f"env must be a registered env id or a Gymnasium env, got {type(env).__name__} "
                f"{env!r}"
            )
        made = gym.make(env) if isinstance(env, str) else env
        self.env = made.unwrapped
        self.env_id = env if isinstance(env, str) else (made.spec.id if made.spec else None)
        name = self.env_id or type(self.env).__name__
        # goal-conditioned envs (HookSweep2) keep the dynamics' state apart from the goal
        self.goal_conditioned = isinstance(self.env, GoalConditionedCausalEnv)
        if not (self.goal_conditioned or isinstance(self.env, CausalEnv)):
            raise ContractError(
                f"{name} does not expose the causal contract MoCoDA needs (causal_structure, "
                "local_mask, reward_fn, termination_fn: see causal_envs.core.contract)"
            )
        self.config = config or MoCoDAConfig()
        self.structure = self.env.causal_structure
        self.state_space = self.env.state_space if self.goal_conditioned else made.observation_space
        obs, act = self.state_space, self.env.action_space
        for role, space in (("state", obs), ("action", act)):
            if not isinstance(space, gym.spaces.Box):
                raise ContractError(
                    f"MoCoDA samples continuous states and actions; the {role} space of {name} "
                    f"is {space} (a gymnasium.spaces.Box is needed)"
                )
        self.low = np.concatenate([obs.low, act.low]).astype(np.float64)
        self.high = np.concatenate([obs.high, act.high]).astype(np.float64)
        sd = self.structure.state_dim
        self.uniform_features = uniform_features or (lambda x: x[:, :sd])
        self.prefilter = prefilter
        self.data: TransitionDataset | None = None
        self.parent_sampler: ParentSetSampler | None = None
        self.models: dict[str, FactoredEnsemble] = {}
        self.train_rows: NDArray | None = None
        self.val_rows: NDArray | None = None

    # ----------------------------------------------------------------- fitting
    def fit(
        self,
        data: TransitionDataset,
        *,
        models: tuple[str, ...] = ("local",),
        progress: bool = False,
    ) -> MoCoDA:
        """Fit the parent model and train the dynamics ``models`` on ``data``'s training split.
        A second ``fit`` starts over: the models of the earlier data are dropped.

        ``val_size`` rows (chosen with the seed) are held out from the parent model; the
        dynamics models split the training rows again for early stopping.
        """
        if not isinstance(data, TransitionDataset):
            raise TypeError(
                "fit takes a TransitionDataset (e.g. causal_envs.datasets.load_dataset(name)), "
                f"got {type(data).__name__}"
            )
        st = self.structure
        if data.observations.shape[1] != st.state_dim or data.actions.shape[1] != st.action_dim:
            raise ValueError(
                f"data has state dim {data.observations.shape[1]} and action dim "
                f"{data.actions.shape[1]}; {self.env_id} has {st.state_dim} and {st.action_dim}"
            )
        cfg = self.config
        if len(data) <= cfg.val_size:
            raise ValueError(f"data has {len(data)} rows, not more than val_size={cfg.val_size}")
        self.data = data
        self.models = {}  # trained on the earlier data: a new fit trains them again
        perm = np.random.default_rng(cfg.seed).permutation(len(data))
        self.val_rows, self.train_rows = perm[: cfg.val_size], perm[cfg.val_size :]
        inputs = np.concatenate([data.observations, data.actions], axis=1)[self.train_rows]
        self.parent_sampler = ParentSetSampler(
            st,
            cfg.n_components,
            weights=cfg.parent_weights,
            truncate=cfg.truncate,
            covariance=cfg.parent_covariance,
            seed=cfg.seed,
        ).fit(inputs)
        for arch in models:
            self.train_model(arch, progress=progress)
        return self

    def train_model(self, architecture: str, *, progress: bool = False) -> FactoredEnsemble:
        """Train (or return the trained) dynamics ensemble of one architecture."""
        if self.data is None:
            raise RuntimeError("call fit() first")
        if architecture not in self.models:
            cfg = replace(self.config.dynamics, architecture=architecture)
            model = FactoredEnsemble(
                self.structure, cfg, self.env.local_mask, self.env_id, self.device
            )
            d, rows = self.data, self.train_rows
            EnsembleTrainer(model).fit(
                d.observations[rows], d.actions[rows], d.next_observations[rows], progress=progress
            )
            self.models[architecture] = model
        return self.models[architecture]

    # ----------------------------------------------------------------- sampling
    def _split(self, rows: NDArray) -> tuple[NDArray, NDArray]:
        sd = self.structure.state_dim
        return rows[:, :sd].astype(np.float32), rows[:, sd:].astype(np.float32)

    def inside_spaces(self, rows: NDArray) -> NDArray[np.bool_]:
        """Which rows ``[s, a]`` lie inside the env's state and action spaces."""
        return ((rows >= self.low) & (rows <= self.high)).all(axis=1)

    def sample_parents(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``n`` parent rows ``[s, a]`` from the parent model, all inside the env's spaces
        (unless ``parent_bounds="keep"``: then as drawn)."""
        if self.parent_sampler is None:
            raise RuntimeError("call fit() first")
        if self.config.parent_bounds == "keep":
            return self.parent_sampler.sample(n, rng)
        kept: list[NDArray] = []
        have = 0
        for _ in range(100):
            if have >= n:
                break
            draw = self.parent_sampler.sample(int(1.2 * (n - have)) + 64, rng)
            draw = draw[self.inside_spaces(draw)]
            kept.append(draw)
            have += len(draw)
        if have < n:
            raise RuntimeError(f"only {have} of {n} parent samples fell inside the env's spaces")
        return np.concatenate(kept)[:n]

    def sample_uniform_parents(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``n`` parent rows re-weighted toward uniform over ``uniform_features`` (MOCODA-U)."""
        cfg = self.config
        rejection = UniformRejection(
            self.uniform_features,
            bandwidth=cfg.uniform_bandwidth,
            floor=cfg.uniform_floor,
            keep_fraction=cfg.uniform_keep_fraction,
            prefilter=self.prefilter,
        )
        return rejection.sample(lambda m: self.sample_parents(m, rng), n, rng)

    def _label(self, s: NDArray, a: NDArray, s2: NDArray, ends: NDArray) -> TransitionDataset:
        obs = self.state_space
        if self.config.parent_bounds == "reject":
            s2 = np.clip(s2, obs.low, obs.high)
        s2 = s2.astype(np.float32)
        if self.goal_conditioned:  # labelled once, with their goals, by _with_goals
            rewards, terminals = np.zeros(len(s), np.float32), np.zeros(len(s), np.bool_)
        else:
            rewards = np.asarray(self.env.reward_fn(s, a, s2), dtype=np.float32)
            terminals = np.asarray(self.env.termination_fn(s, a, s2), dtype=np.bool_)
        return TransitionDataset(
            observations=s.astype(np.float32),
            actions=a.astype(np.float32),
            rewards=rewards,
            next_observations=s2,
            terminals=terminals,
            episode_ends=ends,
        )

    def _model_transitions(self, arch: str, parents: NDArray, rng) -> TransitionDataset:
        s, a = self._split(parents)
        s2 = self.train_model(arch).sample(s, a, rng)
        return self._label(s, a, s2, np.ones(len(s), np.bool_))

    def _dyn_rollouts(self, n: int, rng: np.random.Generator) -> TransitionDataset:
        """Rollouts of the unfactored model from empirical states, uniform random actions."""
        model = self.train_model("unfactored")
        lo, hi = self.config.dyn_depth
        act = self.env.action_space
        depth = rng.integers(lo, hi + 1, size=n // lo + 1)
        depth = depth[: np.searchsorted(np.cumsum(depth), n) + 1]
        chains = len(depth)
        state = self.data.observations[
            self.train_rows[rng.integers(0, len(self.train_rows), chains)]
        ]
        low, high = self.state_space.low, self.state_space.high
        out = model_rollout(
            start=state,
            horizon=hi,
            policy=lambda s, t: rng.uniform(act.low, act.high, size=(chains, act.shape[0])).astype(
                np.float32
            ),
            step=lambda s, a, t: np.clip(model.sample(s, a, rng), low, high).astype(np.float32),
        )
        parts_s, parts_a, parts_n = out.states[:-1], out.actions, out.states[1:]
        alive = [t < depth for t in range(hi)]
        alive_m = np.stack(alive, axis=1)  # (chains, hi)
        keep = alive_m.reshape(-1)

        def chain_major(xs: list[NDArray]) -> NDArray:
            return np.stack(xs, axis=1).reshape(chains * hi, -1)[keep]

        ends = np.zeros((chains, hi), np.bool_)
        ends[np.arange(chains), depth - 1] = True
        data = self._label(
            chain_major(parts_s), chain_major(parts_a), chain_major(parts_n), ends.reshape(-1)[keep]
        )
        return data.head(n)

    def generate(self, method: str, seed: int | None = None) -> TransitionDataset:
        """The augmented dataset of ``method``: the empirical data plus generated transitions."""
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if self.data is None:
            raise RuntimeError("call fit() first")
        seed = self.config.seed if seed is None else seed
        rng = np.random.default_rng([seed, METHODS.index(method)])
        data, total = self.data, self.config.total_size
        n_new = total - len(data)
        if n_new < 0:
            raise ValueError(f"total_size={total} is smaller than the data ({len(data)} rows)")
        if method == "emp":
            reps = total // len(data)
            parts = [data] * reps
            if total % len(data):
                rows = np.sort(rng.choice(len(data), total % len(data), replace=False))
                parts.append(_take(data, rows))
            generated = None
            out = TransitionDataset.concatenate(parts)
        else:
            if method == "dyn":
                generated = self._dyn_rollouts(n_new, rng)
            elif method == "mocoda":
                generated = self._model_transitions("local", self.sample_parents(n_new, rng), rng)
            elif method == "mocoda-u":
                generated = self._model_transitions(
                    "local", self.sample_uniform_parents(n_new, rng), rng
                )
            else:  # rand
                parents = rng.uniform(self.low, self.high, size=(n_new, len(self.low)))
                generated = self._model_transitions("local", parents, rng)
            out = TransitionDataset.concatenate([data, generated])
        if self.goal_conditioned:
            out = self._with_goals(out, rng)
        meta: dict[str, Any] = {
            "generator": f"mocoda/{method}",
            "method": method,
            "env_id": self.env_id,
            "seed": seed,
            "model": MODEL_FOR_METHOD.get(method),
            "n_empirical": len(data),
            "n_generated": 0 if generated is None else len(generated),
            "source": data.metadata,
            "config": jsonable(self.config),
        }
        if self.goal_conditioned:
            meta["observation_layout"] = "state then goal (goals drawn from the env's task)"
        return replace(out, metadata=meta)

    def _with_goals(self, data: TransitionDataset, rng: np.random.Generator) -> TransitionDataset:
        """Every transition relabelled with its own goal drawn from the env's (target) task:
        observations become ``[s, goal]`` and rewards and terminals the goal's."""
        s, a, s2 = data.observations, data.actions, data.next_observations
        goals = self.env.sample_goals(len(s), rng)
        g = goals.astype(np.float32)
        return replace(
            data,
            observations=np.concatenate([s, g], axis=1),
            next_observations=np.concatenate([s2, g], axis=1),
            rewards=np.asarray(self.env.reward_fn(s, a, s2, goals), dtype=np.float32),
            terminals=np.asarray(self.env.termination_fn(s, a, s2, goals), dtype=np.bool_),
        )


def _take(data: TransitionDataset, rows: NDArray) -> TransitionDataset:
    """Single transitions ``rows`` of ``data``, each its own episode."""
    arrays = {k: getattr(data, k)[rows] for k in ARRAY_FIELDS}
    arrays["episode_ends"] = np.ones(len(rows), np.bool_)
    return TransitionDataset(**arrays, metadata=dict(data.metadata))
