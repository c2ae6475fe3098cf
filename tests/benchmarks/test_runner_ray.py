"""The Ray backend on a real local Ray instance (started by the test on this machine)."""

import os
from pathlib import Path

import pytest

from benchmarks.results import output_dir
from benchmarks.runner import RAY_LOOPBACK_ENV, RunError, run
from tests.benchmarks import toy_benchmark as toy

os.environ.setdefault(RAY_LOOPBACK_ENV, "0")  # Ray reads it on import: local instances on loopback
ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def local_ray(monkeypatch):
    """A 2-CPU Ray instance on this machine; its workers can import the tests package."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    yield
    ray.shutdown()


def _values(merged):
    return {k: r["value"] for k, r in merged["cells"].items()}


def test_ray_gives_the_local_backends_records_cell_for_cell(local_ray):
    local = run(toy.BENCHMARK, "small", fresh=True)
    remote = run(toy.BENCHMARK, "small", fresh=True, backend="ray")
    assert _values(remote) == _values(local) and len(remote["cells"]) == 4
    assert all(r["threads"] == 1 for r in remote["cells"].values())
    # the shared input of each seed was made once, by its own task
    folder = output_dir() / "toy_bench_small"
    assert sorted((folder / "makes.log").read_text().split()) == ["data/seed0", "data/seed1"]
    # a run interrupted before the end resumes on either backend
    again = run(toy.BENCHMARK, "small")
    assert _values(again) == _values(local)


def test_a_worker_killed_mid_cell_has_its_cell_retried_and_nothing_is_lost(local_ray):
    folder = output_dir() / "toy_bench_small"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / toy.KILL_MARKER).touch()
    remote = run(toy.BENCHMARK, "small", backend="ray")
    assert not (folder / toy.KILL_MARKER).exists(), "the killing attempt did not happen"
    assert len(remote["cells"]) == 4
    local = run(toy.BENCHMARK, "small", fresh=True)
    assert _values(remote) == _values(local)


def test_backend_arguments_are_checked():
    with pytest.raises(RunError, match="--backend must be one of"):
        run(toy.BENCHMARK, "small", backend="slurm")
    with pytest.raises(RunError, match="--address names a Ray cluster"):
        run(toy.BENCHMARK, "small", address="127.0.0.1:6379")


def test_a_dead_address_fails_fast_with_an_error_naming_it(monkeypatch):
    """Nothing listens at 127.0.0.1:1: the run is refused within the stated timeout, where
    Ray alone retries for minutes."""
    import time

    from benchmarks import runner

    monkeypatch.setattr(runner, "RAY_CONNECT_TIMEOUT", 3.0)
    start = time.perf_counter()
    with pytest.raises(RunError, match=r"no Ray cluster answers at --address 127\.0\.0\.1:1"):
        run(toy.BENCHMARK, "small", backend="ray", address="127.0.0.1:1")
    assert time.perf_counter() - start < 30
    assert not ray.is_initialized()
    with pytest.raises(RunError, match="--address takes HOST:PORT"):
        run(toy.BENCHMARK, "small", backend="ray", address="nohost")


@pytest.mark.parametrize("server", ["silent", "http"])
def test_an_address_where_something_else_listens_fails_fast(monkeypatch, server):
    """A port that accepts and says nothing, or a web server: not a Ray head. Refused within
    the stated timeout, where Ray alone hangs for minutes."""
    import http.server
    import socket
    import threading
    import time

    from benchmarks import runner

    if server == "silent":
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port, stop = listener.getsockname()[1], listener.close
    else:
        web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
        threading.Thread(target=web.serve_forever, daemon=True).start()
        port = web.server_address[1]

        def stop():
            web.shutdown()
            web.server_close()

    monkeypatch.setattr(runner, "RAY_CONNECT_TIMEOUT", 3.0)
    start = time.perf_counter()
    try:
        with pytest.raises(RunError, match=rf"127\.0\.0\.1:{port} does not answer as a Ray"):
            run(toy.BENCHMARK, "small", backend="ray", address=f"127.0.0.1:{port}")
    finally:
        stop()
    assert time.perf_counter() - start < 30
    assert not ray.is_initialized()


def test_a_cuda_run_on_a_cluster_without_gpus_is_refused(local_ray):
    with pytest.raises(RunError, match="the Ray cluster has no GPU"):
        run(toy.BENCHMARK, "small", backend="ray", device="cuda")
