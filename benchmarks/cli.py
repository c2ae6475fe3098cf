"""The ``causal-envs`` console script: data verbs from `causal_envs.cli` plus ``bench``.

```text
causal-envs list
causal-envs render ENV_ID --out strip.png
causal-envs dataset generate|info|plot|list ...
causal-envs augment nav2d/empirical [--methods mocoda-u,...] [--profile quick|paper]
causal-envs bench env-speed [--quick]
causal-envs bench dataset-download [--dataset NAME] [--quick]
causal-envs bench dataset-card [--dataset NAME ...] [--all]
causal-envs bench sb3-vec-env [--quick]
causal-envs bench csr-detection --agent SOURCE.pt [SOURCE.pt ...] [--study probes [--quick]]
causal-envs bench csr-detection-curves [--profile cartpole|coinrun|pong|paper]
causal-envs bench paper-cost [--device cuda]
causal-envs bench gpu-check --out DIR [--dry-run] [--device cuda] [--only NAME]
causal-envs bench ensemble-step [--profile paper|quick] [--device cuda]
causal-envs bench csr-step [--sizes quick,paper,paper-games] [--device cuda]
causal-envs bench mocoda-model-error [--profile quick|paper]
causal-envs bench mocoda-nav2d [--profile quick|paper] [--no-crosscheck]
causal-envs bench mocoda-hooksweep2 [--profile quick|paper]
causal-envs bench mocoda-online [--profile quick|smoke] [--workers 2]
causal-envs bench csr-cartpole|csr-synthetic|csr-coinrun|csr-atari [--profile quick|paper]
causal-envs bench csr-ablation [--profile quick|smoke] [--workers 2]
causal-envs results render [--check]
```
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator, Mapping, Sequence

from augment.cli import add_device_argument
from augment.cli import register as register_augment_verb
from benchmarks import provenance
from benchmarks.render import RecordError
from benchmarks.results import output_dir
from benchmarks.runner import BACKENDS, RunError, parse_cell_filter, parse_seeds
from causal_envs import __version__
from causal_envs.cli import USER_ERRORS, non_negative_int
from causal_envs.cli import register as register_data_verbs
from causal_envs.core.legacy_gym import quiet_legacy_gym
from causal_envs.datasets import DATASETS
from causal_envs.tasks.atari import ATARI_TASKS

__all__ = ["build_parser", "main"]

#: a benchmark's profiles as ``--profile`` shows them: name -> one-line description
Profiles = Mapping[str, str] | None


def _bench_env_speed(args: argparse.Namespace) -> None:
    from benchmarks import env_speed  # deferred: torch & co. load only to run

    env_speed.main(quick=args.quick)


def _bench_dataset_download(args: argparse.Namespace) -> None:
    from benchmarks import dataset_download  # deferred: generators load only to run

    dataset_download.main(args.dataset, seed=args.seed, quick=args.quick)


def _dataset_download_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    p.add_argument(
        "--dataset",
        default=None,
        choices=sorted(DATASETS),
        metavar="NAME",
        help="the dataset to generate and download (default hooksweep2/expert; "
        "--quick: nav2d/empirical)",
    )
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="the dataset's seed (default 0)"
    )
    _quick_arg(p, profiles)


def _bench_dataset_card(args: argparse.Namespace) -> None:
    from benchmarks import dataset_card  # deferred: generators load only to run

    dataset_card.main(args.dataset, include_large=args.all)


def _dataset_card_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    p.add_argument(
        "--dataset",
        action="append",
        choices=sorted(DATASETS),
        metavar="NAME",
        help="a dataset to describe (repeat for more; default: every named dataset but "
        "hooksweep2/expert)",
    )
    p.add_argument(
        "--all", action="store_true", help="include hooksweep2/expert (about 20 min more)"
    )


def _bench_sb3_vec_env(args: argparse.Namespace) -> None:
    from benchmarks import sb3_vec_env  # deferred: torch & co. load only to run

    sb3_vec_env.main(quick=args.quick)


def _bench_csr_detection(args: argparse.Namespace) -> None:
    from benchmarks import csr_detection  # deferred: torch & co. load only to run
    from causal_envs.core.checkpoint import CheckpointError  # deferred: it imports torch

    try:
        csr_detection.main(args.agent, study=args.study, quick=args.quick)
    except CheckpointError as err:
        raise RunError(f"--agent: {err}") from None


def _csr_detection_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    p.add_argument(
        "--agent",
        required=True,
        nargs="+",
        help="source-task CSR/AdaRL checkpoints of bench csr-cartpole or csr-synthetic "
        "(outputs/benchmarks/csr_cartpole_quick/<method>_seed<k>_source.pt)",
    )
    p.add_argument(
        "--study",
        choices=("score", "probes"),
        default="score",
        help="score: every case of each agent's sequence (and CartPole shifts) decided with "
        "the frozen constants, beside the paper's rule and always/never expand (default); "
        "probes: the probe comparison the constants were chosen with (one agent)",
    )
    _quick_arg(p, profiles)


def _bench_paper_cost(args: argparse.Namespace) -> None:
    from benchmarks import paper_cost  # deferred: torch & co. load only to run

    paper_cost.main(device=args.device)


def _bench_ensemble_step(args: argparse.Namespace) -> None:
    from benchmarks import ensemble_step  # deferred: torch & co. load only to run

    ensemble_step.main(profile=args.profile, device=args.device)


def _ensemble_step_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    p.add_argument(
        "--profile",
        choices=("paper", "quick"),
        default="paper",
        help="paper: the authors' Nav2D models (2x256, batch 512; default); quick: the fast "
        "default models (2x128)",
    )
    add_device_argument(p)


def _bench_csr_step(args: argparse.Namespace) -> None:
    from benchmarks import csr_step  # deferred: torch & co. load only to run

    csr_step.main(sizes=tuple(args.sizes.split(",")), device=args.device)


def _csr_step_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    p.add_argument(
        "--sizes",
        default="quick,paper,paper-games",
        help="comma-separated: quick (csr-cartpole --profile pixels), paper (csr-cartpole's "
        "paper profile), paper-games (CSR Table 5's CoinRun/Atari sizes)",
    )
    add_device_argument(p)


def _bench_model_error(args: argparse.Namespace) -> None:
    from benchmarks import mocoda_model_error  # deferred: torch & co. load only to run

    mocoda_model_error.main(profile=args.profile, fresh=args.fresh, **_runner_kwargs(args))


def _bench_nav2d(args: argparse.Namespace) -> None:
    from benchmarks import mocoda_nav2d  # deferred: torch & co. load only to run

    mocoda_nav2d.main(
        profile=args.profile,
        fresh=args.fresh,
        crosscheck=not args.no_crosscheck,
        **_runner_kwargs(args),
    )


def _runner_kwargs(args: argparse.Namespace) -> dict:
    return {
        "seeds": parse_seeds(args.seeds),
        "where": parse_cell_filter(args.cells),
        "workers": args.workers,
        "backend": args.backend,
        "address": args.address,
        "device": args.device,
        "allow_mixed": args.allow_mixed,
    }


def _bench_hooksweep2(args: argparse.Namespace) -> None:
    from benchmarks import mocoda_hooksweep2  # deferred: torch & co. load only to run

    mocoda_hooksweep2.main(profile=args.profile, fresh=args.fresh, **_runner_kwargs(args))


def _bench_online(args: argparse.Namespace) -> None:
    from benchmarks import mocoda_online  # deferred: torch & co. load only to run

    mocoda_online.main(profile=args.profile, fresh=args.fresh, **_runner_kwargs(args))


def _bench_csr(name: str):
    def run(args: argparse.Namespace) -> None:
        from benchmarks import csr  # deferred: torch & co. load only to run

        csr.main(
            name,
            profile=args.profile,
            fresh=args.fresh,
            game=getattr(args, "game", None),
            **_runner_kwargs(args),
        )

    return run


def _csr_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    _profile_args(p, ("smoke",), profiles)
    _runner_args(p)


def _coinrun_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    _profile_args(p, (), profiles)
    _runner_args(p)


def _atari_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    _profile_args(p, (), profiles)
    _runner_args(p)
    p.add_argument(
        "--game",
        choices=tuple(ATARI_TASKS),
        default=None,
        help="the Atari game (default: Pong)",
    )


def _nav2d_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    _profile_args(p, ("focus", "smoke"), profiles)
    p.add_argument(
        "--no-crosscheck", action="store_true", help="skip the d3rlpy TD3+BC cross-check"
    )
    _runner_args(p)


def _hooksweep2_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    _profile_args(p, ("focus", "smoke"), profiles)
    _runner_args(p)


def _model_error_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    _profile_args(p, ("smoke",), profiles)
    _runner_args(p)


def _bench_detection_curves(args: argparse.Namespace) -> None:
    from benchmarks import csr_detection_curves  # deferred: torch & co. load only to run

    csr_detection_curves.main(profile=args.profile, fresh=args.fresh, **_runner_kwargs(args))


def _detection_curves_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    _profile_args(p, (), profiles, default="cartpole")
    _runner_args(p)


def _bench_ablation(args: argparse.Namespace) -> None:
    from benchmarks import csr_ablation  # deferred: torch & co. load only to run

    csr_ablation.main(profile=args.profile, fresh=args.fresh, **_runner_kwargs(args))


def _quick_or_smoke_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    _profile_args(p, ("smoke",), profiles)
    _runner_args(p)


def _runner_args(p: argparse.ArgumentParser) -> None:
    """The shared runner's selection and execution options."""
    p.add_argument(
        "--seeds",
        default=None,
        help="seeds to run, any of them, e.g. 5-9 or 0,2 (default: the profile's list)",
    )
    p.add_argument(
        "--cells",
        default=None,
        metavar="FILTER",
        help="only cells matching name=value[,value][;name=value], e.g. agent=bcq;dataset=emp",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="cells run in this many processes (or, with --backend ray and no --address, a "
        "local Ray instance with this many CPUs), one torch thread per CPU a cell declares",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="local: this machine's processes (default); ray: Ray tasks (the cluster extra)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="with --backend ray: the Ray cluster to join (e.g. 127.0.0.1:6379, after `ray "
        "start --head` on the head node)",
    )
    p.add_argument(
        "--allow-mixed",
        action="store_true",
        help="merge stored cells made by other code (commit) or on another machine with this "
        "run's, listing them in the results (refused by default)",
    )
    add_device_argument(p)


