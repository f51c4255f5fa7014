"""tssd_ros.model: TSSD (Chen, Yu, Wu: AC-LSTM + LH-TU) and its mobile variant, in pure PyTorch.

Public API
----------
Configuration (plain dataclasses, stored as dicts in checkpoints):
    DetectorConfig(backbone="vgg16"|"mobilenet_v1", temporal="ac_lstm"|"conv_lstm"|"bottleneck_lstm"|"none",
                   num_classes=31 (incl. background), input_size=300, placement="auto" (lh_tu | conv13),
                   priors="auto" (v2 | v3 | mobile), alpha=1.0, dropout=0.2, lstm_activation="relu6")
    PreprocessConfig(input_size, mean_bgr=(104, 117, 123), std=1.0, channel_order="rgb")
    PostprocessConfig(conf_threshold=0.01, nms_iou=0.45, top_k=200, class_filter=None, clip_boxes=False)
    tiny_config(num_classes=5, input_size=128, temporal="bottleneck_lstm") -> DetectorConfig
        mobile alpha 0.25 for tests (0.28M parameters, tens of ms per step on 2 cores).

Streaming detector (what the ROS node, the CLI and the evaluation use):
    load_detector(path, device="cpu", *, classes=None, conf_threshold=None, nms_iou=None, top_k=None,
                  class_filter=None, clip_boxes=None, fp16=False, backend="torch") -> Detector
        project format or the reference's bare state_dict (architecture from the keys, classes from the head
        shapes named by preset ``vid``/``mot``/``underwater``, the reference's preprocessing and thresholds).
        Problems raise tssd_ros.errors.CheckpointError with one line.
    Detector.step(bgr_uint8 HxWx3) -> tssd_ros.types.Detections   (boxes in input pixels, 0-based labels,
        attention (N, 147): the reference's OTA vector for AC-LSTM VGG models; for models without attention
        maps the same 3x7x7 crop of the channel mean of the three lowest head-input maps, L2-normalised)
    Detector.reset(); Detector.get_state() -> list[(h, c)] | None; Detector.set_state(state)
    Detector.backend: the engine that runs the network step (engine.build_engine: ``torch`` eager, or
        ``onnxruntime``, the step exported to ONNX in memory; ``auto`` picks ONNX Runtime on the CPU)
    Detector.class_names, .input_size, .device, .config, .preprocess, .postprocess (mutable),
    Detector.set_postprocess(**changes) -> PostprocessConfig
    build_detector(config, class_names=None, device="cpu", preprocess=None, postprocess=None, seed=0) -> Detector
        randomly initialised (tests, tiny weights, start of training).
    save_checkpoint(model_or_detector, path, class_names=None, preprocess=None, postprocess=None,
                    trained_on="", notes="", **metadata) -> Path

Network (training / export):
    TSSD(config).forward(clip (B, T, 3, H, W), state=None) -> {"loc" (B,T,P,4), "conf" (B,T,P,C) logits,
        "attention": per temporal scale (B,T,1,h,w), "state"}; TSSD.forward_frame(x, state) -> FrameOutput;
        TSSD.priors (P, 4) cx,cy,w,h; TSSD.init_state / state_shapes; TSSD.empty(config) (for loading).
    Modules: backbone.VGG16Backbone / MobileNetV1Backbone / MobileExtras, temporal.TemporalLayer (lh_tu or conv13
        placement of TemporalUnit = ConvAttention + ConvLSTMCell | BottleneckLSTMCell), heads.MultiBoxHead,
        priors.PriorBox / prior_config, box_coder.encode / decode / point_form,
        postprocess.detect / greedy_nms_sorted / roi_vectors.
    export.export_model(model, path, fmt="export"|"torchscript"|"onnx") and export.load_exported(path): one step
        with the recurrent state as explicit inputs/outputs.
"""

from tssd_ros.model.checkpoint import build_detector, load_detector, save_checkpoint
from tssd_ros.model.config import DetectorConfig, PostprocessConfig, PreprocessConfig, tiny_config
from tssd_ros.model.detector import Detector
from tssd_ros.model.tssd import TSSD

__all__ = [
    "TSSD",
    "Detector",
    "DetectorConfig",
    "PostprocessConfig",
    "PreprocessConfig",
    "build_detector",
    "load_detector",
    "save_checkpoint",
    "tiny_config",
]
