"""Offline datasets into other libraries in one call each, without losing a transition.

- `to_d3rlpy`: a d3rlpy ``ReplayBuffer`` for any d3rlpy algorithm's ``fit``.
- `to_torchrl`: a torchrl ``TensorDictReplayBuffer`` (``LazyTensorStorage``) in torchrl's keys,
  for its loss modules (``TD3BCLoss``, ``IQLLoss``, ``CQLLoss``, ...).
- `to_minari`: a Minari dataset under a root, listed by ``minari list local`` and opened by
  ``minari.load_dataset``.

Each takes a `TransitionDataset` (``load_dataset``, ``load_augmented``, ``MoCoDA.generate``) or
a D4RL dict (``env.unwrapped.get_dataset()``, ``get_augmented_dataset()``). Episodes are not
the unit these libraries need: what they must keep is every ``(s, a, r, s', terminal)``. So all
three cut the data into *runs* (`transition_runs`): maximal stretches of consecutive
transitions (``s'`` of one is ``s`` of the next, no episode end between). A behaviour episode
is one run; MoCoDA's generated transitions (each its own episode) are one-step runs; a
goal-conditioned set whose rows carry their own goals (``[state, goal]`` observations,
relabelled per row) is one-step runs too. Each run's transitions keep their own ``s'`` and
terminal flag, including a terminal *inside* a behaviour episode that goes on.

d3rlpy builds transitions from episodes: the next state of step ``t`` is the observation of step
``t + 1``, the last step of an episode that did not terminate has no next state (it is dropped),
and a terminated episode's last next state is a vector of zeros. Handing it a D4RL dict
(``d3rlpy.dataset.MDPDataset(**env.unwrapped.get_dataset())``) therefore loses the last
transition of every episode that was cut by a time limit and zeroes the next state of every
terminal that falls *inside* a behaviour episode (on ``nav2d/empirical``: 1,544 of 40,000
transitions dropped, 416 next states wrong), and it cannot represent MoCoDA's generated sets,
whose transitions are independent one-step episodes.

`to_d3rlpy` keeps every ``(s, a, r, s', terminal)`` exactly: each run of ``L`` transitions
becomes a d3rlpy episode of ``L + 1`` observations (its last ``s'`` appended) that is not
"terminated" as d3rlpy counts it, and a transition picker reads each transition's own terminal
flag. d3rlpy then samples exactly the dataset's rows, uniformly.

Examples:
    (skipped as doctests: d3rlpy, torchrl and Minari's writes are slow to import or log)

    >>> import tempfile
    >>> from causal_envs.datasets import load_dataset, to_d3rlpy, to_minari, to_torchrl
    >>> data = load_dataset("nav2d/empirical", root=tempfile.mkdtemp())
    >>> to_d3rlpy(data).transition_count  # doctest: +SKIP
    40000
    >>> len(to_torchrl(data, batch_size=256))  # doctest: +SKIP
    40000
    >>> to_minari(data, "me/nav2d-v0", root=tempfile.mkdtemp()).total_steps  # doctest: +SKIP
    40000
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from causal_envs.datasets.storage import save_minari
from causal_envs.datasets.transitions import TransitionDataset

if TYPE_CHECKING:  # the optional libraries, for the annotations only
    import torch
    from minari import MinariDataset
    from torchrl.data import TensorDictReplayBuffer

__all__ = ["as_transition_dataset", "to_d3rlpy", "to_minari", "to_torchrl", "transition_runs"]

#: the Minari namespace of the package's own named datasets (``causal-envs/nav2d/empirical-v0``)
PACKAGE_NAMESPACE = "causal-envs"


def as_transition_dataset(data: TransitionDataset | Mapping[str, np.ndarray]) -> TransitionDataset:
    """``data`` as a `TransitionDataset`: itself, or built from a D4RL dict (``observations,
    actions, rewards, next_observations, terminals, timeouts``; episodes end at terminals and
    timeouts, and at the end of the arrays)."""
    if isinstance(data, TransitionDataset):
        return data
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a TransitionDataset or a D4RL dict, got {type(data).__name__}")
    needed = ("observations", "actions", "rewards", "next_observations", "terminals")
    missing = [k for k in needed if k not in data]
    if missing:
        raise ValueError(f"the D4RL dict lacks {missing}; it has {sorted(data)}")
    terminals = np.asarray(data["terminals"], dtype=np.bool_)
    ends = terminals | np.asarray(data.get("timeouts", np.zeros_like(terminals)), dtype=np.bool_)
    if len(ends):
        ends[-1] = True
    actions = np.asarray(data["actions"], dtype=np.float32)
    return TransitionDataset(
        observations=np.asarray(data["observations"], dtype=np.float32),
        actions=actions.reshape(len(actions), -1),
        rewards=np.asarray(data["rewards"], dtype=np.float32).reshape(-1),
        next_observations=np.asarray(data["next_observations"], dtype=np.float32),
        terminals=terminals,
        episode_ends=ends,
    )


def transition_runs(data: TransitionDataset) -> np.ndarray:
    """``(n_runs, 2)`` ``[start, stop)`` bounds of the runs of consecutive transitions: a run
    ends at an episode end and wherever ``next_observations[i]`` is not ``observations[i+1]``
    (a terminal inside a behaviour episode does not end a run)."""
    n = len(data)
    cut = data.episode_ends.copy()
    if n > 1:
        cut[:-1] |= np.any(data.next_observations[:-1] != data.observations[1:], axis=1)
    stops = np.flatnonzero(cut) + 1
    starts = np.concatenate([[0], stops[:-1]]).astype(np.int64)
    return np.stack([starts, stops], axis=1)


@functools.cache
def _d3rlpy_types() -> tuple[type, type]:
    """The episode type and transition picker, defined once d3rlpy is imported."""
    from d3rlpy.dataset import Episode, Transition  # deferred: the optional crosscheck extra

    @dataclasses.dataclass(frozen=True)
    class RunEpisode(Episode):
        """A run of ``L`` transitions: ``L + 1`` observations, ``L + 1`` actions and rewards
        (the last rows repeat/zero), ``terminated=False`` (so d3rlpy counts ``L``), and each
        transition's own terminal flag."""

        terminal_flags: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    class ExactTransitionPicker:
        """Transition ``i`` of a run: its own ``s'`` (the next observation row) and terminal."""

        def __call__(self, episode: RunEpisode, index: int) -> Transition:
            return Transition(
                observation=episode.observations[index],
                action=episode.actions[index],
                reward=episode.rewards[index],
                next_observation=episode.observations[index + 1],
                next_action=episode.actions[index + 1],
                terminal=float(episode.terminal_flags[index]),
                interval=1,
                rewards_to_go=episode.rewards[index:-1],
            )

    return RunEpisode, ExactTransitionPicker


