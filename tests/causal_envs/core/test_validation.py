import numpy as np
import pytest

from causal_envs.core import as_batch, check_action_array


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
