"""Synthetic ROV dive generator with exact ground truth (boxes, identities, visibility).

Why: no public underwater tracking set can be fetched here, yet training and every claim of the
benchmark need scenes like an ROV's with exact identities. The generator renders a planar seabed (sand,
gravel, rock, weed, shell hash) populated with sea cucumbers, sea urchins, scallops and starfish, seen
from a camera that flies forward with slow altitude/heading changes, through a water model
(depth-dependent colour attenuation, backscatter, vehicle lights, caustics, marine snow, noise, blur,
exposure changes).

Modules: ``noise`` (seamless value noise), ``animals`` (sprites), ``world`` (tiled seabed and its
object-id map), ``camera`` (path and plane-to-image homography), ``water`` (presets and optics),
``renderer`` (``DiveRenderer``: frames and their ground truth; conventions in its docstring).
"""

from tssd_ros.data.synth.renderer import GENERATOR_VERSION, DiveRenderer, SynthConfig, SynthFrame
from tssd_ros.data.synth.water import PRESETS, WaterPreset

__all__ = ["GENERATOR_VERSION", "PRESETS", "DiveRenderer", "SynthConfig", "SynthFrame", "WaterPreset"]
