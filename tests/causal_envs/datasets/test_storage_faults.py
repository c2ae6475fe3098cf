"""The dataset cache against the world: full disks, unwritable and odd places, dead writers,
concurrent writers, links at dataset paths, Minari's own files damaged."""

import errno
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from causal_envs.core.fs import FileLock
from causal_envs.datasets import DatasetError, load_stored, save_minari, staging
from causal_envs.datasets import storage as storage_module
from causal_envs.datasets.nav2d import generate_nav2d_empirical

ID = "causal-envs/test/small-v0"


@pytest.fixture(scope="module")
def small():
    return generate_nav2d_empirical(seed=5, n_per_behaviour=200)


def save(data, root, **kw):
    return save_minari(data, ID, root, env="CausalNav2D-v0", description="test", **kw)


def load(root):
    return load_stored(ID, root, regenerate_hint="HINT")


def leftovers(root: Path) -> list[str]:
    """Everything under ``root`` but datasets and lock files."""
    return sorted(p.name for p in root.iterdir() if p.name not in ("causal-envs", ".locks"))


def test_a_full_disk_is_refused_before_anything_is_written(small, tmp_path, monkeypatch):
    save(small, tmp_path)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        "causal_envs.core.fs.shutil.disk_usage", lambda p: usage._replace(free=1 << 20)
    )
    with pytest.raises(DatasetError, match=r"needs about .* MiB .* 1.0 MiB free"):
        save(generate_nav2d_empirical(seed=6, n_per_behaviour=100), tmp_path, overwrite=True)
    assert leftovers(tmp_path) == [] and load(tmp_path).equals(small)  # the old data is kept


def test_the_space_check_counts_minaris_hdf5_file(tmp_path, monkeypatch):
    """A Minari dataset's HDF5 file (per-episode groups: about 22 kB an episode) dwarfs its
    arrays; a disk with room for the arrays but not for that file is refused up front, not
    left to h5py's errors (or its crash) midway."""
    data = generate_nav2d_empirical(seed=6, n_per_behaviour=400)
    arrays = sum(getattr(data, f).nbytes for f in storage_module.ARRAY_FIELDS)
    written = tmp_path / "probe"
    save(data, written)
    on_disk = sum(f.stat().st_size for f in written.rglob("*") if f.is_file())
    estimate = (
        int(arrays * storage_module._SPACE_FACTOR)
        + staging.MIN_FREE_BYTES
        + data.n_episodes * storage_module._HDF5_EPISODE_BYTES
    )
    assert on_disk + staging.MIN_FREE_BYTES <= estimate  # the estimate covers the files
    usage = shutil.disk_usage(tmp_path)
    free = estimate - 1  # room for the arrays several times over, not for the HDF5 file
    assert free > 3 * arrays + staging.MIN_FREE_BYTES
    monkeypatch.setattr(
        "causal_envs.core.fs.shutil.disk_usage", lambda p: usage._replace(free=free)
    )
    with pytest.raises(DatasetError, match="needs about"):
        save(data, tmp_path / "full")
    assert not (tmp_path / "full").exists() or leftovers(tmp_path / "full") == []


@pytest.mark.parametrize(
    "code, says",
    [
        (errno.ENOSPC, "disk is full"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only"),
    ],
)
def test_a_write_that_fails_midway_leaves_nothing_and_keeps_the_old(
    small, tmp_path, monkeypatch, code, says
):
    save(small, tmp_path)

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), "transitions.npz")

    monkeypatch.setattr(storage_module.np, "savez", fail)
    with pytest.raises(DatasetError, match=f"{says}.*nothing was left behind"):
        save(generate_nav2d_empirical(seed=6, n_per_behaviour=100), tmp_path, overwrite=True)
    assert leftovers(tmp_path) == [] and load(tmp_path).equals(small)


