"""Streaming detector: BGR frame in, :class:`~tssd_ros.types.Detections` out, recurrent state carried.

Why a wrapper around the nn.Module: the ROS node, the CLI and the bag replay need one object that owns
preprocessing, device/precision, the recurrent state of the current stream and runtime-mutable thresholds.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch

from tssd_ros.errors import InputError
from tssd_ros.model.config import DetectorConfig, PostprocessConfig, PreprocessConfig
from tssd_ros.model.engine import build_engine
from tssd_ros.model.postprocess import detect, roi_vectors
from tssd_ros.model.preprocess import to_blob
from tssd_ros.model.temporal import State
from tssd_ros.model.tssd import TSSD
from tssd_ros.types import Detections


class Detector:
    """Frame-by-frame TSSD. ``step`` -> Detections; ``reset`` at a new stream; ``get_state``/``set_state``.

    Detections.attention: ``attention`` mode (AC-LSTM VGG models): the reference's 147-d OTA vector (3 low-level
    attention maps at 38x38, box crop, 7x7 bilinear), unnormalised. ``feature_mean`` mode (SSD baseline,
    mobile): the same 3x7x7 crop over the channel mean of the three lowest head-input feature maps (at the
    size of scale 0), L2-normalised; OTA uses cosine similarity, so both work in its attention mode.
    """

    def __init__(
        self,
        model: TSSD,
        class_names: tuple[str, ...] | list[str],
        preprocess: PreprocessConfig | None = None,
        postprocess: PostprocessConfig | None = None,
        device: str | torch.device = "cpu",
        fp16: bool = False,
        metadata: dict | None = None,
        backend: str = "torch",
    ) -> None:
        if len(class_names) != model.num_classes - 1:
            raise ValueError(f"{len(class_names)} class names for {model.num_classes - 1} foreground classes")
        self.device = torch.device(device)
        self.fp16 = bool(fp16)
        if self.fp16 and self.device.type != "cuda":
            warnings.warn("fp16 needs CUDA; running in float32", stacklevel=2)
            self.fp16 = False
        self.dtype = torch.float16 if self.fp16 else torch.float32
        self.model = model.to(self.device, self.dtype).eval()
        self.class_names = tuple(class_names)
        self.preprocess = preprocess or PreprocessConfig(input_size=model.config.input_size)
        self.postprocess = postprocess or PostprocessConfig()
        self.metadata = dict(metadata or {})
        self._state: State | None = None
        self.engine = build_engine(self.model, backend, self.device, self.fp16)

    @property
    def backend(self) -> str:
        """The engine that runs the network: ``torch`` or ``onnxruntime`` (see tssd_ros.model.engine). The
        ``onnxruntime`` engine is exported from the weights at construction: edit them through ``torch``."""
        return self.engine.name

    # ---- properties the ROS node reads ----
    @property
    def config(self) -> DetectorConfig:
        return self.model.config

    @property
    def input_size(self) -> int:
        return self.preprocess.input_size

    # ---- state ----
    def reset(self) -> None:
        """Zero the recurrent state (start of a new video / after a camera cut)."""
        self._state = None

    def get_state(self) -> State | None:
        """A copy of the recurrent state: list of (h, c) per temporal scale, or None right after reset."""
        return None if self._state is None else [(h.clone(), c.clone()) for h, c in self._state]

    def set_state(self, state: State | None) -> None:
        if state is None:
            self._state = None
            return
        shapes = self.model.state_shapes(1)
        if len(state) != len(shapes) or any(tuple(h.shape) != s or tuple(c.shape) != s
                                            for (h, c), s in zip(state, shapes, strict=False)):
            raise ValueError(f"state does not fit this model (expected {len(shapes)} pairs of {shapes})")
        self._state = [(h.to(self.device, self.dtype).clone(), c.to(self.device, self.dtype).clone())
                       for h, c in state]

    # ---- processing ----
    def preprocess_image(self, image: np.ndarray) -> torch.Tensor:
        """Reference preprocessing (:func:`tssd_ros.model.preprocess.to_blob`) -> (1, 3, S, S) on the device."""
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            desc = getattr(image, "shape", type(image).__name__)
            raise InputError(f"expected a BGR uint8 image HxWx3, got {desc} {getattr(image, 'dtype', '')}")
        return torch.from_numpy(to_blob(image, self.preprocess)).to(self.device, self.dtype)

    def step(self, image: np.ndarray) -> Detections:
        """Detect on one BGR uint8 frame, advancing the recurrent state."""
        h, w = image.shape[:2] if isinstance(image, np.ndarray) and image.ndim >= 2 else (0, 0)
        x = self.preprocess_image(image)
        with torch.inference_mode():
            out = self.engine(x, self._state)
            self._state = out.state
            boxes, scores, labels = detect(out.loc, out.probs, self.model.priors.float(), self.postprocess,
                                           self.model.prior_config.variance)
            att = roi_vectors(out.maps, boxes, normalize=self.model.appearance_mode == "feature_mean")
            scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=boxes.device)
            px = boxes * scale
            if self.postprocess.clip_boxes:
                px = torch.minimum(px.clamp(min=0), scale)
        out = Detections(px.cpu().numpy(), scores.cpu().numpy(), labels.cpu().numpy(), None, self.class_names)
        out.attention = att.cpu().numpy().astype(np.float32).reshape(len(out), att.shape[1])  # (0, D) when empty
        return out

    def set_postprocess(self, **changes: object) -> PostprocessConfig:
        """Change thresholds at runtime (conf_threshold, nms_iou, top_k, class_filter, clip_boxes)."""
        self.postprocess = dataclasses.replace(self.postprocess, **changes)
        return self.postprocess
