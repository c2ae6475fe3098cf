"""CSR's Atari sequences: one game, four (mode, difficulty) tasks (CSR appendix D.3.4, Table 6).

Frameskip 4, sticky actions off (``repeat_action_probability=0``), the game's minimal action set,
observations resized to 64x64 RGB. Task 1 is mode 0, difficulty 0; tasks 2-4 are the authors'
runs. The change labels are **ours**: a new difficulty is a ``distribution_shift`` (the same game
elements, other parameters); a new mode is a ``state_expansion`` (Machado et al. 2018: modes add
or alter game elements); both when both change; a repeated task has no change. ``truth`` keeps
the raw mode and difficulty so a benchmark can use its own labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym

from causal_envs.tasks.base import Task, TaskSequence
from causal_envs.wrappers import CheckedDiscreteActions, ResizeNearest

__all__ = ["ATARI_TASKS", "DETECTION_FIGURE_PONG", "atari_sequence"]

#: game -> [(mode, difficulty)] for tasks 1-4
ATARI_TASKS: dict[str, list[tuple[int, int]]] = {
    "Alien": [(0, 0), (1, 2), (3, 1), (3, 0)],
    "BankHeist": [(0, 0), (12, 2), (24, 1), (24, 0)],
    "CrazyClimber": [(0, 0), (1, 1), (3, 0), (3, 0)],
    "Gopher": [(0, 0), (0, 1), (2, 0), (2, 0)],
    "Pong": [(0, 0), (0, 1), (1, 0), (1, 0)],
}
#: the Pong tasks of CSR's detection figure (appendix D, Fig. 14): a new difficulty, then a
#: new mode at the same difficulty, then the new mode at the first difficulty
DETECTION_FIGURE_PONG: list[tuple[int, int]] = [(0, 0), (0, 1), (1, 1), (1, 0)]


def _changes(prev: tuple[int, int], cur: tuple[int, int]) -> frozenset[str]:
    """A new mode is a state expansion, a new difficulty a distribution shift (both if both)."""
    changes = set()
    if cur[0] != prev[0]:
        changes.add("state_expansion")
    if cur[1] != prev[1]:
        changes.add("distribution_shift")
    return frozenset(changes)


def _wrap(env: gym.Env) -> gym.Env:
    """64x64 frames, and actions checked before ALE sees them."""
    return ResizeNearest(CheckedDiscreteActions(env))


def atari_sequence(
    game: str = "Pong", seed: int = 0, pairs: Sequence[tuple[int, int]] | None = None
) -> TaskSequence:
    """The four tasks of ``game`` (one of `ATARI_TASKS`); ``seed`` is kept for the
    sequence's record (the tasks are fixed). ``pairs``: other (mode, difficulty) tasks, the
    first of them the source task (e.g. `DETECTION_FIGURE_PONG`); each must be one the
    game offers.

    ALE's log is set to warnings and errors (``ale_py.LoggerMode.Warning``, a setting of
    the whole process): its banner, printed each time an emulator starts, would otherwise
    reach the user's stderr once per task."""
    import ale_py  # deferred: ALE loads its emulator and ROMs (~0.3 s)

    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Warning)
    gym.register_envs(ale_py)
    if game not in ATARI_TASKS:
        raise KeyError(f"unknown Atari game {game!r}; known: {sorted(ATARI_TASKS)}")
    if pairs is None:
        pairs = ATARI_TASKS[game]
    else:
        pairs = [(int(m), int(d)) for m, d in pairs]
        if not pairs:
            raise ValueError("pairs must hold at least one (mode, difficulty) task")
        env = gym.make(f"ALE/{game}-v5")
        ale = env.unwrapped.ale
        modes, difficulties = set(ale.getAvailableModes()), set(ale.getAvailableDifficulties())
        env.close()
        for m, d in pairs:
            if m not in modes or d not in difficulties:
                raise ValueError(
                    f"{game} has no (mode {m}, difficulty {d}); its modes {sorted(modes)}, "
                    f"difficulties {sorted(difficulties)}"
                )
    tasks = []
    for i, (mode, difficulty) in enumerate(pairs):
        kwargs = {
            "mode": mode,
            "difficulty": difficulty,
            "frameskip": 4,
            "repeat_action_probability": 0.0,
            "full_action_space": False,
        }
        tasks.append(
            Task(
                name=f"mode{mode}-difficulty{difficulty}",
                env_id=f"ALE/{game}-v5",
                kwargs=kwargs,
                changes=_changes(pairs[i - 1], (mode, difficulty)) if i else frozenset(),
                description=f"{game}, mode {mode}, difficulty {difficulty}",
                truth={"mode": mode, "difficulty": difficulty},
                wrap=_wrap,
            )
        )
    return TaskSequence(name=f"atari/{game}", tasks=tuple(tasks), seed=seed)
