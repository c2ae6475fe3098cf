"""The shared benchmark runner: selection, per-cell results, resumption, refusals, workers."""

import dataclasses
import json

import pytest
import torch

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
    for bad in ("a-b", "4-2", ""):
        with pytest.raises(RunError, match="--seeds"):
            parse_seeds(bad)
    with pytest.raises(RunError, match="--cells"):
        parse_cell_filter("agent")


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
    out = run(toy.BENCHMARK, "small", seeds=(1,), cells={"size": {"5"}})
    assert list(out["cells"]) == ["seed=1/size=5"]
    with pytest.raises(RunError, match="leaves no cell"):
        run(toy.BENCHMARK, "small", seeds=(7,))
    with pytest.raises(RunError, match=r"--cells names \['agent'\]"):
        run(toy.BENCHMARK, "small", cells={"agent": {"bcq"}})
    with pytest.raises(RunError, match="profile must be one of"):
        run(toy.BENCHMARK, "huge")


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
