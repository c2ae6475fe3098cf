"""Build the HookSweep2 MuJoCo model: Fetch robot, welded hook, table and two boxes.

The robot's XML and meshes come from the installed ``gymnasium_robotics`` package
(``envs/assets/fetch`` and ``envs/assets/stls/fetch``); only its assets are used, never its
Python code (which breaks on mujoco >= 3.12). The package is located without being imported,
so importing it cannot register its own envs or fail on its Python code.

The appendix (MoCoDA C.2) names the robot, the hook and the two boxes but gives no
dimensions; the scene follows the authors' code (spitis/mrl, ``sweep_all.xml`` and
``robot_hook.xml``): the table (half-size 0.77 x 0.60, top at z = 0.4), the boxes (half-size
0.025, 2 kg, free joints with damping 0.01) and the hook. Three edits make the Fetch model a
hook-sweeping robot:

- the hook, a base box of half-size 0.35 x 0.015 x 0.03 and a head box of 0.015 x 0.1 x 0.03
  at (0.35, 0.085, 0) in its frame, 50 kg each, is a child body of ``robot0:gripper_link`` at
  the authors' pose, so it is rigidly welded to the gripper: 0.3 ahead of the grip site, 2 mm
  below it, the head toward -y. Nothing compensates its weight: the mocap weld carries it;
- the robot's own geoms do not collide (only the hook, the boxes, the table and the floor do):
  the sweep happens with the hook, and mesh collisions would dominate the step time (the
  authors' robot collides);
- the mocap weld's relative pose is reset to identity, as gymnasium-robotics' ``reset_mocap_welds``
  does, so the gripper follows the mocap body.

The boxes' contacts are stiffer than MuJoCo's defaults (the authors'): under the 100 kg hook
the defaults let a box sink 2 cm into the table.
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
#: each of the hook's two boxes weighs this much (kg), as in the authors' XML
HOOK_MASS = 50.0
#: the hook's pose in the gripper link's frame (the authors' ``robot_hook.xml``): 0.3 along the
#: link's z (world +x once the mocap holds the gripper), 2.2 cm along its x (world -z), turned
#: by Euler angles (1.57, 1.57, 1.57) (MuJoCo's intrinsic xyz): its x along world +x and its
#: y along world -y
_HOOK_POS_IN_LINK = (0.022, 0.0, 0.3)
_HOOK_EULER = (1.57, 1.57, 1.57)
#: the head's centre in the hook's own frame
_HEAD_IN_HOOK = (0.35, 0.085, 0.0)
#: where the hook's frame sits relative to the grip site, in world axes: 0.3 ahead and 2 mm
#: below (the grip site is 2 cm below the link's origin)
HOOK_OFFSET = (0.3, 0.0, -0.002)
#: the head's centre relative to the hook's frame, in world axes: the head points to -y
HOOK_HEAD_OFFSET = (0.35, -0.085, 0.0)
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
    """Attach the hook to the gripper link as the authors' XML does: two boxes of 50 kg, no
    gravity compensation (the mocap weld carries them, and the gripper sags about 2 cm below
    its target)."""
    quat = np.zeros(4)
    mujoco.mju_euler2Quat(quat, np.array(_HOOK_EULER), "xyz")
    gripper = spec.body("robot0:gripper_link")
    hook = gripper.add_body(name="hook", pos=list(_HOOK_POS_IN_LINK), quat=quat)
    colour = [0.35, 0.35, 0.38, 1.0]
    box = mujoco.mjtGeom.mjGEOM_BOX
    hook.add_geom(
        name="hook_base", type=box, size=list(HOOK_BASE_HALF), mass=HOOK_MASS, rgba=colour
    )
    hook.add_geom(
        name="hook_head",
        type=box,
        pos=list(_HEAD_IN_HOOK),
        size=list(HOOK_HEAD_HALF),
        mass=HOOK_MASS,
        rgba=colour,
    )
    hook.add_site(name="hook_head", pos=list(_HEAD_IN_HOOK), size=[0.01, 0.01, 0.01])


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