def _usable(data: TransitionDataset | Mapping[str, np.ndarray], caller: str) -> TransitionDataset:
    """``data`` as a non-empty `TransitionDataset` (a clear error otherwise)."""
    data = as_transition_dataset(data)
    if len(data) == 0:
        raise ValueError(f"{caller}: the dataset holds no transitions")
    return data


def _discrete_actions(
    data: TransitionDataset, discrete: bool | None
) -> tuple[np.ndarray, int] | None:
    """``(int64 (N,) action indices, number of actions)`` when the actions are discrete, else
    None. ``discrete=None`` reads the metadata's ``action_n`` (rollouts of a ``Discrete`` env)."""
    if discrete is not None and not isinstance(discrete, bool):
        raise TypeError(f"discrete must be True, False or None, got {discrete!r}")
    action_n = data.metadata.get("action_n")
    if not (action_n is not None if discrete is None else discrete):
        return None
    actions = data.actions.reshape(-1)
    if actions.shape != (len(data),) or np.any(actions != np.round(actions)) or actions.min() < 0:
        raise ValueError("discrete=True needs one non-negative integer action per transition")
    return actions.astype(np.int64), int(action_n or actions.max() + 1)


def to_d3rlpy(
    data: TransitionDataset | Mapping[str, np.ndarray], *, discrete: bool | None = None
) -> Any:
    """A d3rlpy ``ReplayBuffer`` holding every transition of ``data`` exactly.

    Each run of consecutive transitions (`transition_runs`) is one d3rlpy episode, so an
    augmented set (MoCoDA's generated rows are one-step runs after the real episodes) and a
    goal-conditioned one (``[state, goal]`` observations, e.g. HookSweep2's) go in as they are:
    ``buffer.transition_count == len(data)``, and the picker gives transition ``i`` of a run
    its own ``s'`` and terminal flag (d3rlpy's ``MDPDataset(**dataset)`` would drop or zero
    some). Building the buffer costs about 25 us a run: 5 s for a 200k set of mostly one-step
    runs.

    Args:
        data: a `TransitionDataset` (``load_dataset``, ``load_augmented``,
            ``MoCoDA.generate``) or a D4RL dict (``env.unwrapped.get_dataset()``).
        discrete: whether actions are discrete indices (CartPole, the synthetic POMDP).
            Default: what the dataset's metadata says (``action_n``), else continuous.

    Returns:
        ``d3rlpy.dataset.ReplayBuffer`` whose ``transition_count`` is ``len(data)``; pass it to
        any d3rlpy algorithm's ``fit``.
    """
    try:
        import d3rlpy  # deferred: d3rlpy is the optional `crosscheck` extra
        from d3rlpy.dataset import InfiniteBuffer, ReplayBuffer  # deferred: optional extra
    except ImportError as err:
        raise ImportError(
            "to_d3rlpy needs d3rlpy: pip install 'causal-envs[crosscheck]' (or d3rlpy)"
        ) from err
    data = _usable(data, "to_d3rlpy")
    run_episode, picker = _d3rlpy_types()
    indices = _discrete_actions(data, discrete)
    if indices is not None:
        actions = indices[0].astype(np.int32).reshape(-1, 1)
        space, size = d3rlpy.ActionSpace.DISCRETE, indices[1]
    else:
        actions = data.actions
        space, size = d3rlpy.ActionSpace.CONTINUOUS, data.actions.shape[1]
    rewards = data.rewards.reshape(-1, 1)
    zero_reward = np.zeros((1, 1), np.float32)
    episodes = []
    for start, stop in transition_runs(data):
        episodes.append(
            run_episode(
                observations=np.concatenate(
                    [data.observations[start:stop], data.next_observations[stop - 1 : stop]]
                ),
                actions=np.concatenate([actions[start:stop], actions[stop - 1 : stop]]),
                rewards=np.concatenate([rewards[start:stop], zero_reward]),
                terminated=False,
                terminal_flags=data.terminals[start:stop],
            )
        )
    return ReplayBuffer(
        InfiniteBuffer(),
        episodes=episodes,
        transition_picker=picker(),
        action_space=space,
        action_size=size,
    )


