"""precision="auto" takes bf16 only where the device multiplies bfloat16 in hardware; an
explicit bf16 on a device that emulates it warns once."""

from __future__ import annotations

import warnings

import pytest
import torch

from causal_envs.core import device as device_module
from causal_envs.core.device import native_bf16, resolve_precision

CPU = torch.device("cpu")


def test_auto_follows_the_hardware_and_the_explicit_choices_are_kept():
    expected = "bf16" if native_bf16(CPU) else "fp32"
    assert resolve_precision("auto", CPU) == expected
    assert resolve_precision("fp32", CPU) == "fp32"
    assert resolve_precision("auto", torch.device("meta")) == "fp32"  # no native bf16 there
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", CPU)


def test_emulated_bf16_warns_once_per_device_type(monkeypatch):
    monkeypatch.setattr(device_module, "_WARNED", set())
    meta = torch.device("meta")
    with pytest.warns(RuntimeWarning, match="emulates"):
        assert resolve_precision("bf16", meta) == "bf16"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("bf16", meta) == "bf16"  # the second time: silent


def test_the_training_log_records_the_arithmetic_that_ran():
    import gymnasium as gym

    import causal_envs  # noqa: F401  (registers the envs)
    from augment.dynamics import DynamicsConfig, EnsembleTrainer, FactoredEnsemble, TrainingConfig
    from causal_envs.datasets.nav2d import generate_nav2d_empirical
    from causal_envs.envs.nav2d import NAV2D_STRUCTURE

    data = generate_nav2d_empirical(seed=0, n_per_behaviour=500)
    cfg = DynamicsConfig(
        hidden=(16,), embed_dim=8, training=TrainingConfig(epochs=1, precision="auto")
    )
    mask = gym.make("CausalNav2D-v0").unwrapped.local_mask
    model = FactoredEnsemble(NAV2D_STRUCTURE, cfg, mask, "CausalNav2D-v0", CPU)
    log = EnsembleTrainer(model).fit(data.observations, data.actions, data.next_observations)
    assert log.precision == resolve_precision("auto", CPU)
