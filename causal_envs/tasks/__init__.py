"""Task sequences for CSR's experiments: ``make_sequence(name, seed)``.

Examples:
    >>> from causal_envs.tasks import make_sequence
    >>> seq = make_sequence("cartpole", seed=0)
    >>> env = seq.env(steps_per_task=[50_000, 50_000, 50_000, 50_000])
    >>> env.reset(seed=0)[1]["task_id"]
    0
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from causal_envs.core import check_int
from causal_envs.tasks.atari import ATARI_TASKS, atari_sequence
from causal_envs.tasks.base import CHANGES, Task, TaskSequence, TaskSequenceEnv
from causal_envs.tasks.cartpole import cartpole_sequence
from causal_envs.tasks.coinrun import coinrun_sequence
from causal_envs.tasks.synthetic import synthetic_sequence

__all__ = [
    "CHANGES",
    "SEQUENCES",
    "Task",
    "TaskSequence",
    "TaskSequenceEnv",
    "make_sequence",
]

#: name -> factory(seed, **kwargs)
SEQUENCES: dict[str, Callable[..., TaskSequence]] = {
    "cartpole": cartpole_sequence,
    "synthetic": synthetic_sequence,
    "coinrun": coinrun_sequence,
    **{f"atari/{game}": partial(atari_sequence, game) for game in ATARI_TASKS},
}


def make_sequence(name: str, seed: int = 0, **kwargs: Any) -> TaskSequence:
    """The registered sequence ``name`` drawn with ``seed`` (an integer >= 0); ``kwargs``
    go to its factory, and a keyword it does not take is refused naming the ones it does."""
    if name not in SEQUENCES:
        raise KeyError(f"unknown task sequence {name!r}; known: {sorted(SEQUENCES)}")
    factory = SEQUENCES[name]
    seed = check_int("seed", seed, 0)
    parameters = inspect.signature(factory).parameters
    accepted = set(parameters) - {"seed", "game"}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [] if takes_any else sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"make_sequence({name!r}) takes no {', '.join(unknown)}; its options: "
            f"{', '.join(sorted(accepted)) or 'none'}"
        )
    return factory(seed=seed, **kwargs)