def _profile_args(
    p: argparse.ArgumentParser,
    extra: tuple[str, ...] = (),
    profiles: Profiles = None,
    default: str = "quick",
) -> None:
    """``--profile`` (``default`` unless given); with the benchmark's ``profiles`` (name ->
    description), the choices are its profiles and the help lists each one's description."""
    if profiles is None:
        p.add_argument(
            "--profile",
            choices=("quick", *extra, "paper"),
            default="quick",
            help="quick: minutes on 2 CPU cores; paper: the papers' budgets",
        )
    else:
        p.add_argument(
            "--profile", action=_ProfileAction, choices=profiles, default=default, metavar="PROFILE"
        )
    p.add_argument("--fresh", action="store_true", help="ignore finished cells of a previous run")


def _paper_cost_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    add_device_argument(p)


def _bench_gpu_check(args: argparse.Namespace) -> None:
    from benchmarks import gpu_check  # deferred: it imports the runner's provenance only

    gpu_check.main(args.out, device=args.device, dry_run=args.dry_run, only=args.only)


def _gpu_check_args(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    p.add_argument("--out", required=True, help="the folder for every step's JSON, plot and log")
    p.add_argument("--dry-run", action="store_true", help="print the commands; run nothing")
    p.add_argument(
        "--only", default=None, metavar="NAME", help="only the steps whose name contains NAME"
    )
    add_device_argument(p, default="cuda", help="the device every step runs on (cuda)")


def _quick_arg(p: argparse.ArgumentParser, profiles: Profiles = None) -> None:
    p.add_argument("--quick", action="store_true", help="a short run (seconds)")


class _LazyProfiles(Mapping[str, str]):
    """A benchmark module's profiles, name -> description, read when first asked for: the
    parser is built without importing any benchmark, and a module (torch with it, for most) is
    imported only by a command that names its benchmark's profiles or shows their help."""

    def __init__(self, module: str, bench: str | None = None) -> None:
        self.module, self.bench = module, bench
        self._loaded: dict[str, str] | None = None

    def _profiles(self) -> dict[str, str]:
        if self._loaded is None:
            mod = importlib.import_module(f"benchmarks.{self.module}")
            profiles = mod.PROFILES_BY_BENCH[self.bench] if self.bench else mod.PROFILES
            self._loaded = {k: p.description for k, p in profiles.items()}
        return self._loaded

    def __getitem__(self, name: str) -> str:
        return self._profiles()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._profiles())

    def __len__(self) -> int:
        return len(self._profiles())