def _run_ends(data: TransitionDataset) -> np.ndarray:
    """``(N,)`` bool: whether transition ``i`` is the last of its run."""
    ends = np.zeros(len(data), np.bool_)
    ends[transition_runs(data)[:, 1] - 1] = True
    return ends


def to_torchrl(
    data: TransitionDataset | Mapping[str, np.ndarray],
    *,
    batch_size: int | None = None,
    device: str | torch.device = "cpu",
    discrete: bool | None = None,
    **buffer_kwargs: Any,
) -> TensorDictReplayBuffer:
    """A torchrl ``TensorDictReplayBuffer`` on a ``LazyTensorStorage`` holding every transition.

    The storage holds the ``N`` transitions in the dataset's order (``buffer[i]`` is
    transition ``i``; in an augmented set the rows from ``metadata["n_empirical"]`` on are the
    generated ones), under torchrl's keys, as its loss modules and value estimators read them:

    - ``"observation"``: float32 ``(N, obs_dim)`` (a goal-conditioned set's ``[state, goal]``
      rows as they are);
    - ``"action"``: float32 ``(N, act_dim)``; discrete actions: int64 ``(N,)`` indices;
    - ``("next", "observation")``: float32 ``(N, obs_dim)``, each transition's own ``s'``;
    - ``("next", "reward")``: float32 ``(N, 1)``;
    - ``("next", "terminated")``: bool ``(N, 1)``, the task's terminal flag (where TD targets
      stop bootstrapping);
    - ``("next", "truncated")``: bool ``(N, 1)``, the last transition of a run that did not
      terminate (a time limit, a generated one-step transition);
    - ``("next", "done")``: bool ``(N, 1)``, ``terminated | truncated``;
    - ``"episode"``: int64 ``(N,)``, the run (`transition_runs`) it belongs to, for
      ``SliceSampler(traj_key="episode")``.

    Args:
        data: a `TransitionDataset` or a D4RL dict, as for `to_d3rlpy`.
        batch_size: the default ``buffer.sample()`` size (None: pass one to ``sample``).
        device: where the storage's tensors live.
        discrete: as for `to_d3rlpy` (default: the metadata's ``action_n``).
        **buffer_kwargs: passed to ``TensorDictReplayBuffer`` (``sampler=``, ``transform=``,
            ``prefetch=``); the default sampler draws uniformly with replacement.

    Returns:
        ``torchrl.data.TensorDictReplayBuffer`` with ``len(buffer) == len(data)``.
    """
    try:
        import torch  # deferred: torchrl is the optional `clients` extra
        from tensordict import TensorDict  # deferred: optional extra
        from torchrl.data import LazyTensorStorage  # deferred: optional extra
        from torchrl.data import TensorDictReplayBuffer as Buffer  # deferred: optional extra
    except ImportError as err:
        raise ImportError(
            "to_torchrl needs torchrl: pip install 'causal-envs[clients]' (or torchrl)"
        ) from err
    data = _usable(data, "to_torchrl")
    if batch_size is not None and (
        not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    n = len(data)
    indices = _discrete_actions(data, discrete)
    actions = data.actions if indices is None else indices[0]
    runs = transition_runs(data)
    terminated = data.terminals.reshape(n, 1)
    truncated = (_run_ends(data) & ~data.terminals).reshape(n, 1)
    arrays = {
        "observation": data.observations,
        "action": actions,
        "episode": np.repeat(np.arange(len(runs)), runs[:, 1] - runs[:, 0]),
        ("next", "observation"): data.next_observations,
        ("next", "reward"): data.rewards.reshape(n, 1),
        ("next", "terminated"): terminated,
        ("next", "truncated"): truncated,
        ("next", "done"): terminated | truncated,
    }
    batch = TensorDict(batch_size=[n], device=device)
    for key, arr in arrays.items():
        batch.set(key, torch.as_tensor(np.ascontiguousarray(arr), device=device))
    buffer = Buffer(
        storage=LazyTensorStorage(max_size=n, device=device), batch_size=batch_size, **buffer_kwargs
    )
    buffer.extend(batch)
    return buffer


def _minari_id(dataset_id: Any, root: Path) -> None:
    """Refuse an id Minari would refuse, or whose folder is not a dataset's to overwrite."""
    from minari.dataset.minari_dataset import DATASET_ID_RE  # deferred: minari + h5py

    if not isinstance(dataset_id, str):
        raise TypeError(f"dataset_id must be a string, got {type(dataset_id).__name__}")
    match = DATASET_ID_RE.fullmatch(dataset_id)
    if match is None or match.group("version") is None:
        raise ValueError(
            f"Minari refuses the dataset id {dataset_id!r}: ids look like "
            "'namespace/name-v0' (letters, digits, '-' and '_', an optional namespace path, a "
            "'-v<version>' suffix)"
        )
    if dataset_id.split("/")[0] == PACKAGE_NAMESPACE:
        raise ValueError(
            f"the {PACKAGE_NAMESPACE}/ namespace holds the package's named datasets (the cache "
            f"shares Minari's root); export under a namespace of your own, e.g. 'me/{dataset_id}'"
        )
    parts = dataset_id.split("/")
    for depth in range(1, len(parts)):  # a dataset folder above: Minari would never see it
        above = root.joinpath(*parts[:depth])
        if (above / "data").is_dir():
            raise ValueError(
                f"{'/'.join(parts[:depth])} is a dataset under {root}, so {dataset_id} inside "
                "it would be hidden from Minari; choose another id"
            )
    final = root / dataset_id
    if final.is_dir() and not (final / "data").is_dir():
        raise ValueError(
            f"{final} is a folder that is not a dataset (a Minari namespace?): {dataset_id} "
            "would replace it; choose another id"
        )


def _minari_env(data: TransitionDataset, env: str | gym.Env | None) -> tuple[Any, bool]:
    """The env instance Minari stores with the data, and whether it was made here; its spaces
    are checked against the arrays."""
    from causal_envs.datasets.registry import DATASETS, get_spec  # deferred: the registry

    made = not isinstance(env, gym.Env)
    meta = data.metadata
    if env is None and meta.get("generator") in DATASETS:  # the env with its task's kwargs
        env = get_spec(meta["generator"]).env(int(meta.get("seed", 0)))
    elif env is None and isinstance(meta.get("env_id"), str):  # MoCoDA's sets
        kwargs = dict(meta.get("env_kwargs") or {})
        if "observation_layout" in meta:  # goal-conditioned rows are flat [state, goal]
            kwargs.setdefault("flat_obs", True)
        env = gym.make(meta["env_id"], **kwargs)
    elif env is None:
        raise ValueError(
            "to_minari: the dataset's metadata names no env (the generator of a named dataset, "
            "or env_id); pass env= (an env id or instance), which Minari stores so that "
            "dataset.recover_environment() works"
        )
    elif isinstance(env, str):
        env = gym.make(env)
    elif made:
        raise TypeError(f"env must be an env id, a gymnasium.Env or None, got {type(env).__name__}")
    obs_space, act_space = env.observation_space, env.action_space
    problems = []
    if not isinstance(obs_space, gym.spaces.Box) or obs_space.shape != data.observations.shape[1:]:
        problems.append(f"observation space {obs_space} for {data.observations.shape[1]}-dim rows")
    if isinstance(act_space, gym.spaces.Discrete):
        if data.actions.shape[1] != 1:
            problems.append(f"action space {act_space} for {data.actions.shape[1]}-dim actions")
    elif not isinstance(act_space, gym.spaces.Box) or act_space.shape != data.actions.shape[1:]:
        problems.append(f"action space {act_space} for {data.actions.shape[1]}-dim actions")
    if problems:
        if made:
            env.close()
        raise ValueError(
            f"to_minari: the env {env.spec.id if env.spec else env} does not fit the data: "
            f"{'; '.join(problems)} (a goal-conditioned env must give flat [state, goal] Box "
            "observations)"
        )
    return env, made


def to_minari(
    data: TransitionDataset | Mapping[str, np.ndarray],
    dataset_id: str,
    *,
    root: str | os.PathLike | None = None,
    env: str | gym.Env | None = None,
    description: str | None = None,
    overwrite: bool = False,
) -> MinariDataset:
    """Write ``data`` as Minari dataset ``dataset_id`` under ``root``; return it, opened.

    Minari's episodes are the runs of consecutive transitions (`transition_runs`): a behaviour
    episode stays one episode (a terminal inside it stays a mid-episode ``terminations``
    flag), each of MoCoDA's generated transitions is a one-step episode, truncated unless it is
    terminal, and an episode whose rows do not chain (a goal-conditioned set relabelled per
    row) is split where they do not, each piece ending in a truncation. So every transition is
    a step of some episode with its own ``s'`` (the episode's next observation) and flags:
    ``minari.load_dataset(dataset_id).total_steps == len(data)``. Read back (by
    ``transitions_from_minari`` through Minari's episodes, or by ``load_stored`` from the
    package's flat copy beside them), the transitions are the same and ``episode_ends`` are
    the run ends.

    ``data.metadata`` is kept under the ``causal_envs`` key of Minari's metadata (`save_minari`),
    with ``n_generated`` (MoCoDA's count of generated rows, 0 for collected data) and
    ``minari_episodes`` (the number of runs) added; its ``ref_min_score``/``ref_max_score``
    become Minari's.

    Args:
        data: a `TransitionDataset` or a D4RL dict.
        dataset_id: Minari's id, ``namespace/name-v<version>`` (the namespace optional, any
            but ``causal-envs``, which holds the package's named datasets).
        root: Minari's datasets folder; default ``$MINARI_DATASETS_PATH``, else Minari's
            ``~/.minari/datasets``. Give the root as ``MINARI_DATASETS_PATH`` to Minari's CLI
            and ``minari.load_dataset`` to see the dataset there.
        env: the env the data belongs to (an id or a ``gymnasium.Env``; flat ``Box``
            observations and actions of the data's widths, or ``Discrete`` actions), stored so
            that ``recover_environment()`` works. Default: the env of the named dataset that
            generated the data (with its task's kwargs), else the metadata's ``env_id``
            (MoCoDA's sets; a goal-conditioned set's env made with ``flat_obs=True``).
        description: Minari's description; default: the generator and the counts.
        overwrite: replace an existing dataset of that id (else ``FileExistsError``).

    Returns:
        The ``minari.MinariDataset`` just written (read from its folder, whatever
        ``$MINARI_DATASETS_PATH`` says).
    """
    import minari  # deferred: minari + h5py (~0.6 s)

    data = _usable(data, "to_minari")
    if root is None:
        root = os.environ.get("MINARI_DATASETS_PATH") or Path.home() / ".minari" / "datasets"
    root = Path(root).expanduser()
    _minari_id(dataset_id, root)
    runs = transition_runs(data)
    meta = {
        **data.metadata,
        "n_generated": int(data.metadata.get("n_generated", 0)),
        "minari_episodes": len(runs),
    }
    exported = dataclasses.replace(data, episode_ends=_run_ends(data), metadata=meta)
    if description is None:
        description = (
            f"{meta.get('generator', 'a dataset')} exported by causal-envs: {len(data):,} "
            f"transitions ({meta['n_generated']:,} generated) in {len(runs):,} episodes"
        )
    instance, made = _minari_env(data, env)
    try:
        path = save_minari(
            exported, dataset_id, root, env=instance, description=description, overwrite=overwrite
        )
    finally:
        if made:
            instance.close()
    return minari.MinariDataset(path / "data")
