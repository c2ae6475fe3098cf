"""Named causal structure over the state and action dimensions of an environment.

A transition ``(s, a) -> s'`` is described by *nodes*: named groups of dimensions. The input
nodes (the roots of the transition graph) are the state nodes followed by the action nodes; the
output nodes are the next-state copies of the state nodes. A graph is a boolean matrix of shape
``(n_inputs, n_outputs)`` whose entry ``[i, j]`` says that input node ``i`` may cause output
node ``j``.

Each environment declares its *sparsest valid graph*: the local graph that holds in the largest
part of the state-action space. Parent sets are read from it; MoCoDA samples one parent set at a
time and trains one model component per output node over its parents.

Examples:
    2D Navigation:

    >>> s = CausalStructure(
    ...     state_nodes={"x": [0], "y": [1]},
    ...     action_nodes={"dx": [0], "dy": [1]},
    ...     graph=[[1, 0], [0, 1], [1, 0], [0, 1]],
    ... )
    >>> s.parent_sets
    (('x', 'dx'), ('y', 'dy'))
    >>> s.input_dims(("y", "dy")).tolist()
    [1, 3]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["CausalStructure", "Node", "StructureError"]


class StructureError(ValueError):
    """A causal structure, a mask or a batch does not fit its declared form."""


@dataclass(frozen=True)
class Node:
    """A named group of dimensions.

    ``kind`` is ``"state"`` or ``"action"``; ``dims`` index the state or the action vector;
    ``flat_dims`` index the concatenated input vector ``[state, action]``.
    """

    name: str
    kind: str
    dims: tuple[int, ...]
    flat_dims: tuple[int, ...]


def _make_nodes(
    spec: Mapping[str, Sequence[int]], kind: str, size: int | None, offset: int
) -> tuple[tuple[Node, ...], int]:
    if not isinstance(spec, Mapping) or len(spec) == 0:
        raise StructureError(
            f"{kind}_nodes must be a non-empty mapping name -> dimension indices, got {spec!r}"
        )
    nodes = []
    covered: list[int] = []
    for name, dims in spec.items():
        if not isinstance(name, str) or not name:
            raise StructureError(f"{kind} node names must be non-empty strings, got {name!r}")
        dims_t = tuple(int(d) for d in np.atleast_1d(np.asarray(dims)).ravel())
        if not dims_t:
            raise StructureError(f"{kind} node {name!r} has no dimensions")
        nodes.append(Node(name, kind, dims_t, tuple(offset + d for d in dims_t)))
        covered.extend(dims_t)
    dim = size if size is not None else max(covered) + 1
    if sorted(covered) != list(range(dim)):
        raise StructureError(
            f"{kind} nodes must partition the {kind} dimensions 0..{dim - 1} exactly once each; "
            f"they cover {sorted(covered)}"
        )
    return tuple(nodes), dim


class CausalStructure:
    """Input nodes (state + action), output nodes (next state) and the sparsest valid graph.

    Args:
        state_nodes: mapping node name -> indices into the state vector; the nodes must cover
            every state dimension exactly once.
        action_nodes: mapping node name -> indices into the action vector, likewise.
        graph: ``(n_inputs, n_outputs)`` 0/1 matrix, rows in the order state nodes then action
            nodes, columns in the order of the state nodes (their next-state copies).
        state_dim: optional size of the state vector, checked against the nodes.
        action_dim: optional size of the action vector, likewise.

    Raises:
        StructureError: duplicate or empty names, dimensions that do not partition the vectors,
            a graph of the wrong shape or with values other than 0/1, or an output node with no
            parent (an empty parent set).
    """

    def __init__(
        self,
        state_nodes: Mapping[str, Sequence[int]],
        action_nodes: Mapping[str, Sequence[int]],
        graph: ArrayLike,
        *,
        state_dim: int | None = None,
        action_dim: int | None = None,
    ) -> None:
        s_nodes, s_dim = _make_nodes(state_nodes, "state", state_dim, 0)
        a_nodes, a_dim = _make_nodes(action_nodes, "action", action_dim, s_dim)
        names = [n.name for n in s_nodes + a_nodes]
        if len(set(names)) != len(names):
            raise StructureError(f"node names must be unique across state and action: {names}")
        self._state_nodes = s_nodes
        self._action_nodes = a_nodes
        self._state_dim = s_dim
        self._action_dim = a_dim
        self._graph = self.validate_graph(graph, name="graph")
        self._graph.flags.writeable = False
        orphans = [self.output_names[j] for j in np.flatnonzero(~self._graph.any(axis=0))]
        if orphans:
            raise StructureError(
                f"output nodes {orphans} have an empty parent set in the graph; every next-state "
                "node needs at least one parent"
            )

    # ----------------------------------------------------------------- nodes and sizes
    @property
    def state_nodes(self) -> tuple[Node, ...]:
        return self._state_nodes

    @property
    def action_nodes(self) -> tuple[Node, ...]:
        return self._action_nodes

    @property
    def input_nodes(self) -> tuple[Node, ...]:
        """The roots of a transition: state nodes, then action nodes."""
        return self._state_nodes + self._action_nodes

    @property
    def output_nodes(self) -> tuple[Node, ...]:
        """The next-state nodes (same names and dimensions as the state nodes)."""
        return self._state_nodes

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.input_nodes)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(n.name + "'" for n in self.output_nodes)

    @property
    def n_inputs(self) -> int:
        return len(self.input_nodes)

    @property
    def n_outputs(self) -> int:
        return len(self.output_nodes)

    @property
    def state_dim(self) -> int:
        return self._state_dim

    @property
    def action_dim(self) -> int:
        return self._action_dim

    @property
    def input_dim(self) -> int:
        return self._state_dim + self._action_dim

    @property
    def graph(self) -> NDArray[np.bool_]:
        """The sparsest valid graph, read-only ``(n_inputs, n_outputs)`` bool."""
        return self._graph

    def node(self, name: str) -> Node:
        """The input node called ``name`` (a trailing ``'`` names the output copy)."""
        for n in self.input_nodes:
            if n.name == name.rstrip("'"):
                return n
        raise StructureError(f"unknown node {name!r}; nodes are {list(self.input_names)}")

    # ----------------------------------------------------------------- parent sets
    def parents(self, output: str | int) -> tuple[str, ...]:
        """Names of the parents of one output node in the sparsest graph."""
        j = output if isinstance(output, int) else self._output_index(output)
        return tuple(self.input_names[i] for i in np.flatnonzero(self._graph[:, j]))

    @property
    def parent_sets(self) -> tuple[tuple[str, ...], ...]:
        """The distinct parent sets of the output nodes, in output order."""
        seen: dict[tuple[str, ...], None] = {}
        for j in range(self.n_outputs):
            seen.setdefault(self.parents(j), None)
        return tuple(seen)

    def input_dims(self, names: Sequence[str]) -> NDArray[np.int64]:
        """Indices into the flat input vector ``[state, action]`` of the named input nodes."""
        if isinstance(names, str):
            raise StructureError("input_dims takes a sequence of node names, not one string")
        dims: list[int] = []
        for name in names:
            dims.extend(self.node(name).flat_dims)
        return np.asarray(dims, dtype=np.int64)

    def _output_index(self, name: str) -> int:
        base = name.rstrip("'")
        for j, n in enumerate(self.output_nodes):
            if n.name == base:
                return j
        raise StructureError(f"unknown output node {name!r}; outputs are {list(self.output_names)}")

    # ----------------------------------------------------------------- masks
    def validate_graph(self, graph: ArrayLike, *, name: str = "mask") -> NDArray[np.bool_]:
        """Return ``graph`` as a bool array of shape ``(..., n_inputs, n_outputs)`` or raise."""
        arr = np.asarray(graph)
        shape = (self.n_inputs, self.n_outputs)
        if arr.ndim < 2 or arr.shape[-2:] != shape:
            raise StructureError(
                f"{name} must have shape (..., {shape[0]}, {shape[1]}) (inputs "
                f"{list(self.input_names)} x outputs {list(self.output_names)}), got {arr.shape}"
            )
        if arr.dtype != np.bool_:
            if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
                raise StructureError(f"{name} must hold only 0/1 or booleans")
            arr = arr.astype(np.bool_)
        return arr

    def dim_mask(self, node_mask: ArrayLike) -> NDArray[np.bool_]:
        """Expand a node-level mask ``(..., n_inputs, n_outputs)`` to dimensions.

        The result has shape ``(..., input_dim, state_dim)``: entry ``[i, j]`` says that flat
        input dimension ``i`` may cause next-state dimension ``j``.
        """
        mask = self.validate_graph(node_mask)
        rows = np.empty(self.input_dim, dtype=np.int64)
        for i, n in enumerate(self.input_nodes):
            rows[list(n.flat_dims)] = i
        cols = np.empty(self.state_dim, dtype=np.int64)
        for j, n in enumerate(self.output_nodes):
            cols[list(n.dims)] = j
        return mask[..., rows[:, None], cols[None, :]]

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (stored in dataset metadata)."""
        return {
            "state_nodes": {n.name: list(n.dims) for n in self._state_nodes},
            "action_nodes": {n.name: list(n.dims) for n in self._action_nodes},
            "graph": self._graph.astype(int).tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CausalStructure:
        """Inverse of `to_dict`."""
        try:
            return cls(data["state_nodes"], data["action_nodes"], data["graph"])
        except KeyError as err:
            raise StructureError(f"causal structure description lacks key {err}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CausalStructure) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        sets = ", ".join("(" + ", ".join(p) + ")" for p in self.parent_sets)
        return (
            f"CausalStructure(inputs={list(self.input_names)}, "
            f"outputs={list(self.output_names)}, parent_sets=[{sets}])"
        )

    def describe(self) -> str:
        """A small text table of the sparsest graph, for CLIs and notebooks."""
        width = max(len(n) for n in self.input_names + self.output_names) + 1
        head = " " * width + " ".join(f"{o:>{width}}" for o in self.output_names)
        rows = [
            f"{name:<{width}}" + " ".join(f"{int(v):>{width}}" for v in self._graph[i])
            for i, name in enumerate(self.input_names)
        ]
        return "\n".join([head, *rows])
