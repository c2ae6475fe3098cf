import gymnasium as gym
import numpy as np
import pytest
import torch

import augment.cli
from augment.dynamics.config import DynamicsConfig
from benchmarks.cli import main
from causal_envs.datasets import DatasetError, load_augmented


def test_augment_makes_datasets_the_env_can_load(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(augment.cli.PROFILES, "quick", DynamicsConfig(epochs=1))
    png = tmp_path / "aug.png"
    argv = [
        "augment",
        "nav2d/empirical",
        "--methods",
        "mocoda-u,emp",
        "--profile",
        "quick",
        "--plot",
        str(png),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mocoda-u  200,000 transitions (160,000 generated" in out
    assert png.read_bytes()[:4] == b"\x89PNG"
    d = gym.make("CausalNav2D-v0").unwrapped.get_augmented_dataset("mocoda-u")
    assert d["observations"].shape == (200_000, 2)
    meta = load_augmented("nav2d/empirical", "mocoda-u").metadata
    assert meta["profile"] == "quick" and meta["source_id"] == "causal-envs/nav2d/empirical-v0"
    emp = load_augmented("nav2d/empirical", "emp")
    assert np.array_equal(emp.observations[:40_000], emp.observations[40_000:80_000])


def test_missing_augmented_dataset_says_how_to_make_it():
    with pytest.raises(DatasetError, match="causal-envs augment nav2d/empirical --methods rand"):
        gym.make("CausalNav2D-v0").unwrapped.get_augmented_dataset("rand", seed=7)


@pytest.mark.parametrize(
    "argv",
    [
        ["augment", "nav2d/empirical", "--methods", "mocoda-x"],
        ["augment", "nav2d/empirical", "--methods", ""],
        ["augment", "nav2d/empirical", "--profile", "huge"],
        ["augment", "nav9d/empirical"],
        ["augment", "nav2d/empirical", "--device", "gpu"],
        ["bench", "mocoda-nav2d", "--device", "cuda:x"],
    ],
)
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_device_the_machine_lacks_is_an_error_before_any_work(capsys):
    assert main(["augment", "nav2d/empirical", "--device", "cuda"]) == 1
    assert "asks for CUDA, but torch finds none" in capsys.readouterr().err
    assert main(["bench", "mocoda-nav2d", "--profile", "smoke", "--device", "cuda:1"]) == 1
    assert "asks for CUDA" in capsys.readouterr().err
