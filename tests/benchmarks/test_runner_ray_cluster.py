"""The Ray backend on a two-node cluster simulated on this machine, all on 127.0.0.1.

A head node and a second node, each a raylet with one CPU and its own custom resource, are
started with Ray's own multi-node test harness (`ray.cluster_utils.Cluster`). The toy
benchmark runs on the cluster through ``address``, as ``--address`` does; its cells must land
on both nodes and give the local backend's numbers.

Why not two ``ray start`` commands: bound to loopback (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``,
which this suite sets) Ray's CLI refuses a second node, and without it Ray resolves
127.0.0.1 to the machine's network address and listens there. The harness starts the same
processes (GCS, raylets, workers) as ``ray start`` does.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.runner import RAY_LOOPBACK_ENV, run
from tests.benchmarks import toy_benchmark as toy

os.environ.setdefault(RAY_LOOPBACK_ENV, "0")  # Ray reads it on import: every node on loopback
ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_nodes(monkeypatch):
    """The address of a running head + second node; both stopped afterwards."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    # each cell holds its node's only CPU for 2 s, so the second cell must go to the other node
    # (instant cells may all run on one node, one after the other); the nodes' workers
    # inherit this environment
    monkeypatch.setenv(toy.CELL_SECONDS_ENV, "2")
    cluster = cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "resources": {"head_node": 1}, "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=1, resources={"second_node": 1})
        yield cluster.address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


def test_cells_run_on_both_nodes_and_match_the_local_backend(two_nodes):
    assert two_nodes.startswith("127.0.0.1:")
    remote = run(toy.BENCHMARK, "small", fresh=True, backend="ray", address=two_nodes)
    nodes = {r["node"] for r in remote["cells"].values()}
    assert len(nodes) == 2 and None not in nodes, nodes
    local = run(toy.BENCHMARK, "small", fresh=True)
    assert {k: r["value"] for k, r in remote["cells"].items()} == {
        k: r["value"] for k, r in local["cells"].items()
    }
