"""The MoCoDA benchmarks' profiles: the budgets, seeds and settings of `mocoda-nav2d`,
`mocoda-hooksweep2`, `mocoda-model-error` and `mocoda-online`.

A module of its own, without torch, so that the command line shows the profiles (``causal-envs
bench mocoda-nav2d --help``) in a fraction of a second; each benchmark module runs its own.
What can only be checked against torch-side code (the MoCoDA buffer's keywords, the agents'
settings) is checked when a run starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from augment import DynamicsConfig, TrainingConfig
from benchmarks.runner import check_profile
from causal_envs.core import check_int, check_real

__all__ = [
    "HOOKSWEEP2_DATASETS",
    "NAV2D_DATASETS",
    "OFFLINE_AGENTS",
    "ONLINE_ENVS",
    "ONLINE_METHODS",
    "PROFILES_BY_BENCH",
    "HookSweep2Profile",
    "ModelErrorProfile",
    "Nav2DProfile",
    "OnlineProfile",
]

#: the offline agents' names (``agents.AGENTS``' keys)
OFFLINE_AGENTS = ("td3bc", "bcq", "cql")


# ----------------------------------------------------------------------------- mocoda-nav2d
#: the Nav2D datasets (cell coordinate ``dataset``), the MoCoDA paper's five (Sec. 5.1)
NAV2D_DATASETS = ("emp", "dyn", "mocoda", "mocoda-u", "rand")


#: the parent models a Nav2D profile may use (see `Nav2DProfile.parents`)
PARENTS = ("ours", "authors")


@dataclass(frozen=True, kw_only=True)
class Nav2DProfile:
    """One budget of `mocoda-nav2d`."""

    description: str
    seeds: tuple[int, ...]
    #: the dynamics models (architecture set per use)
    models: DynamicsConfig
    n_updates: int
    eval_every: int
    eval_episodes: int
    total_size: int
    agents: tuple[str, ...]
    hidden: tuple[int, ...]
    crosscheck_updates: int
    datasets: tuple[str, ...] = NAV2D_DATASETS
    #: agent name -> config overrides (e.g. a smaller BCQ proposal count for the main job)
    agent_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: the parent model: "ours" (`augment.MoCoDAConfig`'s defaults) or "authors" (their code's:
    #: `augment.MoCoDAConfig.with_authors_parents`)
    parents: str = "ours"

    def __post_init__(self) -> None:
        check_profile(
            self,
            positive=("n_updates", "eval_every", "eval_episodes", "total_size"),
            non_negative=("crosscheck_updates",),
            choices={"agents": OFFLINE_AGENTS, "datasets": NAV2D_DATASETS, "parents": PARENTS},
        )


#: the fast dynamics models (DynamicsConfig's defaults): 2x128 on raw inputs, 20 epochs of
#: batch 256, cosine from 1e-3
FAST_MODELS = DynamicsConfig()
#: the authors' dynamics models: 2x256, 600 epochs of 29 steps at a constant 1e-4
AUTHORS_MODELS = DynamicsConfig.authors_nav2d()

#: every agent on every dataset, one seed, 3k updates of 2x256 networks, the fast models
_FULL = Nav2DProfile(
    description="1 seed; TD3-BC, BCQ and CQL 2x256, 3k updates, on all five datasets; the "
    "d3rlpy cross-check; the fast dynamics models",
    seeds=(0,),
    models=FAST_MODELS,
    n_updates=3_000,
    eval_every=1_000,
    eval_episodes=100,
    total_size=200_000,
    agents=("td3bc", "bcq", "cql"),
    hidden=(256, 256),
    crosscheck_updates=3_000,
)

NAV2D_PROFILES: dict[str, Nav2DProfile] = {
    # the main job: the full profile's budget for BCQ alone, on the three datasets that show
    # MoCoDA's effect, with a cheaper proposer (it fits in 5 minutes on 2 cores)
    "quick": replace(
        _FULL,
        description="the main job: 1 seed; BCQ 2x256 (10 proposals, proposer 500 steps), 3k "
        "updates, on EMP, MOCODA and MOCODA-U; the fast dynamics models",
        agents=("bcq",),
        crosscheck_updates=0,
        datasets=("emp", "mocoda", "mocoda-u"),
        agent_settings={"bcq": {"n_proposals": 10, "mdn_steps": 500}},
    ),
    "full": _FULL,
    # TD3-BC needs more updates than the full profile gives it: EMP vs MOCODA(-U) at 15k
    "focus": Nav2DProfile(
        description="1 seed; TD3-BC 2x256, 15k updates; EMP, MOCODA, MOCODA-U",
        seeds=(0,),
        models=FAST_MODELS,
        n_updates=15_000,
        eval_every=2_500,
        eval_episodes=100,
        total_size=200_000,
        agents=("td3bc",),
        hidden=(256, 256),
        crosscheck_updates=15_000,
        datasets=("emp", "mocoda", "mocoda-u"),
    ),
    # TD3-BC at the paper's agent budget on the fast models' data: does lower model error
    # close the gap to the authors' 20.3 steps? bf16 products where the device has them
    # natively, float32 elsewhere (the fp32 control: --profile td3bc-paper-fp32); the
    # cross-check times both precisions against d3rlpy in one process
    "td3bc-paper": Nav2DProfile(
        description="3 seeds; TD3-BC 2x512 (bf16 products where native), batch 500, 25k "
        "updates; EMP and "
        "MOCODA-U; the fast dynamics models; d3rlpy cross-check 5k updates",
        seeds=(0, 1, 2),
        models=FAST_MODELS,
        n_updates=25_000,
        eval_every=2_500,
        eval_episodes=100,
        total_size=200_000,
        agents=("td3bc",),
        hidden=(512, 512),
        crosscheck_updates=5_000,
        datasets=("emp", "mocoda-u"),
        agent_settings={"td3bc": {"precision": "auto"}},
    ),
    "paper": Nav2DProfile(
        description="5 seeds; agents 2x512, 25k updates; the authors' dynamics models",
        seeds=(0, 1, 2, 3, 4),
        models=AUTHORS_MODELS,
        n_updates=25_000,
        eval_every=2_500,
        eval_episodes=100,
        total_size=200_000,
        agents=("td3bc", "bcq", "cql"),
        hidden=(512, 512),
        crosscheck_updates=25_000,
    ),
    "smoke": Nav2DProfile(
        description="seconds: checks the code, not the result (the test suite runs it)",
        seeds=(0,),
        models=DynamicsConfig(training=TrainingConfig(epochs=1)),
        n_updates=30,
        eval_every=15,
        eval_episodes=8,
        total_size=50_000,
        agents=("td3bc", "bcq", "cql"),
        hidden=(32, 32),
        crosscheck_updates=30,
        agent_settings={"bcq": {"mdn_steps": 20}},
    ),
}
# td3bc-paper's agents on the authors' parent model (uniform weights, diagonal covariances,
# truncation 2.5, out-of-space parents kept): like with like against the authors' 20.3 steps
NAV2D_PROFILES["authors-parents"] = replace(
    NAV2D_PROFILES["td3bc-paper"],
    description="5 seeds; TD3-BC 2x512 (bf16 products where native), batch 500, 25k updates; "
    "EMP and MOCODA-U from the authors' parent model; the fast dynamics models",
    seeds=(0, 1, 2, 3, 4),
    crosscheck_updates=0,
    parents="authors",
)
# the DYN control at the paper's agent budget: the 1-seed full grid has BCQ on DYN (the
# unfactored model's rollouts from data states) as good as on MOCODA-U, where the paper's DYN
# does not help; BCQ 2x512 for 25k updates on EMP, DYN, MOCODA and MOCODA-U
NAV2D_PROFILES["dyn-control"] = replace(
    NAV2D_PROFILES["td3bc-paper"],
    description="3 seeds; BCQ 2x512, 25k updates, on EMP, DYN, MOCODA and MOCODA-U; the fast "
    "dynamics models (the paper's DYN control at its agent budget)",
    agents=("bcq",),
    crosscheck_updates=0,
    datasets=("emp", "dyn", "mocoda", "mocoda-u"),
    agent_settings={},
)
#: the fp32 control of td3bc-paper: the same cells in float32 (e.g. ``--seeds 0``)
NAV2D_PROFILES["td3bc-paper-fp32"] = replace(
    NAV2D_PROFILES["td3bc-paper"],
    description="td3bc-paper's cells in float32: the control for its bf16 products",
    crosscheck_updates=0,
    agent_settings={},
)


# ----------------------------------------------------------------------------- mocoda-hooksweep2
#: the HookSweep2 datasets (cell coordinate ``dataset``) -> the augment method that makes each
HOOKSWEEP2_DATASETS = {"emp": "emp", "mocoda": "mocoda", "mocoda-p": "mocoda-u"}


@dataclass(frozen=True, kw_only=True)
class HookSweep2Profile:
    """One budget of `mocoda-hooksweep2`."""

    description: str
    seeds: tuple[int, ...]
    n_expert: int
    total_size: int
    model_hidden: tuple[int, ...]
    model_epochs: int
    model_lr: float
    #: the models' learning-rate schedule and arithmetic (see `augment.DynamicsConfig`)
    model_schedule: str = "constant"
    model_precision: str = "fp32"
    agents: tuple[str, ...]
    hidden: tuple[int, ...]
    n_updates: int
    eval_every: int
    eval_episodes: int
    datasets: tuple[str, ...] = tuple(HOOKSWEEP2_DATASETS)
    #: agent name -> config overrides; default: the authors' HookSweep2 settings
    agent_settings: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: AUTHORS_HOOKSWEEP2_AGENTS
    )

    def __post_init__(self) -> None:
        check_profile(
            self,
            positive=(
                "n_expert",
                "total_size",
                "model_epochs",
                "n_updates",
                "eval_every",
                "eval_episodes",
            ),
            choices={"datasets": tuple(HOOKSWEEP2_DATASETS)},
        )


def hooksweep2_models(p: HookSweep2Profile) -> DynamicsConfig:
    """The dynamics models HookSweep2 profile ``p`` trains: its hidden layers, epochs,
    learning rate, schedule and precision, in minibatches of 512."""
    return DynamicsConfig(
        hidden=p.model_hidden,
        training=TrainingConfig(
            batch_size=512,
            epochs=p.model_epochs,
            lr=p.model_lr,
            schedule=p.model_schedule,
            precision=p.model_precision,
        ),
    )


#: the authors' offline agents on HookSweep2 where they differ from the agents' defaults (their
#: Fetch script, spitis/mocoda): CQL's Q targets clipped to (-50, 0) and BCQ's behaviour model
#: pre-trained for 10k steps
AUTHORS_HOOKSWEEP2_AGENTS: Mapping[str, Mapping[str, Any]] = {
    "cql": {"target_clip": (-50.0, 0.0)},
    "bcq": {"mdn_steps": 10_000},
}
#: the quick profiles' agents: the authors' settings with BCQ's pre-training cut to 1k steps
#: (10k take about 11 minutes on one core, more than its 6k updates)
_QUICK_AGENTS = {**AUTHORS_HOOKSWEEP2_AGENTS, "bcq": {"mdn_steps": 1_000}}
_QUICK_DATA = {
    "n_expert": 60_000,
    "total_size": 240_000,
    "model_hidden": (256, 256),
    "model_epochs": 8,
    "model_lr": 1e-3,
    # measured on the focus data (seed 0): the local model's held-out NLL -2.98 against -2.16
    # with the constant schedule, and 30 s against 46 s to train
    "model_schedule": "cosine",
    "model_precision": "auto",  # bf16 where the device has it natively
}
HOOKSWEEP2_PROFILES: dict[str, HookSweep2Profile] = {
    "quick": HookSweep2Profile(
        description=(
            "1 seed; 60k expert transitions -> 240k; models 2x256, 8 epochs (cosine from 1e-3, "
            "bf16 products where native); agents 3x256, 6k updates"
        ),
        seeds=(0,),
        **_QUICK_DATA,
        agents=("td3bc", "bcq"),
        hidden=(256, 256, 256),
        n_updates=6_000,
        eval_every=2_000,
        eval_episodes=60,
        agent_settings=_QUICK_AGENTS,
    ),
    "paper": HookSweep2Profile(
        description=(
            "5 seeds; 1M expert transitions -> 5M; models 2x512 (160 passes = 4000 epochs of "
            "40k); agents 3x512, 1M updates"
        ),
        seeds=(0, 1, 2, 3, 4),
        n_expert=1_000_000,
        total_size=5_000_000,
        model_hidden=(512, 512),
        model_epochs=160,
        model_lr=2e-4,
        agents=("td3bc", "bcq", "cql"),
        hidden=(512, 512, 512),
        n_updates=1_000_000,
        eval_every=50_000,
        eval_episodes=100,
    ),
    # the paper's ratios at a tenth of its data: 100k expert transitions -> 500k, the models'
    # 160 passes over the data, TD3-BC's 100 passes over the augmented set (100k updates of
    # 500; 3x256 where the paper's agents are 3x512), 200 evaluation episodes; estimated at 40
    # minutes a cell on one core (about 25 ms an update), not yet run
    "reduced": HookSweep2Profile(
        description=(
            "3 seeds; 100k expert transitions -> 500k; models 2x512 (160 passes, lr 2e-4); "
            "TD3-BC 3x256, 100k updates; 200 evaluation episodes"
        ),
        seeds=(0, 1, 2),
        n_expert=100_000,
        total_size=500_000,
        model_hidden=(512, 512),
        model_epochs=160,
        model_lr=2e-4,
        agents=("td3bc",),
        hidden=(256, 256, 256),
        n_updates=100_000,
        eval_every=20_000,
        eval_episodes=200,
    ),
    "focus": HookSweep2Profile(
        description="the quick profile's data; TD3-BC 3x256, 40k updates; EMP and MOCODA-P",
        seeds=(0,),
        **_QUICK_DATA,
        agents=("td3bc",),
        hidden=(256, 256, 256),
        n_updates=40_000,
        eval_every=5_000,
        eval_episodes=60,
        datasets=("emp", "mocoda-p"),
        agent_settings=_QUICK_AGENTS,
    ),
    "smoke": HookSweep2Profile(
        description="seconds: checks the code, not the result (the test suite runs it)",
        seeds=(0,),
        n_expert=1_500,
        total_size=4_000,
        model_hidden=(32, 32),
        model_epochs=1,
        model_lr=1e-3,
        agents=("td3bc", "bcq"),
        hidden=(32, 32),
        n_updates=20,
        eval_every=10,
        eval_episodes=4,
        agent_settings={**AUTHORS_HOOKSWEEP2_AGENTS, "bcq": {"mdn_steps": 20}},
    ),
}


# ----------------------------------------------------------------------------- mocoda-model-error
#: the envs `mocoda-model-error` scores models on
MODEL_ERROR_ENVS = ("nav2d", "hooksweep2")


@dataclass(frozen=True, kw_only=True)
class ModelErrorProfile:
    """One budget of `mocoda-model-error`: the seeds, the dynamics models (the architecture is set
    per model) and the number of inputs each distribution is scored on."""

    description: str
    seeds: tuple[int, ...]
    models: DynamicsConfig
    n_eval: int
    #: the parent model whose samples (MOCODA, MOCODA-U) are scored: see `Nav2DProfile.parents`
    parents: str = "ours"
    #: the env (one of `MODEL_ERROR_ENVS`): 2D Navigation, or HookSweep2 on its scripted
    #: expert's source-task data (``n_expert`` transitions, ``data_ratio`` times as many in
    #: each generated dataset)
    env: str = "nav2d"
    n_expert: int = 60_000
    data_ratio: int = 4

    def __post_init__(self) -> None:
        check_profile(
            self,
            positive=("n_eval", "n_expert", "data_ratio"),
            choices={"parents": PARENTS, "env": MODEL_ERROR_ENVS},
        )


MODEL_ERROR_PROFILES: dict[str, ModelErrorProfile] = {
    "quick": ModelErrorProfile(
        description="the fast models (2x128 on raw inputs, 20 epochs of batch 256, cosine decay "
        "from lr 1e-3); 2 seeds",
        seeds=(0, 1),
        models=DynamicsConfig(),
        n_eval=5_000,
    ),
    "paper": ModelErrorProfile(
        description="the authors' models, budget and stopping rule (2x256, raw inputs, up to 600 "
        "epochs of 29 steps at lr 1e-4); 5 seeds",
        seeds=(0, 1, 2, 3, 4),
        models=DynamicsConfig.authors_nav2d(),
        n_eval=5_000,
    ),
    # the authors' budget with the hidden layers' products in bfloat16: the time and the error
    # beside the paper profile's float32 (e.g. --seeds 0 for both)
    "paper-bf16": ModelErrorProfile(
        description="the authors' models and budget, the hidden layers' products in bf16 (needs "
        "native bf16: a GPU, or a CPU with AVX-512 BF16 or AMX; elsewhere emulated, far slower); "
        "5 seeds",
        seeds=(0, 1, 2, 3, 4),
        models=DynamicsConfig.authors_nav2d(
            training=TrainingConfig.authors_nav2d(precision="bf16")
        ),
        n_eval=5_000,
    ),
    # the fast models scored on the authors' parent model's samples: like with like against
    # the authors' errors (anchor mocoda-nav2d-authors-model-error)
    "authors-parents": ModelErrorProfile(
        description="the fast models, scored on the authors' parent model's MOCODA and MOCODA-U "
        "(uniform weights, diagonal covariances, truncation 2.5, out-of-space parents kept); "
        "5 seeds",
        seeds=(0, 1, 2, 3, 4),
        models=DynamicsConfig(),
        n_eval=5_000,
        parents="authors",
    ),
    # HookSweep2: the mocoda-hooksweep2 quick profile's models and data, scored against the
    # simulator rebuilt from each state (HookSweep2Env.transition_fn)
    "hooksweep2": ModelErrorProfile(
        description="HookSweep2: the quick models (2x256, 8 epochs of batch 512, cosine from "
        "lr 1e-3, standardised inputs, bf16 products where native) on 60k expert transitions; "
        "1,000 inputs a distribution; 3 seeds",
        seeds=(0, 1, 2),
        models=hooksweep2_models(HOOKSWEEP2_PROFILES["quick"]),
        n_eval=1_000,
        env="hooksweep2",
        n_expert=HOOKSWEEP2_PROFILES["quick"].n_expert,
        data_ratio=HOOKSWEEP2_PROFILES["quick"].total_size // HOOKSWEEP2_PROFILES["quick"].n_expert,
    ),
    "hooksweep2-smoke": ModelErrorProfile(
        description="HookSweep2 in seconds; checks the code, not the models (the suite runs it)",
        seeds=(0,),
        models=DynamicsConfig(hidden=(32, 32), training=TrainingConfig(epochs=1)),
        n_eval=20,
        env="hooksweep2",
        n_expert=1_500,
    ),
    "smoke": ModelErrorProfile(
        description="one epoch; checks the code, not the models (the test suite runs it)",
        seeds=(0,),
        models=DynamicsConfig(training=TrainingConfig(epochs=1)),
        n_eval=500,
    ),
}


# ----------------------------------------------------------------------------- mocoda-online
#: the envs (cell coordinate ``env``; `benchmarks.mocoda_online.ENVS` builds them)
ONLINE_ENVS = ("nav2d", "two-masses")
#: the methods (cell coordinate ``method``): SAC with SB3's buffer, SAC with MoCoDA's
ONLINE_METHODS = ("sac", "sac-mocoda")


@dataclass(frozen=True, kw_only=True)
class OnlineProfile:
    """One budget of `mocoda-online`.

    Attributes:
        description: one line for ``--help`` and the report.
        seeds: the training seeds (each seeds SAC, its env and, through NumPy's generator,
            the MoCoDA buffer).
        steps: env steps of training per cell (a multiple of ``eval_every``).
        eval_every: env steps between evaluations (the first is before training).
        eval_episodes: deterministic episodes per evaluation (reset seeds
            ``EVAL_SEED_BASE + i``).
        success_level: the report's "steps to reach this success rate", in (0, 1].
        learning_starts: SAC's random steps before its first update (SB3's default: 100).
        batch_size: SAC's batch (SB3's default: 256).
        net_arch: SAC's actor and critic hidden layers; empty for SB3's default (256, 256).
        envs, methods: which of `ONLINE_ENVS` and `ONLINE_METHODS` the cells cover.
        mocoda_kwargs: MoCoDAReplayBuffer keywords that replace its defaults (empty: the
            defaults; the smoke profile fits early); checked against the buffer's signature
            when a run starts (`benchmarks.mocoda_online.cells`).
        mocoda_config: `augment.sb3.online_config` keywords: the buffer's MoCoDA settings
            (empty: its defaults; the smoke profile's tiny models).
    """

    description: str
    seeds: tuple[int, ...]
    steps: int
    eval_every: int
    eval_episodes: int
    success_level: float = 0.8
    learning_starts: int = 100
    batch_size: int = 256
    net_arch: tuple[int, ...] = ()
    envs: tuple[str, ...] = ONLINE_ENVS
    methods: tuple[str, ...] = ONLINE_METHODS
    mocoda_kwargs: Mapping[str, Any] = field(default_factory=dict)
    mocoda_config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_profile(
            self,
            positive=("steps", "eval_every", "eval_episodes", "batch_size"),
            non_negative=("learning_starts",),
            choices={"envs": ONLINE_ENVS, "methods": ONLINE_METHODS},
        )
        kind = type(self).__name__
        if self.steps % self.eval_every:
            raise ValueError(
                f"{kind}.steps ({self.steps}) must be a multiple of eval_every "
                f"({self.eval_every}), so that the last evaluation is at the end of training"
            )
        check_real(f"{kind}.success_level", self.success_level, 0.0, 1.0, low_open=True)
        if not isinstance(self.net_arch, tuple):
            raise ValueError(
                f"{kind}.net_arch must be a tuple of layer sizes, got {self.net_arch!r}"
            )
        for units in self.net_arch:
            check_int(f"{kind}.net_arch", units, 1)
        for name, values in (("envs", self.envs), ("methods", self.methods)):
            if not isinstance(values, tuple) or not values or len(set(values)) != len(values):
                raise ValueError(f"{kind}.{name} must be a non-empty tuple without repeats")
        if "mocoda_config" in self.mocoda_kwargs:
            raise ValueError(
                f"{kind}.mocoda_kwargs must not hold mocoda_config: give its settings as "
                f"{kind}.mocoda_config (online_config's keywords)"
            )


#: the smoke profile's MoCoDA: a fit after 100 real steps, every 100 after, tiny models
_SMOKE_BUFFER = {"min_real": 100, "refit_every": 100, "pool_size": 500, "refit_epochs": 1}
_SMOKE_MOCODA = {
    "n_components": 4,
    "dynamics": DynamicsConfig(
        hidden=(16,),
        embed_dim=8,
        ensemble_size=2,
        training=TrainingConfig(epochs=1, steps_per_epoch=5, batch_size=64),
    ),
}

ONLINE_PROFILES: dict[str, OnlineProfile] = {
    "quick": OnlineProfile(
        description="5 seeds nobody tuned on; SAC (SB3's defaults) for 16k env steps, evaluated "
        "every 1k on 20 episodes; the MoCoDA buffer's defaults; about 5 min a cell, two side by "
        "side on 2 cores",
        seeds=(5, 6, 7, 8, 9),
        steps=16_000,
        eval_every=1_000,
        eval_episodes=20,
    ),
    "smoke": OnlineProfile(
        description="seconds: checks the code, not the result (the test suite runs it)",
        seeds=(0,),
        steps=300,
        eval_every=150,
        eval_episodes=2,
        learning_starts=50,
        batch_size=32,
        net_arch=(16, 16),
        mocoda_kwargs=_SMOKE_BUFFER,
        mocoda_config=_SMOKE_MOCODA,
    ),
}


#: benchmark name -> its profiles
PROFILES_BY_BENCH: dict[str, Mapping[str, Any]] = {
    "mocoda-nav2d": NAV2D_PROFILES,
    "mocoda-hooksweep2": HOOKSWEEP2_PROFILES,
    "mocoda-model-error": MODEL_ERROR_PROFILES,
    "mocoda-online": ONLINE_PROFILES,
}
