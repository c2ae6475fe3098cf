import numpy as np
import pytest

from causal_envs.core import as_batch, as_transitions, check_action_array, check_int_or_ints


def test_as_batch_promotes_single_vectors():
    arr, single = as_batch([0.1, 0.2], 2, "states")
    assert single and arr.shape == (1, 2) and arr.dtype == np.float64
    arr, single = as_batch(np.zeros((5, 2), np.float32), 2, "states")
    assert not single and arr.shape == (5, 2)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (np.zeros((3, 3)), ValueError, r"states must be a real array of shape \(batch, 2\)"),
        (np.array([[0.0, np.nan]]), ValueError, r"NaN or inf in rows \[0\]"),
        (np.array(["a", "b"]), TypeError, "dtype <U1"),
        (np.array([True, False]), TypeError, "dtype bool"),
    ],
)
def test_as_batch_errors_name_the_argument(value, error, message):
    with pytest.raises(error, match=message):
        as_batch(value, 2, "states")


def test_check_action_array():
    a = np.array([0.5, -2.0], np.float32)
    assert check_action_array(a, (2,)) is a  # out of range is the env's business
    with pytest.raises(TypeError, match=r"float array of shape \(2,\), got dtype int64"):
        check_action_array(np.array([1, 0]), (2,))
    with pytest.raises(ValueError, match=r"got shape \(3,\)"):
        check_action_array(np.zeros(3), (2,))
    with pytest.raises(ValueError, match="finite"):
        check_action_array(np.array([np.inf, 0.0]), (2,))


def test_transition_batches_are_checked_as_one():
    import gymnasium as gym

    import causal_envs  # noqa: F401

    s, a = np.zeros((4, 2)), np.zeros((4, 2))
    s2, a2, n2 = as_transitions(s, a, s, 2, 2)
    assert s2.shape == a2.shape == n2.shape == (4, 2)
    _, idx, _ = as_transitions(np.zeros((3, 4)), np.array([0, 1, 0]), np.zeros((3, 4)), 4, 1)
    assert idx.shape == (3, 1)
    with pytest.raises(ValueError, match="differ in batch size: 4, 3, 4"):
        as_transitions(s, a[:3], s, 2, 2)
    with pytest.raises(ValueError, match="actions must be"):
        as_transitions(s, np.zeros((4, 3)), s, 2, 2)
    nav = gym.make("CausalNav2D-v0").unwrapped
    with pytest.raises(ValueError, match="differ in batch size"):
        nav.reward_fn(s, a, s[:2])
    with pytest.raises(ValueError, match="differ in batch size"):
        nav.termination_fn(s[:1], a, s)
    cart = gym.make("CausalCartPole-v0").unwrapped
    with pytest.raises(ValueError, match="differ in batch size"):
        cart.reward_fn(np.zeros((5, 4)), np.zeros(4, dtype=int), np.zeros((5, 4)))
    hook = gym.make("HookSweep2-v1").unwrapped
    with pytest.raises(ValueError, match="differ in batch size"):
        hook.local_mask(np.zeros((3, 16)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="goals and next_states differ"):
        hook.reward_fn(np.zeros((3, 16)), np.zeros((3, 4)), np.zeros((3, 16)), np.zeros((2, 6)))


def test_check_fields_normalises_and_names_the_bad_field():
    import dataclasses

    from causal_envs.core import Int, Range, Real, Sizes, check_fields

    @dataclasses.dataclass(frozen=True)
    class Config:
        steps: int = 3
        rate: float = 0.5
        width: tuple = (8, 8)
        patience: int | None = None
        clip: tuple | None = None

        def __post_init__(self):
            rules = {
                "steps": Int(1),
                "rate": Real(0.0, 1.0, low_open=True),
                "width": Sizes(),
                "patience": Int(1, optional=True),
                "clip": Range(optional=True),
            }
            check_fields(self, rules)

    c = Config(steps=np.int64(4), rate=np.float32(0.25), width=[16])
    assert (c.steps, c.rate, c.width, c.patience, c.clip) == (4, 0.25, (16,), None, None)
    assert Config(clip=[np.int64(-1), 0]).clip == (-1.0, 0.0)
    assert type(c.steps) is int and type(c.rate) is float  # plain data, saves as JSON
    for bad, message in (
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"steps": True}, "steps must be an integer"),
        ({"rate": 0.0}, r"rate must be a finite number in \(0.0, 1.0\]"),
        ({"rate": float("nan")}, "rate"),
        ({"width": []}, "width must name at least one layer size"),
        ({"patience": 0}, "patience must be an integer >= 1"),
        ({"clip": (0.0, 0.0)}, r"clip must be \(low, high\) with low < high"),
        ({"clip": "ab"}, r"clip must be a pair \(low, high\)"),
    ):
        with pytest.raises(ValueError, match=message):
            Config(**bad)


def test_check_int_or_ints_takes_one_for_all_or_one_per_item_and_names_the_bad_one():
    assert check_int_or_ints("steps", np.int64(3)) == 3
    assert check_int_or_ints("steps", [1, np.int32(2), 0]) == (1, 2, 0)
    with pytest.raises(ValueError, match=r"steps\[1\] must be an integer >= 0, got 2.5"):
        check_int_or_ints("steps", (1, 2.5))
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got True"):
        check_int_or_ints("steps", True, 1)
