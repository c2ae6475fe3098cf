"""Dataset providers: how env.get_dataset() reaches the dataset layer without an import."""

import numpy as np
import pytest

from causal_envs.core import OfflineDatasetMixin, dataset_provider, register_dataset_provider


def test_an_env_family_without_a_provider_is_told_which_families_have_one():
    class Orphan(OfflineDatasetMixin):
        dataset_family = "no-such-family"

    with pytest.raises(LookupError, match=r"no dataset provider .* 'no-such-family'.*'nav2d'"):
        Orphan().get_dataset()


def test_a_registered_provider_is_imported_on_first_use_and_called_with_the_env():
    register_dataset_provider("test-family", "dataset", "numpy:asarray")
    assert dataset_provider("test-family") is np.asarray

    class Env(OfflineDatasetMixin):
        dataset_family = "test-family"

    with pytest.raises(TypeError):  # numpy.asarray does not take seed=...: it was called
        Env().get_dataset(seed=3)


@pytest.mark.parametrize(
    ("kind", "entry", "match"),
    [("datasets", "a:b", "kind must be"), ("dataset", "no_colon", "module:function")],
)
def test_bad_registrations_are_refused(kind, entry, match):
    with pytest.raises(ValueError, match=match):
        register_dataset_provider("x", kind, entry)
