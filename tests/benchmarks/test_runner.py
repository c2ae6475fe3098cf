"""The shared benchmark runner: selection, per-cell results, resumption, refusals, workers."""

import dataclasses
import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import provenance
from benchmarks.results import output_dir
from benchmarks.runner import RunError, parse_cell_filter, parse_seeds, run
from tests.benchmarks import toy_benchmark as toy


def test_seed_and_cell_selections_parse():
    assert parse_seeds("0-4") == (0, 1, 2, 3, 4)
    assert parse_seeds("0,2,5") == (0, 2, 5)
    assert parse_seeds("3,1-2,3") == (3, 1, 2)
    assert parse_seeds(None) is None
    assert parse_cell_filter("agent=bcq,td3bc;dataset=emp") == {
        "agent": {"bcq", "td3bc"},
        "dataset": {"emp"},
    }
    for bad in ("a-b", "4-2", "", "0-100000000000", "0-600,700-1200"):
        with pytest.raises(RunError, match="--seeds"):
            parse_seeds(bad)
    with pytest.raises(RunError, match="--cells"):
        parse_cell_filter("agent")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(alphabet="0123456789-,; =abc", max_size=12))
def test_any_selection_text_parses_or_is_a_run_error(text):
    """Whatever `--seeds` and `--cells` are given: a selection, or a RunError naming the flag."""
    try:
        seeds = parse_seeds(text)
    except RunError as err:
        assert "--seeds" in str(err)
    else:
        assert all(isinstance(s, int) and s >= 0 for s in seeds) and len(seeds) <= 1000
    try:
        where = parse_cell_filter(text)
    except RunError as err:
        assert "--cells" in str(err)
    else:
        assert all(isinstance(v, set) for v in where.values())


def test_run_stores_one_file_per_cell_and_resumes_without_recomputing(capsys):
    first = run(toy.BENCHMARK, "small")
    assert sorted(first["cells"]) == [
        "seed=0/size=3",
        "seed=0/size=5",
        "seed=1/size=3",
        "seed=1/size=5",
    ]
    folder = output_dir() / "toy_bench_small"
    assert len(list((folder / "cells").glob("*.json"))) == 4
    assert (folder / "makes.log").read_text().split() == ["data/seed0", "data/seed1"]
    merged = json.loads((output_dir() / "toy_bench_small.json").read_text())
    assert merged["summary"] == first["summary"] and merged["config"]["sizes"] == [3, 5]

    def must_not_run(*args):
        raise AssertionError("a finished cell was recomputed")

    bench = dataclasses.replace(toy.BENCHMARK, run_cell=must_not_run)
    again = run(bench, "small")
    assert "resuming: 4 finished cells" in capsys.readouterr().out
    assert again["cells"] == first["cells"]


def test_selection_runs_only_the_chosen_cells():
    out = run(toy.BENCHMARK, "small", seeds=(1,), where={"size": {"5"}})
    assert list(out["cells"]) == ["seed=1/size=5"]
    with pytest.raises(RunError, match="leaves no cell"):
        run(toy.BENCHMARK, "small", where={"size": {"4"}})
    with pytest.raises(RunError, match=r"--cells names \['agent'\]"):
        run(toy.BENCHMARK, "small", where={"agent": {"bcq"}})
    with pytest.raises(RunError, match="profile must be one of"):
        run(toy.BENCHMARK, "huge")


def test_any_seeds_run_not_only_the_profiles_and_resume_beside_them():
    first = run(toy.BENCHMARK, "small")  # the profile's seeds 0, 1
    unseen = run(toy.BENCHMARK, "small", seeds=(5, 6, 7))
    assert sorted(unseen["cells"]) == [f"seed={s}/size={n}" for s in (5, 6, 7) for n in (3, 5)]
    assert unseen["config"]["seeds"] == [5, 6, 7]
    # seed 0's cells were stored by the first run: a run of seeds 0 and 5 resumes both
    both = run(toy.BENCHMARK, "small", seeds=(0, 5))
    assert both["cells"]["seed=0/size=3"] == first["cells"]["seed=0/size=3"]
    assert both["cells"]["seed=5/size=5"] == unseen["cells"]["seed=5/size=5"]
    # each seed's cell is its own: the records differ by seed
    assert unseen["cells"]["seed=5/size=3"] != unseen["cells"]["seed=6/size=3"]


