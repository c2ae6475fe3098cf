"""Shared fixtures: never touch the user's dataset cache or working directory from tests."""

from __future__ import annotations

import os

import pytest
import torch

# Headless MuJoCo rendering whichever test imports mujoco first (a library that imports it
# before the HookSweep2 env module would otherwise leave it on GLFW, which needs a display).
os.environ.setdefault("MUJOCO_GL", "egl")

# The tests train tiny networks: one intra-op thread is as fast, and it keeps OpenMP threads from
# spinning against another process on a busy 2-core machine (measured: 100x slower updates).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory):
    """A dataset cache shared by the whole session (the 40k dataset is written once)."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(autouse=True)
def _isolated_dirs(monkeypatch: pytest.MonkeyPatch, session_data_dir, tmp_path):
    monkeypatch.setenv("CAUSAL_ENVS_DATA_DIR", str(session_data_dir))
    monkeypatch.setenv("CAUSAL_ENVS_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.delenv("MINARI_DATASETS_PATH", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
