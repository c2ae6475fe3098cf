"""gymnasium.wrappers.RecordVideo out of the box: one episode of each env family to mp4."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import RecordVideo

import causal_envs  # noqa: F401  # registers the envs

#: (env id, gym.make keyword arguments); Atari through ALE as CSR's Atari sequence makes it
FAMILIES = [
    ("CausalNav2D-v0", {}),
    ("CausalCartPole-v0", {}),
    ("SyntheticPOMDP-v0", {"max_episode_steps": 20}),
    ("CoinRun-v0", {"max_episode_steps": 20}),
    ("HookSweep2-v1", {"max_episode_steps": 10, "width": 160, "height": 120}),
    ("ALE/Pong-v5", {"max_episode_steps": 20, "frameskip": 4}),
]


@pytest.mark.parametrize("env_id, kwargs", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_record_video_writes_an_episode(env_id, kwargs, tmp_path):
    import imageio_ffmpeg

    if env_id.startswith("ALE/"):
        import ale_py

        gym.register_envs(ale_py)
    env = RecordVideo(
        gym.make(env_id, render_mode="rgb_array", **kwargs),
        str(tmp_path),
        episode_trigger=lambda episode: episode == 0,
        disable_logger=True,
    )
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, done = 0, False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps, done = steps + 1, terminated or truncated
    assert len(env.recorded_frames) == steps + 1  # the reset frame and one per step
    with warnings.catch_warnings():  # imageio-ffmpeg 0.3 (gym3's pin) imports pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        env.close()
    videos = sorted(tmp_path.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0
    reader = imageio_ffmpeg.read_frames(str(videos[0]))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    assert steps <= frames <= steps + 1  # ffmpeg 4.1 may not decode the very last frame
    assert meta["fps"] == pytest.approx(env.metadata["render_fps"], rel=0.01)
    assert np.prod(meta["size"]) > 0