def test_unusable_cache_directories_give_one_clear_error(small, tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DatasetError, match="is a file, not a directory"):
        save(small, tmp_path / "afile")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(DatasetError, match="loops"):
        save(small, tmp_path / "loop")
    monkeypatch.setattr("causal_envs.core.fs.os.access", lambda *a: False)  # root ignores modes
    with pytest.raises(DatasetError, match="not writable"):
        save(small, tmp_path / "ro")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.undo()
    monkeypatch.setattr(staging.tempfile, "mkdtemp", denied)
    with pytest.raises(DatasetError, match="permission denied"):
        save(small, tmp_path / "denied")


def _dead_staging(root: Path, dataset_id: str | None = None) -> Path:
    """A staging directory as a writer killed mid-write leaves it (its lock free)."""
    staging = root / ".tmp-dead"
    (staging / "partial").mkdir(parents=True)
    (staging / "partial" / "junk.bin").write_bytes(b"\0" * 1000)
    owner = FileLock(staging / "owner.lock")
    owner.acquire()
    owner.release()  # the owner is gone
    if dataset_id:
        (staging / "target").write_text(dataset_id)
    return staging


def test_dead_writers_staging_is_reclaimed_and_live_ones_kept(small, tmp_path):
    dead = _dead_staging(tmp_path)
    live = tmp_path / ".tmp-live"
    live.mkdir()
    held = FileLock(live / "owner.lock")
    held.acquire()
    starting = tmp_path / ".new-abc"  # a writer between mkdtemp and taking its lock
    starting.mkdir()
    unlocked = tmp_path / ".tmp-old-version"  # an older version's staging: no owner lock
    unlocked.mkdir()
    try:
        save(small, tmp_path)
        assert not dead.exists() and not unlocked.exists()
        assert live.exists() and starting.exists()
    finally:
        held.release()
    assert staging.reclaim_staging(tmp_path) == [live]
    assert starting.exists()  # never a reclaim's: its writer renames it once it holds its lock


def test_a_dead_writers_staging_goes_at_the_next_load(small, tmp_path):
    """A writer killed before its final rename leaves a complete copy in staging: the next
    load (not only the next write) removes it."""
    save(small, tmp_path)
    dead = _dead_staging(tmp_path, ID)
    assert load(tmp_path).equals(small)
    assert not dead.exists() and leftovers(tmp_path) == []


def _write_and_read(root: str, role: str, rounds: int, queue) -> None:
    """A writer (``save_flat`` of its own seed's data) or a reader, ``rounds`` times; every
    error goes to ``queue``."""
    from causal_envs.datasets import load_stored, save_flat

    data = generate_nav2d_empirical(seed=int(role[-1]), n_per_behaviour=50)
    for _ in range(rounds):
        try:
            if role.startswith("writer"):
                save_flat(data, ID, Path(root), overwrite=True)
            else:
                got = load_stored(ID, Path(root), regenerate_hint="HINT")
                assert len(got) > 0
        except Exception as err:
            queue.put(f"{role}: {type(err).__name__}: {err}")


def test_concurrent_flat_writers_and_a_reader_never_fail_or_see_half(tmp_path):
    """Three processes overwrite one dataset while a fourth reads it: no write fails (no
    reclaim removes a live writer's staging) and no read misses the dataset between the two
    renames of an overwrite."""
    from causal_envs.datasets import save_flat

    save_flat(generate_nav2d_empirical(seed=1, n_per_behaviour=50), ID, tmp_path)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    roles = ["writer1", "writer2", "writer3", "reader4"]
    procs = [ctx.Process(target=_write_and_read, args=(str(tmp_path), r, 40, queue)) for r in roles]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    errors = []
    while not queue.empty():
        errors.append(queue.get())
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    assert errors == []
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("complete", [False, True])
def test_a_crash_between_the_renames_of_force_leaves_a_dataset(small, tmp_path, complete):
    """The writer died after moving the old dataset aside and before moving the new one in."""
    save(small, tmp_path)
    new = generate_nav2d_empirical(seed=6, n_per_behaviour=100)
    save(new, tmp_path / "elsewhere")
    staging = _dead_staging(tmp_path, ID)
    os.replace(tmp_path / ID, staging / ".previous")
    (staging / ID).parent.mkdir(parents=True)
    os.replace(tmp_path / "elsewhere" / ID, staging / ID)
    if complete:
        (staging / "complete").touch()
    shutil.rmtree(tmp_path / "elsewhere")
    assert not (tmp_path / ID).exists()
    # the next load puts back what the user asked for (the complete new copy) or had
    assert load(tmp_path).equals(new if complete else small)
    assert leftovers(tmp_path) == []


