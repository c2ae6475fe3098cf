import gymnasium as gym
import numpy as np
import pytest
import torch

import augment.cli
from augment.dynamics.config import DynamicsConfig, TrainingConfig
from benchmarks.cli import main
from causal_envs.datasets import DatasetError, load_augmented


def test_augment_makes_datasets_the_env_can_load(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(
        augment.cli.PROFILES, "quick", DynamicsConfig(training=TrainingConfig(epochs=1))
    )
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


def test_augment_reuses_the_cache_and_the_benchmark_shares_it(monkeypatch, tmp_path, capsys):
    """One cache: a second `augment` trains nothing, and the benchmark's datasets of the same
    settings are the ones `augment` made (same key, same bytes)."""
    from augment.cache import augmented_datasets, config_record
    from augment.pipeline import MoCoDAConfig
    from causal_envs.datasets import list_augmented

    root = tmp_path / "cache"
    monkeypatch.setenv("CAUSAL_ENVS_DATA_DIR", str(root))
    fast = DynamicsConfig(training=TrainingConfig(epochs=1))
    monkeypatch.setitem(augment.cli.PROFILES, "quick", fast)
    argv = ["augment", "nav2d/empirical", "--methods", "mocoda"]
    assert main(argv) == 0
    assert "fitted the parent model" in capsys.readouterr().out
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "found in the cache" in again and "fitted" not in again
    [entry] = list_augmented(root)
    assert entry["config"] == config_record(MoCoDAConfig(dynamics=fast))
    assert entry["source"] == "nav2d/empirical" and len(entry["source_digest"]) == 64
    # what a benchmark asks for with the same settings is loaded, not made
    got = augmented_datasets("nav2d/empirical", ["mocoda"], MoCoDAConfig(dynamics=fast), log=None)
    assert got["mocoda"].metadata["cached"] is True
    # other settings: another key beside it
    other = MoCoDAConfig(dynamics=fast, total_size=60_000)
    assert (
        augmented_datasets("nav2d/empirical", ["mocoda"], other, log=None)["mocoda"].metadata[
            "cached"
        ]
        is False
    )
    assert len(list_augmented(root)) == 2
    # two settings cached: the default load picks the quick one
    assert len(load_augmented("nav2d/empirical", "mocoda", root=root)) == 200_000
    assert main(["dataset", "list"]) == 0
    listing = capsys.readouterr().out
    assert "augmented sets (2" in listing and "profile quick" in listing


def test_minari_cli_works_on_a_cache_with_augmented_sets(monkeypatch, tmp_path):
    """Minari's own CLI and loader on a cache holding empirical and augmented sets."""
    import subprocess
    import sys

    import minari

    from augment.cache import augmented_datasets
    from augment.pipeline import MoCoDAConfig
    from causal_envs.datasets import generate_dataset

    root = tmp_path / "cache"
    monkeypatch.setenv("CAUSAL_ENVS_DATA_DIR", str(root))
    generate_dataset("cartpole/task1", root=root)
    toy = MoCoDAConfig(
        total_size=50_000, dynamics=DynamicsConfig(training=TrainingConfig(epochs=1))
    )
    augmented_datasets("nav2d/empirical", ["mocoda-u", "emp"], toy, root=root, log=None)
    env = {**__import__("os").environ, "MINARI_DATASETS_PATH": str(root), "COLUMNS": "200"}
    cli = [sys.executable, "-c", "from minari.cli import app; app()"]
    listed = subprocess.run([*cli, "list", "local"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "Number of datasets: 2" in listed.stdout
    assert "nav2d/empirical-v0" in listed.stdout and "cartpole/task1-v0" in listed.stdout
    assert "aug" not in listed.stdout and "mocoda" not in listed.stdout
    shown = subprocess.run(
        [*cli, "show", "causal-envs/nav2d/empirical-v0"], env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    for dataset_id in minari.list_local_datasets():
        assert minari.load_dataset(dataset_id).total_steps > 0