def test_every_record_carries_its_provenance():
    out = run(toy.BENCHMARK, "small", seeds=(0,))
    run_prov = out["provenance"]
    assert not provenance.missing(run_prov)
    assert len(run_prov["commit"]) == 40 and isinstance(run_prov["dirty"], bool)
    assert run_prov["date"].endswith("Z") and run_prov["seconds"] >= 0
    assert run_prov["versions"]["torch"] == torch.__version__
    machine = run_prov["machine"]
    assert machine["logical_cpus"] >= 1 and machine["isa"] and machine["cpu_model"]
    assert isinstance(machine["native_bf16"], bool)
    merged = json.loads((output_dir() / "toy_bench_small.json").read_text())
    for cell_id, prov in merged["cell_provenance"].items():
        assert not provenance.missing(prov), cell_id
        assert prov["commit"] == run_prov["commit"] and prov["device"] == "cpu"
        assert prov["seconds"] >= 0 and prov["auto_precision"] in ("fp32", "bf16")
    stored = json.loads(
        (output_dir() / "toy_bench_small" / "cells" / "seed=0__size=3.json").read_text()
    )
    assert stored["provenance"] == merged["cell_provenance"]["seed=0/size=3"]
    assert merged["mixed"] == {}


def test_cells_of_other_code_or_another_machine_merge_only_when_allowed(capsys):
    run(toy.BENCHMARK, "small", seeds=(0,))
    folder = output_dir() / "toy_bench_small" / "cells"
    path = folder / "seed=0__size=3.json"
    stored = json.loads(path.read_text())
    stored["provenance"]["commit"] = "0" * 40
    path.write_text(json.dumps(stored))
    with pytest.raises(RunError, match=r"other code or on another machine.*code 0000000"):
        run(toy.BENCHMARK, "small", seeds=(0,))
    out = run(toy.BENCHMARK, "small", seeds=(0,), allow_mixed=True)
    assert list(out["mixed"]) == ["seed=0/size=3"]
    assert "code 0000000" in out["mixed"]["seed=0/size=3"][0]
    assert "merged with 1 cell(s) made by other code" in capsys.readouterr().out
    # another machine, and a cell stored before provenance was recorded
    stored["provenance"] = json.loads((folder / "seed=0__size=5.json").read_text())["provenance"]
    stored["provenance"]["machine"] = {**stored["provenance"]["machine"], "cpu_model": "Other"}
    path.write_text(json.dumps(stored))
    with pytest.raises(RunError, match="machine Other, "):
        run(toy.BENCHMARK, "small", seeds=(0,))
    del stored["provenance"]
    path.write_text(json.dumps(stored))
    with pytest.raises(RunError, match="before results recorded their provenance"):
        run(toy.BENCHMARK, "small", seeds=(0,))
    assert len(run(toy.BENCHMARK, "small", seeds=(0,), fresh=True)["cells"]) == 2


def test_a_stored_cell_of_another_configuration_or_a_corrupt_one_is_refused():
    run(toy.BENCHMARK, "small", seeds=(0,))
    path = output_dir() / "toy_bench_small" / "cells" / "seed=0__size=3.json"
    stored = json.loads(path.read_text())
    stored["config"]["sizes"] = [3, 4]
    path.write_text(json.dumps(stored))
    with pytest.raises(RunError, match=r"another profile or configuration.*--fresh"):
        run(toy.BENCHMARK, "small", seeds=(0,))
    for damaged in ('{"cell": ', "[]", '{"cell": 1}', b"\xff\xfe"):
        path.write_bytes(damaged if isinstance(damaged, bytes) else damaged.encode())
        with pytest.raises(RunError, match=r"seed=0__size=3.json is not a readable result.*fresh"):
            run(toy.BENCHMARK, "small", seeds=(0,))
    fresh = run(toy.BENCHMARK, "small", seeds=(0,), fresh=True)
    assert len(fresh["cells"]) == 2


def test_two_worker_processes_give_the_same_records_as_one_process():
    serial = run(toy.BENCHMARK, "small", fresh=True)
    pooled = run(toy.BENCHMARK, "small", fresh=True, workers=2)
    strip = {k: {f: v for f, v in r.items() if f != "threads"} for k, r in serial["cells"].items()}
    assert {
        k: {f: v for f, v in r.items() if f != "threads"} for k, r in pooled["cells"].items()
    } == strip
    assert all(r["threads"] == 1 for r in pooled["cells"].values())  # one thread per worker
    folder = output_dir() / "toy_bench_small"
    assert sorted((folder / "makes.log").read_text().split()) == ["data/seed0", "data/seed1"]


