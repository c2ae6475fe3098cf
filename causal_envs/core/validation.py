"""Input checks shared by every environment: clear errors instead of silent garbage."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Int",
    "Range",
    "Real",
    "Sizes",
    "as_batch",
    "as_transitions",
    "check_action_array",
    "check_discrete_action",
    "check_fields",
    "check_int",
    "check_int_or_ints",
    "check_range",
    "check_real",
    "check_sizes",
]


def _float_array(x: ArrayLike, name: str, expected: str) -> NDArray[np.floating]:
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be {expected}; could not convert it: {err}") from None
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise TypeError(f"{name} must be {expected}, got dtype {arr.dtype}")
    return arr


def as_batch(x: ArrayLike, dim: int, name: str) -> tuple[NDArray[np.float64], bool]:
    """Return ``x`` as a float64 ``(batch, dim)`` array and whether it was a single vector.

    Accepts ``(dim,)`` (returned as a batch of one, flagged) or ``(batch, dim)`` arrays of any
    real numeric dtype. Raises ``ValueError`` naming ``name`` for a wrong shape or a non-finite
    value, ``TypeError`` for a non-numeric dtype.
    """
    expected = f"a real array of shape (batch, {dim}) or ({dim},)"
    arr = _float_array(x, name, expected)
    single = arr.ndim == 1
    if single:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"{name} must be {expected}, got shape {np.shape(x)}")
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise ValueError(f"{name} contains NaN or inf in rows {bad[:10].tolist()}")
    return arr.astype(np.float64, copy=False), single


def as_transitions(
    states: ArrayLike,
    actions: ArrayLike,
    next_states: ArrayLike,
    state_dim: int,
    action_dim: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """A batch of transitions ``(s, a, s')`` checked as one: each part a real ``(batch, dim)``
    array (or one row) and all three of one batch size, for the contract's ``reward_fn`` and
    ``termination_fn`` (which may read only ``s'`` but must not accept a mismatched batch).
    Discrete actions are given as indices: ``action_dim=1``, shape ``(batch,)`` accepted."""
    s, _ = as_batch(states, state_dim, "states")
    a_in = np.asarray(actions) if action_dim != 1 else np.reshape(np.asarray(actions), (-1, 1))
    a, _ = as_batch(a_in, action_dim, "actions")
    s2, _ = as_batch(next_states, state_dim, "next_states")
    if not len(s) == len(a) == len(s2):
        raise ValueError(
            f"states, actions and next_states differ in batch size: {len(s)}, {len(a)}, {len(s2)}"
        )
    return s, a, s2


def check_action_array(action: ArrayLike, shape: tuple[int, ...]) -> NDArray[np.floating]:
    """Validate one environment action (or a vector env's batch) of floating dtype.

    Integer, boolean or object arrays, a wrong shape, NaN or inf raise an error that states the
    expected form. Finite out-of-range values are the environment's business (clipped there).
    """
    expected = f"a float array of shape {shape}"
    arr = np.asarray(action) if not isinstance(action, np.ndarray) else action
    if arr.dtype.kind != "f":
        raise TypeError(f"action must be {expected}, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"action must be {expected}, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"action must be finite, got {arr!r}")
    return arr


def check_discrete_action(action: object, n: int) -> int:
    """One discrete action as a Python ``int`` in ``[0, n)``.

    Accepts what ``spaces.Discrete(n).sample()`` and RL libraries hand an env: a Python int,
    a NumPy integer scalar or a 0-d integer array. Floats (even ``2.0``), strings, booleans and
    arrays of other shapes raise ``ValueError``: each would be a silent guess at what was meant.
    """
    if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
        action = action.item()
    elif isinstance(action, np.integer):
        action = int(action)
    if type(action) is not int or not 0 <= action < n:
        raise ValueError(f"action must be an integer in [0, {n}), got {action!r}")
    return action


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a Python ``bool``; NumPy booleans are accepted, anything else (``"no"``,
    ``0``, None) raises ``ValueError`` naming ``name``: a flag's string is always truthy."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def check_int(name: str, value: Any, minimum: int = 0) -> int:
    """``value`` as a Python ``int`` of at least ``minimum``; NumPy integers are accepted,
    booleans and floats (even ``2.0``) raise ``ValueError`` naming ``name``."""
    if isinstance(value, np.integer) and not isinstance(value, np.bool_):
        value = int(value)
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_int_or_ints(name: str, value: Any, minimum: int = 0) -> int | tuple[int, ...]:
    """One integer for all, or a list or tuple of one per item (a budget per task), each
    checked as `check_int` does; a list comes back as a tuple."""
    if isinstance(value, list | tuple):
        return tuple(check_int(f"{name}[{i}]", v, minimum) for i, v in enumerate(value))
    return check_int(name, value, minimum)


def check_real(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite Python ``float`` in the interval ``low..high`` (each end closed
    unless ``*_open``; None: unbounded). NumPy scalars are accepted; booleans, strings and NaN
    raise ``ValueError`` naming ``name`` and the interval."""
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )
    v = float(value) if ok else math.nan
    if (
        not math.isfinite(v)
        or (low is not None and (v < low or (low_open and v == low)))
        or (high is not None and (v > high or (high_open and v == high)))
    ):
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return v


def check_sizes(name: str, value: Any) -> tuple[int, ...]:
    """Hidden-layer sizes: a non-empty sequence of integers >= 1, as a tuple."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a sequence of layer sizes >= 1, got {value!r}")
    sizes = tuple(value)
    if not sizes:
        raise ValueError(f"{name} must name at least one layer size, got {value!r}")
    return tuple(check_int(f"{name}[{i}]", v, 1) for i, v in enumerate(sizes))


@dataclass(frozen=True)
class Int:
    """A rule of `check_fields`: an integer of at least ``minimum`` (None allowed if
    ``optional``)."""

    minimum: int = 0
    optional: bool = False


@dataclass(frozen=True)
class Real:
    """A rule of `check_fields`: a finite real in ``low..high`` (each end closed unless
    ``*_open``; None: unbounded; the value None allowed if ``optional``)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Sizes:
    """A rule of `check_fields`: hidden-layer sizes (`check_sizes`)."""


@dataclass(frozen=True)
class Range:
    """A rule of `check_fields`: a ``(low, high)`` pair with ``low < high`` (`check_range`;
    the value None allowed if ``optional``)."""

    optional: bool = False


def check_range(name: str, value: Any) -> tuple[float, float]:
    """``value`` as a ``(low, high)`` pair of finite floats with ``low < high``."""
    if isinstance(value, str) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}")
    lo, hi = (check_real(name, v) for v in value)
    if not lo < hi:
        raise ValueError(f"{name} must be (low, high) with low < high, got {value!r}")
    return lo, hi


def check_fields(config: Any, rules: Mapping[str, Int | Range | Real | Sizes]) -> None:
    """Check and normalise the fields of a config dataclass in place, one rule per field:
    every value becomes a plain Python number (NumPy scalars are accepted), so a config saves
    as plain data; a bad value raises ``ValueError`` naming the field. Works on frozen
    dataclasses too.

    Examples:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Budget:
        ...     steps: int = 10
        ...     lr: float = 1e-3
        ...     def __post_init__(self):
        ...         check_fields(self, {"steps": Int(1), "lr": Real(0.0, low_open=True)})
        >>> Budget(steps=np.int64(5)).steps
        5
        >>> Budget(lr=0.0)
        Traceback (most recent call last):
        ...
        ValueError: lr must be a finite number in (0.0, inf], got 0.0
    """
    for name, rule in rules.items():
        value = getattr(config, name)
        if getattr(rule, "optional", False) and value is None:
            continue
        if isinstance(rule, Int):
            value = check_int(name, value, rule.minimum)
        elif isinstance(rule, Real):
            value = check_real(
                name, value, rule.low, rule.high, low_open=rule.low_open, high_open=rule.high_open
            )
        elif isinstance(rule, Range):
            value = check_range(name, value)
        else:
            value = check_sizes(name, value)
        object.__setattr__(config, name, value)