def test_links_at_a_dataset_path(small, tmp_path):
    real = save(small, tmp_path / "disk2")
    link = tmp_path / "cache" / ID
    link.parent.mkdir(parents=True)
    link.symlink_to(real, target_is_directory=True)
    assert load(tmp_path / "cache").equals(small)  # a link to a dataset is followed
    with pytest.raises(FileExistsError):
        save(small, tmp_path / "cache")
    other = generate_nav2d_empirical(seed=6, n_per_behaviour=100)
    save(other, tmp_path / "cache", overwrite=True)  # replaces the link, not its target
    assert not link.is_symlink() and load(tmp_path / "cache").equals(other)
    assert load(tmp_path / "disk2").equals(small)
    shutil.rmtree(link)
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"nowhere, which does not exist.*HINT"):
        load(tmp_path / "cache")
    link.unlink()
    link.symlink_to(link)
    with pytest.raises(DatasetError, match=r"loops.*HINT"):
        load(tmp_path / "cache")
    save(small, tmp_path / "cache", overwrite=True)  # --force replaces a looping link too
    assert load(tmp_path / "cache").equals(small)
    link = tmp_path / "cache" / ID
    shutil.rmtree(link)
    link.write_text("not a dataset")
    with pytest.raises(DatasetError, match=r"is a file, not a dataset directory.*HINT"):
        load(tmp_path / "cache")


@pytest.mark.parametrize("damage", ["truncate", "delete", "flip"])
def test_minaris_hdf5_file_is_checked(small, tmp_path, damage):
    path = save(small, tmp_path) / "data" / "main_data.hdf5"
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "delete":
        path.unlink()
    else:  # same size, one byte changed: only the digest sees it
        path.write_bytes(raw[:-10] + bytes([raw[-10] ^ 0xFF]) + raw[-9:])
    if damage == "flip":
        assert load(tmp_path).equals(small)  # the flat file we read is intact
    else:
        with pytest.raises(DatasetError, match=r"Minari's main_data.hdf5 .*HINT"):
            load(tmp_path)
    with pytest.raises(DatasetError, match=r"does not match the digest .*HINT"):
        storage_module.verify_minari_files(ID, tmp_path, regenerate_hint="HINT")


def _generate(root: str, marks: str) -> str:
    """A concurrent generator: counts its generations in ``marks``, one line each."""
    from causal_envs.datasets import registry

    spec = registry.DATASETS["cartpole/task1"]
    original = spec.generate

    def counted(seed):
        with open(marks, "a") as f:
            f.write(f"{os.getpid()}\n")
        return original(seed)

    object.__setattr__(spec, "generate", counted)
    return str(registry.generate_dataset("cartpole/task1", root=root))


def test_concurrent_generators_take_turns_and_generate_once(tmp_path):
    marks = tmp_path / "marks.txt"
    with mp.get_context("spawn").Pool(3) as pool:
        paths = pool.starmap(_generate, [(str(tmp_path / "cache"), str(marks))] * 3)
    assert len(set(paths)) == 1
    assert len(marks.read_text().splitlines()) == 1  # the others waited and found it made
    from causal_envs.datasets import load_dataset

    data = load_dataset("cartpole/task1", root=tmp_path / "cache")
    assert len(data) > 0 and np.isfinite(data.rewards).all()
    assert leftovers(tmp_path / "cache") == []


