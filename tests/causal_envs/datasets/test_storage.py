import json
import os

import gymnasium as gym
import minari
import numpy as np
import pytest

from causal_envs.core.fs import file_mode
from causal_envs.datasets import (
    FORMAT_VERSION,
    DatasetError,
    TransitionDataset,
    data_root,
    generate_dataset,
    load_dataset,
    load_stored,
    save_flat,
    save_minari,
    transitions_from_minari,
)
from causal_envs.datasets import storage as storage_module
from causal_envs.datasets.nav2d import generate_nav2d_empirical
from causal_envs.datasets.storage import verify_minari_files

ID = "causal-envs/test/small-v0"


@pytest.fixture
def small():
    return generate_nav2d_empirical(seed=5, n_per_behaviour=300)


def save(data, root, **kw):
    return save_minari(data, ID, root, env="CausalNav2D-v0", description="test", **kw)


def test_roundtrip_through_minari(small, tmp_path):
    path = save(small, tmp_path)
    assert path == tmp_path / ID
    loaded = load_stored(ID, tmp_path, regenerate_hint="HINT")
    assert loaded.equals(small)
    assert loaded.metadata == small.metadata
    # Minari itself reads it and recovers the env
    os.environ["MINARI_DATASETS_PATH"] = str(tmp_path)
    try:
        ds = minari.load_dataset(ID)
        assert ds.total_steps == len(small) and ds.total_episodes == small.n_episodes
        assert ds.recover_environment().spec.id == "CausalNav2D-v0"
        assert transitions_from_minari(ds).equals(small)
        assert ds.storage.metadata["causal_envs"]["format_version"] == FORMAT_VERSION
    finally:
        del os.environ["MINARI_DATASETS_PATH"]
    # no staging leftovers: only the per-dataset lock files, hidden from Minari
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".locks"]
    assert all(p.suffix == ".lock" for p in (tmp_path / ".locks").iterdir())
    # Minari's HDF5 file is recorded (size and digest) and checked
    assert storage_module.verify_minari_files(ID, tmp_path, regenerate_hint="H") == {
        "main_data.hdf5": "ok"
    }
    mode = file_mode()  # what the umask gives new files (0o644 under 022)
    assert all(p.stat().st_mode & 0o777 == mode for p in path.rglob("*") if p.is_file())


def test_existing_dataset_needs_overwrite(small, tmp_path):
    save(small, tmp_path)
    with pytest.raises(FileExistsError):
        save(small, tmp_path)
    other = generate_nav2d_empirical(seed=6, n_per_behaviour=200)
    save(other, tmp_path, overwrite=True)
    assert load_stored(ID, tmp_path, regenerate_hint="H").equals(other)


@pytest.mark.parametrize("failure", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_interrupted_write_leaves_nothing(small, tmp_path, monkeypatch, failure):
    def boom(*args, **kwargs):
        raise failure

    monkeypatch.setattr(storage_module.np, "savez", boom)
    with pytest.raises(type(failure)):
        save(small, tmp_path)
    assert not (tmp_path / ID).exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != ".locks"] == []  # locks hold no data


def test_interrupted_overwrite_keeps_the_old_dataset(small, tmp_path, monkeypatch):
    save(small, tmp_path)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(storage_module.np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        save(generate_nav2d_empirical(seed=9, n_per_behaviour=100), tmp_path, overwrite=True)
    assert load_stored(ID, tmp_path, regenerate_hint="H").equals(small)


def test_corrupt_files_give_a_clear_error(small, tmp_path):
    path = save(small, tmp_path)
    flat = path / "data" / "transitions.npz"
    flat.write_bytes(flat.read_bytes()[:100])
    with pytest.raises(DatasetError, match=r"corrupt or unreadable.*regenerate it with: HINT"):
        load_stored(ID, tmp_path, regenerate_hint="HINT")


def test_modified_data_fails_the_digest(small, tmp_path):
    path = save(small, tmp_path)
    arrays = dict(np.load(path / "data" / "transitions.npz"))
    arrays["rewards"] = arrays["rewards"] * 0
    np.savez(path / "data" / "transitions.npz", **arrays)
    with pytest.raises(DatasetError, match="does not match the digest"):
        load_stored(ID, tmp_path, regenerate_hint="H")


def test_incompatible_version_gives_a_clear_error(small, tmp_path):
    path = save(small, tmp_path)
    meta_file = path / "data" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta["causal_envs"]["format_version"] = 999
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match=rf"format 999.*reads format {FORMAT_VERSION}.*HINT"):
        load_stored(ID, tmp_path, regenerate_hint="HINT")


@pytest.mark.parametrize("layout", [None, "parquet", "minari"])
def test_the_layout_is_read_from_the_metadata_not_guessed(small, tmp_path, layout):
    path = save(small, tmp_path)
    meta_file = path / "data" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    assert meta["causal_envs"]["layout"] == "minari"
    # a Minari layout without its files' digests is as unreadable as an unknown layout
    meta["causal_envs"]["layout"] = layout
    meta["causal_envs"].pop("minari_files")
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match=r"declares layout .*HINT"):
        load_stored(ID, tmp_path, regenerate_hint="HINT")


def test_a_flat_dataset_declares_its_layout(small, tmp_path):
    save_flat(small, ID, tmp_path)
    meta = json.loads((tmp_path / ID / "data" / "metadata.json").read_text())
    assert meta["causal_envs"]["layout"] == "flat" and "minari_files" not in meta["causal_envs"]
    assert verify_minari_files(ID, tmp_path, regenerate_hint="HINT") == {}
    assert "layout" not in load_stored(ID, tmp_path, regenerate_hint="HINT").metadata