class _ProfileAction(argparse.Action):
    """``--profile NAME`` whose help, each profile with its description, is written only when
    help is shown (argparse reads ``help`` then; the choices load the profiles)."""

    @property
    def help(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.choices.items()).replace("%", "%%")

    @help.setter
    def help(self, value: str | None) -> None:
        pass  # written from the profiles' descriptions

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)


#: benchmark name -> the module and key its profiles are read from
_PROFILE_SOURCES = {
    "mocoda-nav2d": ("mocoda_profiles", "mocoda-nav2d"),
    "mocoda-hooksweep2": ("mocoda_profiles", "mocoda-hooksweep2"),
    "mocoda-model-error": ("mocoda_profiles", "mocoda-model-error"),
    "mocoda-online": ("mocoda_profiles", "mocoda-online"),
    "csr-ablation": ("csr_ablation", None),
    "csr-detection-curves": ("csr_detection_curves", None),
    "csr-cartpole": ("csr_profiles", "csr-cartpole"),
    "csr-synthetic": ("csr_profiles", "csr-synthetic"),
    "csr-coinrun": ("csr_profiles", "csr-coinrun"),
    "csr-atari": ("csr_profiles", "csr-atari"),
}

#: benchmark name -> (run, add its arguments, help)
COMMANDS = {
    "env-speed": (_bench_env_speed, _quick_arg, "steps/s of the envs beside CartPole-v1"),
    "dataset-download": (
        _bench_dataset_download,
        _dataset_download_args,
        "a dataset downloaded from a mirror (served on 127.0.0.1) beside generating it",
    ),
    "dataset-card": (
        _bench_dataset_card,
        _dataset_card_args,
        "what each named dataset holds (counts, terminals, reference scores, expert success)",
    ),
    "csr-detection": (
        _bench_csr_detection,
        _csr_detection_args,
        "CSR's detection scored out of sample on source agents, beside the paper's rule and "
        "always/never expand (--study probes: the probe comparison)",
    ),
    "csr-detection-curves": (
        _bench_detection_curves,
        _detection_curves_args,
        "CSR's detection step across each task switch: L_pred while theta is re-estimated, "
        "from pixels (CartPole, CoinRun, Pong)",
    ),
    "gpu-check": (
        _bench_gpu_check,
        _gpu_check_args,
        "on one GPU: every smoke profile, the paper-size costs and the pixel detection study, "
        "into one folder (--dry-run lists the commands)",
    ),
    "sb3-vec-env": (
        _bench_sb3_vec_env,
        _quick_arg,
        "SB3 PPO on the native vector envs beside DummyVecEnv and SubprocVecEnv",
    ),
    "mocoda-nav2d": (
        _bench_nav2d,
        _nav2d_args,
        "MoCoDA's 2D Navigation experiment: TD3-BC/BCQ/CQL on EMP/DYN/MOCODA/MOCODA-U/RAND",
    ),
    "mocoda-hooksweep2": (
        _bench_hooksweep2,
        _hooksweep2_args,
        "MoCoDA's HookSweep2 experiment: TD3-BC/BCQ on EMP/MOCODA/MOCODA-P, sweep both boxes",
    ),
    "csr-cartpole": (
        _bench_csr("csr-cartpole"),
        _csr_args,
        "CSR's CartPole sequence: CSR vs AdaRL, Dreamer and DQN (Table 1)",
    ),
    "csr-synthetic": (
        _bench_csr("csr-synthetic"),
        _csr_args,
        "CSR's synthetic POMDP sequence: detection and expansion against the ground truth",
    ),
    "csr-coinrun": (
        _bench_csr("csr-coinrun"),
        _coinrun_args,
        "CSR's CoinRun sequence (easy -> unseen levels -> hard), pixels",
    ),
    "csr-atari": (
        _bench_csr("csr-atari"),
        _atari_args,
        "CSR's Atari sequences (modes and difficulties), pixels",
    ),
    "csr-step": (
        _bench_csr_step,
        _csr_step_args,
        "where an update of CSR's pixel world model and policy spends its time: FLOPs, "
        "seconds, float32 and bf16, against the machine's product rate",
    ),
    "paper-cost": (
        _bench_paper_cost,
        _paper_cost_args,
        "estimate each paper profile's cost from rates measured on this machine (~5 min)",
    ),
    "ensemble-step": (
        _bench_ensemble_step,
        _ensemble_step_args,
        "where a training step of MoCoDA's dynamics ensembles spends its time, against the "
        "machine's product rate and the authors' layout (~3 min)",
    ),
    "mocoda-model-error": (
        _bench_model_error,
        _model_error_args,
        "MoCoDA's model-error table on 2D Navigation, with the pipeline's timings",
    ),
    "mocoda-online": (
        _bench_online,
        _quick_or_smoke_args,
        "SAC with MoCoDA's replay buffer beside plain SAC on Nav2D and two masses",
    ),
    "csr-ablation": (
        _bench_ablation,
        _quick_or_smoke_args,
        "one change at a time to CSR's world model on the synthetic source task, beside CSR",
    ),
}


