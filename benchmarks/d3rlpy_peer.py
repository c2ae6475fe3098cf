"""d3rlpy's TD3+BC as the named peer of our TD3-BC (optional: the ``crosscheck`` extra).

The data goes to d3rlpy through `causal_envs.datasets.to_d3rlpy`, which keeps every
``(s, a, r, s', done)`` row exactly (augmented datasets are sets of independent transitions,
which d3rlpy's episode-based ``MDPDataset`` would cut); d3rlpy then samples our rows uniformly.

Settings matched to ours: the same network sizes (2x512 by default), batch 500, learning
rates 1e-3, gamma 0.98, tau 0.005, target noise 0.2 clipped at 0.5, actor every 2nd update.
d3rlpy keeps its own ``alpha = 2.5`` Q normalisation in the actor loss and does not clip Q
targets.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from causal_envs.core.device import AUTO, resolve_device
from causal_envs.datasets import to_d3rlpy

__all__ = ["train_d3rlpy_td3bc"]


def train_d3rlpy_td3bc(
    data: Any,
    n_updates: int,
    seed: int,
    hidden: tuple[int, ...] = (512, 512),
    device: str = AUTO,
) -> dict | None:
    """Train d3rlpy's TD3+BC on ``data`` (a ``TransitionDataset``) on ``device`` (see
    `causal_envs.core.device`); None without d3rlpy.

    Returns ``act`` (batch policy), ``updates_per_s`` (fit time only), ``version`` and the
    ``device`` d3rlpy trained on.
    """
    try:
        import d3rlpy  # deferred: d3rlpy is the optional `crosscheck` extra
    except ImportError:
        return None
    from d3rlpy.logging import NoopAdapterFactory  # deferred: optional extra
    from d3rlpy.models.encoders import VectorEncoderFactory  # deferred: optional extra

    d3rlpy.seed(seed)
    buffer = to_d3rlpy(data)
    enc = VectorEncoderFactory(hidden_units=list(hidden))
    algo = d3rlpy.algos.TD3PlusBCConfig(
        actor_learning_rate=1e-3,
        critic_learning_rate=1e-3,
        batch_size=500,
        gamma=0.98,
        tau=0.005,
        target_smoothing_sigma=0.2,
        target_smoothing_clip=0.5,
        update_actor_interval=2,
        actor_encoder_factory=enc,
        critic_encoder_factory=enc,
    ).create(device=str(resolve_device(device)))
    start = time.perf_counter()
    algo.fit(
        buffer,
        n_steps=n_updates,
        n_steps_per_epoch=n_updates,
        logger_adapter=NoopAdapterFactory(),
        show_progress=False,
        save_interval=n_updates + 1,
    )
    rate = n_updates / (time.perf_counter() - start)
    return {
        "act": lambda o: algo.predict(np.asarray(o, dtype=np.float32)),
        "updates_per_s": rate,
        "version": d3rlpy.__version__,
        "device": algo.impl.device,
    }
