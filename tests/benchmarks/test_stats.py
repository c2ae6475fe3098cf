import numpy as np
import pytest

from benchmarks.stats import mean_interval


def test_interval_holds_the_mean_narrows_with_seeds_and_is_seeded():
    rng = np.random.default_rng(0)
    few, many = rng.normal(30, 5, 3), rng.normal(30, 5, 50)
    lo3, hi3 = mean_interval(few)
    lo50, hi50 = mean_interval(many)
    assert lo3 <= few.mean() <= hi3 and lo50 <= many.mean() <= hi50
    assert hi50 - lo50 < hi3 - lo3
    assert abs((hi50 - lo50) / 2 - 1.96 * many.std() / np.sqrt(50)) < 0.5  # the normal interval
    assert mean_interval(many) == mean_interval(many)  # seeded: same file, same interval
    assert mean_interval([7.0, 7.0, 7.0]) == (7.0, 7.0)


def test_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        mean_interval([])
    with pytest.raises(ValueError, match="confidence"):
        mean_interval([1.0, 2.0], confidence=1.5)
