"""model_rollout: the one rollout loop of MoCoDA's DYN data and CSR's imagination."""

import numpy as np
import pytest
import torch

from causal_envs.core.rollout import model_rollout


def test_numpy_rollout_collects_states_actions_and_extras_time_major():
    out = model_rollout(
        start=np.zeros((2, 1)),
        horizon=3,
        policy=lambda s, t: np.full((len(s), 1), t + 1.0),
        step=lambda s, a, t: (s + a, {"reward": -(s + a)[:, 0]}),
    )
    assert [x[0, 0] for x in out.states] == [0.0, 1.0, 3.0, 6.0]
    assert [a[0, 0] for a in out.actions] == [1.0, 2.0, 3.0]
    assert [r.tolist() for r in out.extras["reward"]] == [[-1, -1], [-3, -3], [-6, -6]]


def test_torch_rollout_without_extras_and_seeded_sampling_is_reproducible():
    def run(seed):
        gen = torch.Generator().manual_seed(seed)
        return model_rollout(
            start=torch.zeros(4, 2),
            horizon=5,
            policy=lambda s, t: torch.randn(s.shape, generator=gen),
            step=lambda s, a, t: s + 0.1 * a,
        )

    a, b = run(0), run(0)
    assert len(a.states) == 6 and a.extras == {}
    assert all(torch.equal(x, y) for x, y in zip(a.states, b.states, strict=True))


@pytest.mark.parametrize("horizon", [0, -1, 2.5])
def test_bad_horizon_is_refused(horizon):
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        model_rollout(np.zeros(1), horizon, lambda s, t: s, lambda s, a, t: s)