def test_missing_dataset(tmp_path):
    with pytest.raises(DatasetError, match=r"no dataset .* create it with: HINT"):
        load_stored(ID, tmp_path, regenerate_hint="HINT")


def test_transition_dataset_validates():
    n = 3
    ok = dict(
        observations=np.zeros((n, 2), np.float32),
        actions=np.zeros((n, 2), np.float32),
        rewards=np.zeros(n, np.float32),
        next_observations=np.zeros((n, 2), np.float32),
        terminals=np.zeros(n, bool),
        episode_ends=np.array([False, False, True]),
    )
    TransitionDataset(**ok)
    with pytest.raises(ValueError, match="rewards must be float32"):
        TransitionDataset(**{**ok, "rewards": np.zeros(n)})
    with pytest.raises(ValueError, match="NaN"):
        TransitionDataset(**{**ok, "actions": np.full((n, 2), np.nan, np.float32)})
    with pytest.raises(ValueError, match="length 3"):
        TransitionDataset(**{**ok, "terminals": np.zeros(2, bool)})
    with pytest.raises(ValueError, match="last transition must end an episode"):
        TransitionDataset(**{**ok, "episode_ends": np.zeros(n, bool)})


# ----------------------------------------------------------------------------- the cache
def test_cache_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CAUSAL_ENVS_DATA_DIR", str(tmp_path / "a"))
    assert data_root() == tmp_path / "a"
    monkeypatch.delenv("CAUSAL_ENVS_DATA_DIR")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "m"))
    assert data_root() == tmp_path / "m"
    monkeypatch.delenv("MINARI_DATASETS_PATH")
    assert data_root().parts[-2:] == (".minari", "datasets")


def test_load_generates_once_and_is_cached(session_data_dir):
    data = load_dataset("nav2d/empirical")
    path = session_data_dir / "causal-envs/nav2d/empirical-v0"
    assert path.is_dir() and len(data) == 40_000
    mtime = (path / "data" / "transitions.npz").stat().st_mtime_ns
    again = load_dataset("nav2d/empirical")
    assert again.equals(data)
    assert (path / "data" / "transitions.npz").stat().st_mtime_ns == mtime
    assert generate_dataset("nav2d/empirical") == path  # cached: no rewrite
    assert (path / "data" / "transitions.npz").stat().st_mtime_ns == mtime


def test_seeds_get_their_own_ids(tmp_path):
    a = load_dataset("nav2d/empirical", seed=2, root=tmp_path)
    assert (tmp_path / "causal-envs/nav2d/empirical-seed2-v0").is_dir()
    assert a.metadata["seed"] == 2


def test_a_swapped_cache_entry_is_caught(tmp_path):
    load_dataset("nav2d/empirical", seed=2, root=tmp_path)
    os.rename(
        tmp_path / "causal-envs/nav2d/empirical-seed2-v0",
        tmp_path / "causal-envs/nav2d/empirical-seed3-v0",
    )
    with pytest.raises(DatasetError, match=r"seed=2.*--seed 3 --force"):
        load_dataset("nav2d/empirical", seed=3, root=tmp_path)
    assert len(load_dataset("nav2d/empirical", seed=3, root=tmp_path, regenerate=True)) == 40_000


def test_unknown_name_and_bad_seed():
    with pytest.raises(KeyError, match="known datasets"):
        load_dataset("nav3d/empirical")
    with pytest.raises(ValueError, match="seed"):
        load_dataset("nav2d/empirical", seed=-1)


def test_env_get_dataset_is_d4rl_and_relabels_for_the_env_goal():
    d = gym.make("CausalNav2D-v0").unwrapped.get_dataset()
    assert set(d) == {
        "observations",
        "actions",
        "rewards",
        "next_observations",
        "terminals",
        "timeouts",
    }
    assert d["observations"].shape == (40_000, 2) and d["terminals"].dtype == np.bool_
    other = gym.make("CausalNav2D-v0", goal_low=(0.6, 0.1), goal_high=(0.7, 0.3)).unwrapped
    d2 = other.get_dataset()
    s2 = d2["next_observations"]
    inside = (s2[:, 0] > 0.6) & (s2[:, 0] < 0.7) & (s2[:, 1] > 0.1) & (s2[:, 1] < 0.3)
    assert inside.any() and np.array_equal(d2["terminals"], inside)
    assert np.array_equal(d2["rewards"], inside.astype(np.float32) - 1)
    with pytest.raises(ValueError, match="default dynamics"):
        gym.make("CausalNav2D-v0", step_size=0.1).unwrapped.get_dataset()


def test_an_episode_that_does_not_chain_is_refused_before_minari_rewrites_it(small, tmp_path):
    """Minari keeps one observation sequence per episode: a row whose next state is not the
    next row's state would come back changed, so save_minari refuses it and leaves nothing."""
    broken = small.next_observations.copy()
    broken[0] += 0.5  # row 0's next state no longer row 1's state (rows 0-1: one episode)
    assert not small.episode_ends[0]
    data = TransitionDataset(
        observations=small.observations,
        actions=small.actions,
        rewards=small.rewards,
        next_observations=broken,
        terminals=small.terminals,
        episode_ends=small.episode_ends,
        metadata=small.metadata,
    )
    with pytest.raises(ValueError, match=r"episode 0 .* does not chain"):
        save(data, tmp_path)
    assert not (tmp_path / ID).exists()
