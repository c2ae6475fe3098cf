"""Property-based tests (Hypothesis) of the arguments a user types: contexts, a sequence env's
options and a download manifest either work or raise this package's error, naming what is
wrong. Never another exception."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import causal_envs  # noqa: F401  (registers the envs)
from causal_envs.context import ContextualEnv
from causal_envs.datasets import DatasetError, remote
from causal_envs.tasks import make_sequence

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples every run: never flaky
)
ERRORS = (ValueError, TypeError, KeyError)

values = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=4),
    st.none(),
    st.lists(st.integers(-3, 3), max_size=3),
)
keys = st.one_of(st.integers(-2, 3), st.text(max_size=3), st.booleans(), st.none())


@FUZZ
@given(
    contexts=st.one_of(
        st.dictionaries(keys, st.dictionaries(st.sampled_from(["gravity", "g", "x"]), values)),
        st.lists(st.dictionaries(st.just("gravity"), values), max_size=2),
        values,
    ),
    features=st.one_of(st.lists(st.sampled_from(["gravity", "masscart", "g"])), st.text()),
)
def test_contexts_either_work_or_raise_a_named_error(contexts, features):
    try:
        env = ContextualEnv("CausalCartPole-v0", contexts, features)
    except ERRORS:
        return
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and info["context_id"] in env.contexts
    assert all(isinstance(k, int) and k >= 0 for k in env.contexts)


@FUZZ
@given(
    steps=st.one_of(values, st.lists(values, min_size=4, max_size=4)),
    fixed=values,
)
def test_sequence_env_options_either_work_or_raise_a_named_error(steps, fixed):
    seq = make_sequence("cartpole", obs_type="state")
    try:
        env = seq.env(steps_per_task=steps, fixed_spaces=fixed)
    except ERRORS:
        return
    assert env.fixed_spaces in (True, False)
    assert env.steps_per_task is None or all(
        isinstance(s, int) and s >= 1 for s in env.steps_per_task
    )


entries = st.one_of(
    st.fixed_dictionaries({"path": st.text(max_size=5), "bytes": values, "sha256": values}),
    values,
)


@pytest.fixture(scope="module")
def manifest_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("manifests")


@FUZZ
@given(
    archive=st.one_of(
        st.fixed_dictionaries({"file": st.text(max_size=5), "bytes": values, "sha256": values}),
        values,
    ),
    files=st.one_of(st.lists(entries, max_size=3), values),
)
def test_a_malformed_manifest_is_one_dataset_error(manifest_dir, archive, files):
    manifest = {
        "format": remote.ARCHIVE_FORMAT,
        "format_version": remote.ARCHIVE_VERSION,
        "dataset": "nav2d/empirical",
        "seed": 0,
        "dataset_id": "causal-envs/nav2d/empirical-v0",
        "archive": archive,
        "files": files,
    }
    path = manifest_dir / "m.json"
    path.write_text(json.dumps(manifest, allow_nan=True))
    try:
        got = remote._fetch_manifest(
            path.as_uri(), "nav2d/empirical", 0, "causal-envs/nav2d/empirical-v0"
        )
    except DatasetError:
        return
    size = got["archive"]["bytes"]  # what fetch_archive then reads: all well-formed
    assert isinstance(size, int) and size >= 0 and int(got["archive"]["sha256"], 16) >= 0
    assert all(isinstance(f["bytes"], int) and len(f["sha256"]) == 64 for f in got["files"])
    assert np.all([isinstance(f["path"], str) for f in got["files"]])