def _results_render(args: argparse.Namespace) -> None:
    from benchmarks.render import PAGES, render_pages  # deferred: reads the records

    changed = render_pages(check=args.check)
    for page, blocks in changed.items():
        verb = "differs from its records" if args.check else "rendered"
        for spec in blocks:
            print(f"{page}: {spec}: {verb}")
    if args.check and changed:
        raise RunError(
            "the pages above differ from their committed records: run `causal-envs results "
            "render` and commit the result"
        )
    if not changed:
        print(f"{', '.join(PAGES)}: every block matches its records")


def build_parser() -> argparse.ArgumentParser:
    """The command's parser. It imports no benchmark: a benchmark's profiles, the choices and
    help of its ``--profile``, load when a command names one or asks for that help."""
    parser = argparse.ArgumentParser(
        prog="causal-envs",
        description="Causal RL environments, their datasets, MoCoDA and the papers' benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"causal-envs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_data_verbs(sub)
    register_augment_verb(sub)
    bench = sub.add_parser("bench", help="run a benchmark")
    names = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, (func, add_args, helptext) in COMMANDS.items():
        b = names.add_parser(name, help=helptext)
        source = _PROFILE_SOURCES.get(name)
        add_args(b, _LazyProfiles(*source) if source else None)
        b.set_defaults(func=func)
    results = sub.add_parser("results", help="the docs' result tables, from the records")
    verbs = results.add_subparsers(dest="verb", required=True, metavar="VERB")
    render = verbs.add_parser(
        "render",
        help="rebuild the result tables of README.md and docs/ from docs/results/*.json",
    )
    render.add_argument(
        "--check", action="store_true", help="change nothing; fail if a table differs"
    )
    render.set_defaults(func=_results_render)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 error, 2 bad arguments)."""
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    if given and given[0].startswith("-") and given[0] not in ("-h", "--help", "--version"):
        parser.error(f"unrecognized option {given[0]} (options go after a COMMAND)")
    args = parser.parse_args(argv)
    try:
        if args.command == "bench":  # a results directory that cannot be, refused up front
            output_dir()
            provenance.code()  # the code as the run starts: later edits are not its own
            quiet_legacy_gym()  # SB3 and procgen import gym: its notice is not the run's
        args.func(args)
    except (*USER_ERRORS, RunError, RecordError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`causal-envs list | head`): not an error
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
