"""Context features in the manner of CARL (Benjamin et al., 2023): the physical constants of an
env, each named, with a default, sampling bounds and a sampler, and an env that draws its
context per episode and can show it in the observation.

CARL's users know the convention: an env's context is a dict of named features
(``{"gravity": 9.8, "masscart": 1.0, ...}``), a set of contexts is a dict ``{id: context}``, and
the agent may see some features appended to its observation. Here the features are the
constructor arguments of the batched models (`CartPoleModel`, `Nav2DModel`), so a context is
also what ``gym.make(env_id, **context)`` takes. What CARL does not have is the link to the
task sequences: `causal_envs.tasks.Task.context` is the context of a task, beside its
``changes`` (what changed, e.g. ``distribution_shift``) and ``truth``.

    >>> space = context_space("CausalCartPole-v0")
    >>> contexts = space.sample_contexts(8, np.random.default_rng(0), names=["gravity"])
    >>> env = ContextualEnv("CausalCartPole-v0", contexts, obs_context_features=["gravity"])

Cart friction is not a context feature: it adds an observed element (CSR's state expansion),
so it changes the observation space, which a context must not.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from causal_envs.core import check_int

__all__ = [
    "CONTEXT_SPACES",
    "ContextFeature",
    "ContextSpace",
    "ContextualEnv",
    "context_space",
]


@dataclass(frozen=True)
class ContextFeature:
    """One named constant: its default, the bounds a sampler draws from (uniformly) and a
    check accepts, and what it means."""

    name: str
    default: float
    lower: float
    upper: float
    description: str = ""

    def __post_init__(self) -> None:
        if not self.lower <= self.default <= self.upper:
            raise ValueError(f"{self.name}: default {self.default} outside its bounds")

    def check(self, value: Any) -> float:
        """``value`` as a float inside the bounds, or a ValueError naming the feature."""
        if isinstance(value, bool | np.bool_) or not isinstance(
            value, int | float | np.integer | np.floating
        ):
            raise ValueError(f"context feature {self.name} must be a number, got {value!r}")
        v = float(value)
        if not (math.isfinite(v) and self.lower <= v <= self.upper):
            raise ValueError(
                f"context feature {self.name} must lie in [{self.lower}, {self.upper}], got {v}"
            )
        return v

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.lower, self.upper))


class ContextSpace(Mapping[str, ContextFeature]):
    """The context features of one env id, by name."""

    def __init__(self, env_id: str, features: Sequence[ContextFeature]) -> None:
        self.env_id = env_id
        self._features = {f.name: f for f in features}

    def __getitem__(self, name: str) -> ContextFeature:
        if name not in self._features:
            raise KeyError(f"{self.env_id} has no context feature {name!r}; it has {list(self)}")
        return self._features[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._features)

    def __len__(self) -> int:
        return len(self._features)

    def defaults(self) -> dict[str, float]:
        return {name: f.default for name, f in self._features.items()}

    def validate(self, context: Mapping[str, Any]) -> dict[str, float]:
        """The full context: ``context``'s features checked, the others at their defaults."""
        out = self.defaults()
        for name, value in context.items():
            out[name] = self[name].check(value)
        return out

    def sample(
        self, rng: np.random.Generator, names: Sequence[str] | None = None
    ) -> dict[str, float]:
        """A context with ``names`` (default: every feature) drawn uniformly in their bounds
        and the others at their defaults."""
        out = self.defaults()
        for name in self._features if names is None else names:
            out[name] = self[name].sample(rng)
        return out

    def sample_contexts(
        self, n: int, rng: np.random.Generator, names: Sequence[str] | None = None
    ) -> dict[int, dict[str, float]]:
        """CARL's ``contexts`` dict: ``{0: context, ..., n - 1: context}``."""
        if not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        return {i: self.sample(rng, names) for i in range(int(n))}

    def of(self, env: gym.Env) -> dict[str, float]:
        """The context an env runs with now (read off its batched model)."""
        model = env.unwrapped.batch_model
        return {name: float(getattr(model, name)) for name in self._features}

    def observation_space(self, names: Sequence[str]) -> spaces.Box:
        """The Box of ``names``' values, in their bounds."""
        low = np.array([self[n].lower for n in names], dtype=np.float32)
        high = np.array([self[n].upper for n in names], dtype=np.float32)
        return spaces.Box(low, high, dtype=np.float32)


#: env id -> its context features; the bounds cover CSR's CartPole tasks (gravity 5-40,
#: cart mass 0.5-4.5) and keep Nav2D's goal reachable within its 70 steps
CONTEXT_SPACES: dict[str, ContextSpace] = {
    "CausalCartPole-v0": ContextSpace(
        "CausalCartPole-v0",
        [
            ContextFeature("gravity", 9.8, 4.9, 40.0, "gravitational acceleration (m/s^2)"),
            ContextFeature("masscart", 1.0, 0.5, 4.5, "cart mass (kg)"),
            ContextFeature("masspole", 0.1, 0.05, 1.0, "pole mass (kg)"),
            ContextFeature("length", 0.5, 0.25, 2.0, "half the pole's length (m)"),
            ContextFeature("force_mag", 10.0, 5.0, 20.0, "push force (N)"),
            ContextFeature("tau", 0.02, 0.01, 0.04, "seconds per step"),
        ],
    ),
    "CausalNav2D-v0": ContextSpace(
        "CausalNav2D-v0",
        [
            ContextFeature("step_size", 0.05, 0.03, 0.1, "displacement per unit action"),
            ContextFeature(
                "entanglement", 0.02, 0.0, 0.1, "cross-talk of the actions in the quadrant"
            ),
            ContextFeature("quadrant", 0.5, 0.3, 0.7, "the entangled quadrant is x, y > this"),
        ],
    ),
}