def test_a_generator_killed_mid_write_leaves_nothing_visible_and_is_reclaimed(tmp_path):
    """SIGKILL while the data is being written: no dataset appears, and the next write
    reclaims the dead staging directory."""
    code = (
        "import os, signal, numpy as np\n"
        "from causal_envs.datasets import save_minari, storage\n"
        "from causal_envs.datasets.nav2d import generate_nav2d_empirical\n"
        "def die(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "storage.np.savez = die\n"
        "data = generate_nav2d_empirical(seed=5, n_per_behaviour=100)\n"
        f"save_minari(data, {ID!r}, {str(tmp_path)!r}, env='CausalNav2D-v0', description='t')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    staged = [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    assert len(staged) == 1 and not (tmp_path / ID).exists()
    with pytest.raises(DatasetError, match="no dataset"):
        load(tmp_path)  # the dead writer's half is never read as a dataset
    assert not staged[0].exists()  # and the load reclaimed it
    save(generate_nav2d_empirical(seed=5, n_per_behaviour=100), tmp_path)
    assert leftovers(tmp_path) == []


def test_a_dead_writers_staging_goes_at_a_cache_hit_and_at_dataset_list(tmp_path, capsys):
    """A writer killed before its final rename over a cached dataset: neither the next plain
    ``generate`` (which finds the dataset made) nor ``dataset list`` leaves its copy behind."""
    from benchmarks.cli import main
    from causal_envs.datasets import generate_dataset

    generate_dataset("cartpole/task1", root=tmp_path)
    dead = _dead_staging(tmp_path)
    generate_dataset("cartpole/task1", root=tmp_path)
    assert not dead.exists()
    dead = _dead_staging(tmp_path)
    assert main(["dataset", "--data-dir", str(tmp_path), "list"]) == 0
    assert "cartpole/task1" in capsys.readouterr().out and not dead.exists()


def test_writers_side_by_side_cannot_count_the_same_free_space(small, tmp_path, monkeypatch):
    """A live writer's staging holds the bytes it reserved: a second writer that would fit in
    the free space alone, but not beside it, is refused with one line; a dead writer's
    reservation counts for nothing."""
    usage = shutil.disk_usage(tmp_path)
    free = 200 * 2**20
    monkeypatch.setattr(
        "causal_envs.core.fs.shutil.disk_usage", lambda p: usage._replace(free=free)
    )
    other = tmp_path / ".tmp-other"
    other.mkdir()
    (other / "reserved").write_text(str(free - 2**20))  # all but 1 MiB promised elsewhere
    held = FileLock(other / "owner.lock")
    held.acquire()
    try:
        with pytest.raises(DatasetError, match=r"MiB of it reserved by writes in progress"):
            save(small, tmp_path)
        assert not (tmp_path / ID).exists()
    finally:
        held.release()  # the other writer dies: its reservation lapses
    save(small, tmp_path)
    assert load(tmp_path).equals(small) and leftovers(tmp_path) == []


@pytest.mark.parametrize("bad_id", ["../escape-v0", "/abs/x-v0", "a/../../b-v0", "", "a\\b-v0"])
def test_a_dataset_id_that_leaves_the_cache_is_refused(small, tmp_path, bad_id):
    root = tmp_path / "cache"
    root.mkdir()
    with pytest.raises(DatasetError, match="dataset_id must be a relative name"):
        storage_module.save_flat(small, bad_id, root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_writing_something_that_is_not_a_dataset_is_a_type_error(tmp_path):
    minari_kw = {"env": "CausalNav2D-v0", "description": "t"}
    for write, kw in ((storage_module.save_flat, {}), (storage_module.save_minari, minari_kw)):
        with pytest.raises(TypeError, match="data must be a TransitionDataset, got dict"):
            write({"observations": []}, ID, tmp_path, **kw)
