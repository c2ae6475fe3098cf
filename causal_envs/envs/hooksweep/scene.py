"""Build the HookSweep2 MuJoCo model: Fetch robot, welded hook, table and two boxes.

The robot's XML and meshes come from the installed ``gymnasium_robotics`` package
(``envs/assets/fetch`` and ``envs/assets/stls/fetch``); only its assets are used, never its
Python code (which breaks on mujoco >= 3.12). The package is located without being imported,
so importing it cannot register its own envs or fail on its Python code.

Three edits make the Fetch model a hook-sweeping robot:

- the hook (MoCoDA appendix C.2: base box of half-size 0.35 x 0.015 x 0.03, head box 0.015 x
  0.1 x 0.03 at (0.35, 0.085, 0), total mass 50) is a child body of ``robot0:gripper_link``,
  so it is rigidly welded to the gripper; it is gravity-compensated so the mocap weld carries
  the arm, not 50 kg;
- the robot's own geoms do not collide (only the hook, the boxes, the table and the floor do):
  the sweep happens with the hook, and mesh collisions would dominate the step time;
- the mocap weld's relative pose is reset to identity, as gymnasium-robotics' ``reset_mocap_welds``
  does, so the gripper follows the mocap body.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import mujoco
import numpy as np

__all__ = [
    "HOOK_BASE_HALF",
    "HOOK_HEAD_HALF",
    "HOOK_HEAD_OFFSET",
    "HOOK_MASS",
    "HOOK_OFFSET",
    "build_model",
    "fetch_assets_dir",
]

HOOK_BASE_HALF = (0.35, 0.015, 0.03)
HOOK_HEAD_HALF = (0.015, 0.1, 0.03)
HOOK_HEAD_OFFSET = (0.35, 0.085, 0.0)
HOOK_MASS = 50.0
#: where the hook's frame sits relative to the gripper site, in world axes: 0.3 ahead of the
#: gripper (so the head, 0.65 ahead, reaches both sides of the table while the arm, kept at
#: x <= 1.48, holds the hook level) and 1.5 cm up (so the hook
#: floats just above the table when the gripper is at z = 0.42, the height the reward asks for)
HOOK_OFFSET = (0.3, 0.0, 0.015)
_GRIP_SITE_IN_GRIPPER = 0.02  # robot0:grip sits at (0.02, 0, 0) in robot0:gripper_link
_SCENE = Path(__file__).with_name("assets") / "hooksweep2.xml"


def fetch_assets_dir() -> Path:
    """The ``envs/assets`` folder of the installed gymnasium-robotics package (not imported)."""
    spec = importlib.util.find_spec("gymnasium_robotics")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "HookSweep2 needs the Fetch robot assets of gymnasium-robotics: "
            "pip install 'gymnasium-robotics>=1.2'"
        )
    assets = Path(next(iter(spec.submodule_search_locations))) / "envs" / "assets"
    for needed in ("fetch/robot.xml", "fetch/shared.xml", "stls/fetch/gripper_link.stl"):
        if not (assets / needed).is_file():
            raise FileNotFoundError(f"gymnasium-robotics is installed but lacks {assets / needed}")
    return assets


def _scene_spec() -> mujoco.MjSpec:
    assets = fetch_assets_dir()
    xml = _SCENE.read_text()
    xml = xml.replace("{FETCH}", str(assets / "fetch")).replace("{ASSETS}", str(assets))
    return mujoco.MjSpec.from_string(xml)


def _add_hook(spec: mujoco.MjSpec) -> None:
    """Attach the hook to the gripper link, its axes aligned with the world's.

    The mocap holds the gripper at quaternion (1, 0, 1, 0)/sqrt(2) (a +90 degree turn about y):
    world +x is the gripper's +z and world -z its +x. The hook body therefore turns -90 degrees
    about y and sits at the grip site plus ``HOOK_OFFSET`` expressed in gripper axes.
    """
    dx, dy, dz = HOOK_OFFSET
    gripper = spec.body("robot0:gripper_link")
    hook = gripper.add_body(
        name="hook",
        pos=[_GRIP_SITE_IN_GRIPPER - dz, dy, dx],
        quat=[np.sqrt(0.5), 0.0, -np.sqrt(0.5), 0.0],
        gravcomp=1.0,
    )
    colour = [0.35, 0.35, 0.38, 1.0]
    box = mujoco.mjtGeom.mjGEOM_BOX
    hook.add_geom(
        name="hook_base", type=box, size=list(HOOK_BASE_HALF), mass=HOOK_MASS / 2, rgba=colour
    )
    hook.add_geom(
        name="hook_head",
        type=box,
        pos=list(HOOK_HEAD_OFFSET),
        size=list(HOOK_HEAD_HALF),
        mass=HOOK_MASS / 2,
        rgba=colour,
    )
    hook.add_site(name="hook_head", pos=list(HOOK_HEAD_OFFSET), size=[0.01, 0.01, 0.01])


def build_model() -> mujoco.MjModel:
    """A fresh compiled HookSweep2 model (each env owns its own, so envs never share state)."""
    spec = _scene_spec()
    _add_hook(spec)
    model = spec.compile()
    robot_bodies = {
        i
        for i in range(model.nbody)
        if (mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, i) or "").startswith("robot0:")
    }
    for g in range(model.ngeom):
        if int(model.geom_bodyid[g]) in robot_bodies:
            model.geom_contype[g] = 0
            model.geom_conaffinity[g] = 0
    weld = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_EQUALITY, "robot0:mocap_weld")
    weld = weld if weld >= 0 else 0
    if model.eq_type[weld] != mujoco.mjtEq.mjEQ_WELD:
        raise RuntimeError("the Fetch model's first equality is not the mocap weld")
    model.eq_data[weld, :] = 0.0
    model.eq_data[weld, 6] = 1.0  # relative quaternion (1, 0, 0, 0)
    model.eq_data[weld, 10] = 1.0  # torque scale
    return model