def context_space(env_id: str) -> ContextSpace:
    """The context features of ``env_id`` (KeyError naming the envs that have some)."""
    if env_id not in CONTEXT_SPACES:
        raise KeyError(
            f"{env_id} has no context features; these envs have: {sorted(CONTEXT_SPACES)}"
        )
    return CONTEXT_SPACES[env_id]


class ContextualEnv(gym.Env):
    """CARL's contextual env: each episode runs one context of ``contexts`` (``{id: context}``;
    default: the defaults alone), chosen round-robin or at random (``selector``) or by
    ``reset(options={"context_id": k})``. ``obs_context_features`` are appended to the (vector)
    observation; ``info`` holds ``context_id`` and ``context``. ``make_kwargs`` (e.g.
    ``max_episode_steps``) go to every ``gym.make``.
    """

    def __init__(
        self,
        env_id: str,
        contexts: Mapping[int, Mapping[str, Any]] | None = None,
        obs_context_features: Sequence[str] = (),
        selector: str = "round_robin",
        **make_kwargs: Any,
    ) -> None:
        space = context_space(env_id)
        if selector not in ("round_robin", "random"):
            raise ValueError(f"selector must be 'round_robin' or 'random', got {selector!r}")
        contexts = {0: {}} if contexts is None else contexts
        if not isinstance(contexts, Mapping):
            raise ValueError(
                "contexts must map an integer id to a context, e.g. {0: {'gravity': 9.8}}; got "
                f"a {type(contexts).__name__} (for a list, use dict(enumerate(contexts)))"
            )
        if not contexts:
            raise ValueError("contexts must hold at least one context")
        self.contexts = {
            check_int("a context id", k, 0): space.validate(c) for k, c in contexts.items()
        }
        if isinstance(obs_context_features, str):
            raise ValueError(
                "obs_context_features is a sequence of feature names, e.g. "
                f"({obs_context_features!r},), not one string"
            )
        self.obs_context_features = tuple(obs_context_features)
        for name in self.obs_context_features:
            space[name]  # raises KeyError for an unknown feature
        self.space, self.env_id, self.selector = space, env_id, selector
        self.make_kwargs = make_kwargs
        self._ids = sorted(self.contexts)
        self._next = 0
        self.context_id = self._ids[0]
        self._env = gym.make(env_id, **self.contexts[self.context_id], **make_kwargs)
        inner = self._env.observation_space
        self.action_space = self._env.action_space
        if self.obs_context_features:
            if not (isinstance(inner, spaces.Box) and len(inner.shape) == 1):
                raise ValueError(
                    f"obs_context_features need a vector observation; {env_id} observes {inner}"
                )
            extra = space.observation_space(self.obs_context_features)
            self.observation_space = spaces.Box(
                np.concatenate([inner.low, extra.low]).astype(inner.dtype),
                np.concatenate([inner.high, extra.high]).astype(inner.dtype),
                dtype=inner.dtype,
            )
        else:
            self.observation_space = inner
        self.metadata = self._env.metadata
        self.render_mode = self._env.render_mode

    @property
    def context(self) -> dict[str, float]:
        return dict(self.contexts[self.context_id])

    def _choose(self, options: dict[str, Any] | None) -> int:
        if options and "context_id" in options:
            k = check_int("options['context_id']", options["context_id"], 0)
            if k not in self.contexts:
                raise KeyError(f"no context {k!r}; the ids are {self._ids}")
            return int(k)
        if self.selector == "random":
            return int(self.np_random.choice(self._ids))
        k = self._ids[self._next % len(self._ids)]
        self._next += 1
        return k

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        if not self.obs_context_features:
            return obs
        values = [self.contexts[self.context_id][n] for n in self.obs_context_features]
        return np.concatenate([obs, np.asarray(values, dtype=obs.dtype)])

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        return {**info, "context_id": self.context_id, "context": self.context}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        k = self._choose(options)
        if k != self.context_id:
            self._env.close()
            self._env = gym.make(self.env_id, **self.contexts[k], **self.make_kwargs)
            self.context_id = k
        inner_options = {key: v for key, v in (options or {}).items() if key != "context_id"}
        # the inner env's seed comes from this env's generator: same seed, same episodes,
        # across context switches (which make a new inner env)
        obs, info = self._env.reset(
            seed=int(self.np_random.integers(2**31 - 1)), options=inner_options or None
        )
        return self._observe(obs), self._info(info)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self._env.step(action)
        return self._observe(obs), reward, terminated, truncated, self._info(info)

    def render(self):
        return self._env.render()

    def close(self) -> None:
        self._env.close()
