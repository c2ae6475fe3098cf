import subprocess
import sys

import pytest

NOTICE = "Gym has been unmaintained"


def _stderr(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stderr


def test_sb3_imported_after_the_quiet_import_prints_no_gym_notice():
    pytest.importorskip("gym")  # the notice exists only where the legacy package is installed
    assert NOTICE in _stderr("import stable_baselines3.common.vec_env")  # the problem
    quiet = "from causal_envs.core.legacy_gym import quiet_legacy_gym\nquiet_legacy_gym()\n"
    assert NOTICE not in _stderr(quiet + "import stable_baselines3.common.vec_env")