def test_the_device_is_checked_by_the_driver_and_resolved_in_each_cell():
    out = run(toy.BENCHMARK, "small", seeds=(0,), fresh=True, workers=2, device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert {r["device"] for r in out["cells"].values()} == {expected}
    stored = json.loads((output_dir() / "toy_bench_small/cells/seed=0__size=3.json").read_text())
    assert stored["device"] == expected
    with pytest.raises(RunError, match="--device: device must be auto, cpu, cuda or cuda:N"):
        run(toy.BENCHMARK, "small", device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(RunError, match="asks for CUDA, but torch finds none"):
            run(toy.BENCHMARK, "small", device="cuda:0")


def test_a_run_killed_at_random_points_resumes_to_the_same_results(tmp_path):
    """SIGKILL the driver at seeded random moments after each new finished cell (mid-cell,
    mid-write or between cells), resume each time without --fresh: the final results equal an
    uninterrupted run's."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    import numpy as np

    script = (
        "from benchmarks.runner import run\n"
        "from tests.benchmarks import toy_benchmark as toy\n"
        "run(toy.BENCHMARK, 'small')\n"
    )

    def launch(out):
        env = {**os.environ, "CAUSAL_ENVS_OUTPUT_DIR": str(out), toy.CELL_SECONDS_ENV: "0.25"}
        return subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            cwd=str(Path(__file__).resolve().parents[2]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert launch(clean).wait(timeout=120) == 0
    rng = np.random.default_rng(18)
    cells_dir = killed / "benchmarks" / "toy_bench_small" / "cells"

    def finished() -> int:
        return len(list(cells_dir.glob("*.json"))) if cells_dir.exists() else 0

    kills = 0
    for _ in range(8):  # each launch finishes one more cell, then dies at a random moment
        before = finished()
        proc = launch(killed)
        deadline = time.monotonic() + 120
        while proc.poll() is None and finished() == before and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))  # mid-cell, mid-write or between cells
        if proc.poll() is not None:
            break
        proc.kill()
        proc.wait(timeout=120)
        kills += 1
    final = launch(killed)
    assert final.wait(timeout=120) == 0, final.stderr.read().decode()
    assert kills >= 2, "the run ended before the kills: lengthen the cells"

    def results(out):
        return json.loads((out / "benchmarks" / "toy_bench_small.json").read_text())

    def cell_files(out):
        return sorted(p.name for p in (out / "benchmarks" / "toy_bench_small" / "cells").iterdir())

    assert results(killed)["cells"] == results(clean)["cells"]
    assert results(killed)["summary"] == results(clean)["summary"]
    assert cell_files(killed) == cell_files(clean)


@pytest.mark.parametrize(
    ("module", "profile", "bad", "message"),
    [
        ("benchmarks.csr", None, {"seeds": ()}, "seeds must be a non-empty tuple"),
        ("benchmarks.csr", None, {"seeds": (0, 0)}, "repeats a seed"),
        ("benchmarks.csr", None, {"task_steps": -1}, "task_steps must be an integer >= 0"),
        ("benchmarks.csr", None, {"source_steps": 0}, "source_steps must be an integer >= 1"),
        ("benchmarks.csr", None, {"eval_every": 2.5}, "eval_every must be an integer"),
        ("benchmarks.csr", None, {"methods": ("csr", "ppo")}, "methods must be among"),
        ("benchmarks.csr", None, {"fraction": 1.5}, "fraction"),
        ("benchmarks.csr", None, {"description": ""}, "description"),
        ("benchmarks.mocoda_nav2d", "quick", {"n_updates": -5}, "n_updates"),
        ("benchmarks.mocoda_nav2d", "quick", {"agents": ("sac",)}, "agents must be among"),
        ("benchmarks.mocoda_nav2d", "quick", {"datasets": ("emp", "x")}, "datasets must be"),
        ("benchmarks.mocoda_hooksweep2", "quick", {"n_expert": 0}, "n_expert"),
        ("benchmarks.mocoda_model_error", "quick", {"n_eval": True}, "n_eval"),
    ],
)
def test_every_benchmark_profile_refuses_bad_fields(module, profile, bad, message):
    import importlib

    mod = importlib.import_module(module)
    if profile is None:
        base = mod.PROFILES_BY_BENCH["csr-cartpole"]["quick"]
    else:
        base = mod.PROFILES[profile]
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(base, **bad)
    dataclasses.replace(base, seeds=(__import__("numpy").int64(3),))  # NumPy integers are fine


def test_a_directory_where_the_merged_results_belong_is_refused_before_any_cell_runs():
    (output_dir() / "toy_bench_small.json").mkdir(parents=True)
    with pytest.raises(RunError, match=r"toy_bench_small.json is a directory where the merged"):
        run(toy.BENCHMARK, "small", seeds=(0,))
    assert not (output_dir() / "toy_bench_small" / "cells" / "seed=0__size=3.json").exists()
