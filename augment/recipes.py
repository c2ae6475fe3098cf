"""How MoCoDA augments each env's offline data: the parts of a run that are functions, not
settings, so they cannot live in `MoCoDAConfig`.

A recipe names, for the env a dataset was collected in:

- ``target_env`` and ``target_kwargs``: the env the augmented data is for, and how it is made.
  2D Navigation's data is already labelled for its target task (the same env); HookSweep2's
  expert data comes from the source task (sweep one box), and MoCoDA relabels what it
  generates with goals of the target task ``HookSweep2-v1`` (sweep both), MoCoDA section 5.2,
  made with ``terminate_on_success=True``: the authors' offline data ends a transition's
  episode where the boxes reach their goals (done = reward > -0.3).
- ``prepare``: the source rows as the dynamics see them (HookSweep2: the 16-dim states,
  without the goal the expert was given).
- ``uniform_features`` and ``prefilter``: the feature map MOCODA-U/MOCODA-P re-weight to be
  uniform over, and the rows kept before re-weighting (HookSweep2: both boxes' xy positions,
  kept when the boxes are less than 0.3 apart, as in the authors' HookSweep2 script).
- ``uniform_floor``: the re-weighting's density floor (the authors' HookSweep2 script: 0.05;
  2D Navigation: `MoCoDAConfig`'s 0.01).
- ``normalise_inputs``: whether the dynamics models read their inputs standardised
  (`DynamicsConfig.normalise_inputs`; HookSweep2: yes, its positions sit near 1.3 m and move by
  centimetres; None: the config's own, raw inputs by default).

The recipe's name is part of an augmented set's cache key (`augment.cache`), so two recipes
never share a cached set.

Examples:
    >>> recipe_for("CausalNav2D-v0").name, recipe_for("HookSweep2Source-v1").target_env
    ('default', 'HookSweep2-v1')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import gymnasium as gym
from numpy.typing import NDArray

from causal_envs.datasets import TransitionDataset
from causal_envs.datasets.hooksweep import states_only
from causal_envs.envs.hooksweep.model import BOX_XY, boxes_near

if TYPE_CHECKING:
    from augment.pipeline import MoCoDAConfig

__all__ = ["RECIPES", "Recipe", "recipe_for"]


@dataclass(frozen=True)
class Recipe:
    """The functions of one env's MoCoDA run (see the module's docstring)."""

    name: str
    target_env: str | None = None
    target_kwargs: Mapping[str, Any] = field(default_factory=dict)
    prepare: Callable[[TransitionDataset], TransitionDataset] | None = None
    uniform_features: Callable[[NDArray], NDArray] | None = None
    prefilter: Callable[[NDArray], NDArray] | None = None
    uniform_floor: float | None = None
    normalise_inputs: bool | None = None

    def configured(self, config: MoCoDAConfig) -> MoCoDAConfig:
        """``config`` with the settings this recipe fixes (``uniform_floor``,
        ``normalise_inputs``) where it fixes them."""
        if self.uniform_floor is not None:
            config = replace(config, uniform_floor=self.uniform_floor)
        if self.normalise_inputs is not None:
            dynamics = replace(config.dynamics, normalise_inputs=self.normalise_inputs)
            config = replace(config, dynamics=dynamics)
        return config

    def target(self, source_env: str) -> str | gym.Env:
        """The env the augmented data is for, given the env the source data comes from: its
        id, or the env made with ``target_kwargs`` when the recipe sets any."""
        env_id = self.target_env or source_env
        return gym.make(env_id, **self.target_kwargs) if self.target_kwargs else env_id

    def prepared(self, data: TransitionDataset) -> TransitionDataset:
        """The source rows as MoCoDA fits them."""
        return self.prepare(data) if self.prepare is not None else data


def _box_xy(rows: NDArray) -> NDArray:
    return rows[:, BOX_XY]


HOOKSWEEP2 = Recipe(
    name="hooksweep2-v1-boxes",
    target_env="HookSweep2-v1",
    target_kwargs={"terminate_on_success": True},
    prepare=states_only,
    uniform_features=_box_xy,
    prefilter=boxes_near,
    uniform_floor=0.05,
    normalise_inputs=True,
)
DEFAULT = Recipe(name="default")

#: source env id -> its recipe (envs not listed use `DEFAULT`)
RECIPES: dict[str, Recipe] = {"HookSweep2Source-v1": HOOKSWEEP2, "HookSweep2-v1": HOOKSWEEP2}


def recipe_for(env_id: str) -> Recipe:
    """The recipe of data collected in ``env_id``."""
    return RECIPES.get(env_id, DEFAULT)
