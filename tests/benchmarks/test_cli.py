import subprocess
import sys

import pytest

from benchmarks.cli import _PROFILE_SOURCES


def test_no_benchmarks_help_imports_torch():
    # the profiles' help is read from torch-free modules: every `bench NAME --help` is quick
    code = (
        "import sys\n"
        "from benchmarks.cli import build_parser\n"
        f"for name in {sorted(_PROFILE_SOURCES)!r}:\n"
        "    try:\n"
        "        build_parser().parse_args(['bench', name, '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    assert 'torch' not in sys.modules, name\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_profile_help_lists_each_profile_with_its_description_and_a_bad_one_names_the_choices(
    capsys,
):
    from benchmarks.cli import build_parser
    from benchmarks.csr_profiles import PROFILES_BY_BENCH

    profiles = PROFILES_BY_BENCH["csr-cartpole"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "csr-cartpole", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for name, profile in profiles.items():
        assert f"{name}: {' '.join(profile.description.split())}" in shown
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "csr-cartpole", "--profile", "nope"])
    choices = ", ".join(f"'{name}'" for name in PROFILES_BY_BENCH["csr-cartpole"])
    assert f"invalid choice: 'nope' (choose from {choices})" in capsys.readouterr().err
    args = build_parser().parse_args(["bench", "csr-cartpole", "--profile", "smoke"])
    assert args.profile == "smoke"
