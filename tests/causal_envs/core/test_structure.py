import numpy as np
import pytest

from causal_envs.core import CausalStructure, StructureError

NAV = dict(
    state_nodes={"x": [0], "y": [1]},
    action_nodes={"dx": [0], "dy": [1]},
    graph=[[1, 0], [0, 1], [1, 0], [0, 1]],
)
# HookSweep2-like: grouped dims and overlapping parent sets.
HOOK = dict(
    state_nodes={"g": [0, 1, 2], "b1": [3, 4], "b2": [5, 6]},
    action_nodes={"a": [0, 1, 2, 3]},
    graph=[[1, 1, 1], [1, 1, 0], [1, 0, 1], [1, 1, 1]],
)


def test_nav2d_parent_sets_and_dims():
    s = CausalStructure(**NAV)
    assert s.input_names == ("x", "y", "dx", "dy")
    assert s.output_names == ("x'", "y'")
    assert s.parent_sets == (("x", "dx"), ("y", "dy"))
    assert s.parents("y'") == ("y", "dy")
    assert s.input_dims(["y", "dy"]).tolist() == [1, 3]
    assert (s.state_dim, s.action_dim, s.input_dim) == (2, 2, 4)


def test_grouped_nodes_overlapping_parent_sets():
    s = CausalStructure(**HOOK)
    # g' has every root as parent; b1' and b2' overlap in (g, a).
    assert s.parent_sets == (("g", "b1", "b2", "a"), ("g", "b1", "a"), ("g", "b2", "a"))
    assert s.input_dims(["b2", "a"]).tolist() == [5, 6, 7, 8, 9, 10]


def test_dim_mask_expands_nodes_to_dimensions():
    s = CausalStructure(**HOOK)
    node_mask = np.zeros((2, 4, 3), bool)
    node_mask[1, 3, 2] = True  # a -> b2'
    dims = s.dim_mask(node_mask)
    assert dims.shape == (2, 11, 7)
    assert not dims[0].any()
    expected = np.zeros((11, 7), bool)
    expected[7:11, 5:7] = True
    assert np.array_equal(dims[1], expected)


def test_roundtrip_and_equality():
    s = CausalStructure(**HOOK)
    assert CausalStructure.from_dict(s.to_dict()) == s
    assert hash(CausalStructure.from_dict(s.to_dict())) == hash(s)
    assert s != CausalStructure(**NAV)
    assert "b1'" in s.describe() and "parent_sets" in repr(s)
    assert not s.graph.flags.writeable


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"state_nodes": {"x": [0], "dx": [1]}}, "unique"),
        ({"state_nodes": {"x": [0], "y": [0]}}, "partition"),
        ({"state_nodes": {"x": [0], "y": [2]}}, "partition"),
        ({"state_nodes": {}}, "non-empty"),
        ({"state_nodes": {"": [0], "y": [1]}}, "non-empty strings"),
        ({"graph": [[1, 0], [0, 1], [1, 0]]}, "shape"),
        ({"graph": [[2, 0], [0, 1], [1, 0], [0, 1]]}, "0/1"),
        ({"graph": [[1, 0], [0, 0], [1, 0], [0, 0]]}, "empty parent set"),
    ],
)
def test_invalid_structures_raise_clear_errors(change, message):
    with pytest.raises(StructureError, match=message):
        CausalStructure(**{**NAV, **change})


def test_unknown_names_and_bad_masks():
    s = CausalStructure(**NAV)
    with pytest.raises(StructureError, match="unknown node 'z'"):
        s.input_dims(["z"])
    with pytest.raises(StructureError, match="sequence of node names"):
        s.input_dims("x")
    with pytest.raises(StructureError, match=r"shape \(\.\.\., 4, 2\)"):
        s.dim_mask(np.ones((3, 2, 2)))
    with pytest.raises(StructureError, match="lacks key"):
        CausalStructure.from_dict({"graph": []})
    with pytest.raises(StructureError, match="partition"):
        CausalStructure(**NAV, state_dim=3)
