"""The legacy ``gym`` package, imported once without its notice.

procgen's gym3 interface and Stable-Baselines3 (its ``patch_gym``) import the legacy ``gym``
package where it is installed (procgen and d3rlpy install it), and ``gym`` prints a four-line
"unmaintained" notice to stderr when imported. This package never uses ``gym`` itself, so the
places that lead to that import (the CoinRun env, the command line's benchmark runs and
their worker processes) import it here first, quietly: later imports print nothing.
"""

from __future__ import annotations

import contextlib
import io
import sys

__all__ = ["quiet_legacy_gym"]


def quiet_legacy_gym() -> None:
    """Import ``gym`` (if installed) with its import notice kept from stderr."""
    if "gym" in sys.modules:
        return
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            import gym  # noqa: F401  # deferred: only to silence its import notice
        except ImportError:
            pass
