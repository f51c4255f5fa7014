"""tssd_ros.model: TSSD (AC-LSTM + LH-TU) and mobile variants in pure PyTorch. See module docs."""

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
