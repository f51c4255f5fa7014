"""tssd_node: camera images in, identity-tagged detections, per-class counts and diagnostics out.

A thin adapter around :class:`tssd_ros.pipeline.Pipeline` (detector + OTA + counter), the same object the
offline tools use.

Topics (relative, so namespaces and remaps work):
  in   ``image`` (sensor_msgs/Image) or ``image/compressed`` (sensor_msgs/CompressedImage), by ``compressed``.
       QoS: sensor data (keep last 1, volatile), reliability from ``reliability`` (best_effort by default:
       it connects to both best-effort and reliable camera drivers); overridable from YAML
       (``qos_overrides./image.subscription.reliability`` etc.).
  out  ``detections`` (vision_msgs/Detection2DArray, reliable, depth 10): the input image's header; per
       detection the box in input pixels, class name + score, ``id`` = confirmed identity (else empty).
       An empty array for every processed frame with nothing in it.
       ``label_info`` (vision_msgs/LabelInfo, reliable + transient local, depth 1).
       ``counts`` (diagnostic_msgs/DiagnosticArray, reliable, depth 10): one status per class with
       ``unique`` (cumulative unique individuals of the dive) and ``in_view``; stamped with the frame's
       header. DiagnosticArray is standard, stamped and shown by ``ros2 topic echo`` with no custom build.
       ``image_annotated`` (sensor_msgs/Image, reliable, depth 1): drawn only while someone subscribes.
       ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, 1 Hz).
Services: ``~/reset`` (new stream: recurrent state and tubelets; counts kept), ``~/reset_counts``.

Frames are processed latest-first, in the subscription callback: the input keeps only the newest frame, so a
camera faster than the detector never builds a backlog (latency stays one frame deep) and the frames replaced
meanwhile are counted as dropped from the publisher's sequence numbers (:mod:`tssd_ros.ros.frame_stats`).
No hand-off to a worker thread: one thread fewer waking up on a small CPU, and drops counted where DDS makes
them (a one-frame slot in Python saw only its own replacements).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2DArray, LabelInfo

from tssd_ros import params as P
from tssd_ros.errors import InputError, TssdError
from tssd_ros.pipeline import Pipeline
from tssd_ros.ros import conversions as conv
from tssd_ros.ros.frame_stats import FrameStats
from tssd_ros.ros.parameters import declare_initialised
from tssd_ros.ros.runner import run_node
from tssd_ros.tracking.ota import OTAConfig

RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
          str: Parameter.Type.STRING, list: Parameter.Type.STRING_ARRAY}


def _descriptor(prm: P.Param) -> ParameterDescriptor:
    """A ROS descriptor from the parameter table (description, read-only, range)."""
    text = prm.doc + (" (" + " | ".join(c or "''" for c in prm.choices) + ")" if prm.choices else "")
    d = ParameterDescriptor(description=text, read_only=prm.read_only)
    if prm.lo is not None and prm.hi is not None:
        if prm.integer:
            d.integer_range = [IntegerRange(from_value=int(prm.lo), to_value=int(prm.hi), step=1)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(prm.lo), to_value=float(prm.hi),
                                                         step=0.0)]
    return d


def param_value(node: Node, name: str) -> Any:
    """A parameter's value (None while a typed parameter is still unset)."""
    from rclpy.exceptions import ParameterUninitializedException

    try:
        return node.get_parameter(name).value
    except ParameterUninitializedException:
        return None


def declare_parameter_table(node: Node) -> dict[str, Any]:
    """Declare every parameter of tssd_ros.params.PARAMS on ``node`` and return their values; those without a
    default (thresholds: the checkpoint's) are declared typed and stay unset until the weights are loaded."""
    for prm in P.PARAMS:
        if prm.default is None:
            kind = Parameter.Type.INTEGER if prm.integer else Parameter.Type.DOUBLE
            node.declare_parameter(prm.name, kind, _descriptor(prm))
        else:
            declare_initialised(node, prm.name, prm.default, _descriptor(prm))
        try:
            P.check(prm.name, param_value(node, prm.name))
        except InputError as e:
            raise TssdError(f"parameter {e}") from None
    if not param_value(node, "weights"):
        raise TssdError("parameter `weights` is empty: set it to a .pt file (see config/tssd.yaml)")
    return {prm.name: param_value(node, prm.name) for prm in P.PARAMS}


class TssdNode(Node):
    """See the module docstring."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("tssd_node", **kwargs)
        values = declare_parameter_table(self)
        self.pipeline = Pipeline.from_params(values)  # the offline tools build theirs the same way
        self.pipeline.warm_up()  # before any subscription: the first camera frame is not late
        self.detector = self.pipeline.detector
        self.counts_file = values["counts_file"]
        self.publish_annotated = bool(values["publish_annotated"])  # per frame: kept here, set in _apply_parameters
        weights = values["weights"]
        pp = self.detector.postprocess  # thresholds left unset are the checkpoint's: show them
        shown = {"conf_threshold": self.pipeline.conf_threshold, "nms_iou": pp.nms_iou, "top_k": pp.top_k}
        self.set_parameters([Parameter(k, value=v) for k, v in shown.items() if values[k] is None])
        self._lock = threading.Lock()  # guards the pipeline when a multi-threaded executor spins the node
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

        # -- outputs ----------------------------------------------------------------------------
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_dets = self.create_publisher(Detection2DArray, "detections", reliable)
        self.pub_labels = self.create_publisher(LabelInfo, "label_info", latched)
        self.pub_counts = self.create_publisher(DiagnosticArray, "counts", reliable)
        self.pub_annot = self.create_publisher(Image, "image_annotated", QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE))
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", reliable)
        self._publish_label_info()

        # -- input ------------------------------------------------------------------------------
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, durability=DurabilityPolicy.VOLATILE,
                         reliability=RELIABILITY[self._param("reliability")])
        events = SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos)
        overrides = QoSOverridingOptions.with_default_policies()
        self.compressed = bool(self._param("compressed"))
        if self.compressed:
            self.sub = self.create_subscription(CompressedImage, "image/compressed", self._on_image, qos,
                                                event_callbacks=events, qos_overriding_options=overrides)
        else:
            self.sub = self.create_subscription(Image, "image", self._on_image, qos,
                                                event_callbacks=events, qos_overriding_options=overrides)

        self.create_service(Trigger, "~/reset", self._srv_reset)
        self.create_service(Trigger, "~/reset_counts", self._srv_reset_counts)

        # -- bookkeeping ------------------------------------------------------------------------
        self.stats = FrameStats()
        # Diagnostics and saving run on the steady clock: with use_sim_time a paused bag stops /clock, and the
        # operator still needs to see that the pipeline is alive (and counts must still be saved).
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(1.0, self._publish_diagnostics, clock=steady)
        if self.counts_file:
            self.create_timer(float(self._param("counts_save_period_s")), self._save_counts, clock=steady)
        self.get_logger().info(
            f"tssd_node ready: {Path(weights).name} on {self._param('device')} ({self.detector.backend}), "
            f"classes {list(self.detector.class_names)}, "
            f"input {self.sub.topic_name} ({self._param('reliability')}), counts_file={self.counts_file or 'off'}"
        )

    # -- parameters -------------------------------------------------------------------------------
    def _param(self, name: str) -> Any:
        return param_value(self, name)

    def _validate_parameters(self, params: list) -> SetParametersResult:
        for prm in params:
            if prm.name not in P.BY_NAME:
                continue
            try:
                P.check(prm.name, prm.value)
                if prm.name == "class_filter" and hasattr(self, "detector"):
                    if prm.type_ != Parameter.Type.STRING_ARRAY:
                        raise InputError("class_filter must be a string array")
                    P.class_filter_indices(list(prm.value), self.detector.class_names)
            except InputError as e:
                return SetParametersResult(successful=False, reason=str(e))
        if hasattr(self, "pipeline"):
            changes = P.ota_changes_from_params({p.name: p.value for p in params})
            if changes:
                try:
                    OTAConfig(**{**self.pipeline.ota_config.__dict__, **changes})
                except (TssdError, TypeError) as e:
                    return SetParametersResult(successful=False, reason=str(e))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list) -> None:
        if not hasattr(self, "pipeline"):
            return
        with self._lock:
            post = {p.name: p.value for p in params if p.name in P.POSTPROCESS_PARAMS}
            if post:
                self._apply_postprocess(post)
                if "conf_threshold" in post:
                    self._publish_label_info()
            ota = P.ota_changes_from_params({p.name: p.value for p in params})
            if ota:
                self.pipeline.set_ota(**ota)
            for p in params:
                if p.name == "publish_annotated":
                    self.publish_annotated = bool(p.value)
                elif p.name == "max_gap_s":
                    self.pipeline.config.max_gap_s = float(p.value)
                elif p.name == "count_min_hits":
                    self.pipeline.set_count_min_hits(int(p.value))
                elif p.name == "track_threshold":
                    self.pipeline.set_thresholds(track_threshold=float(p.value))

    def _apply_postprocess(self, values: dict[str, Any]) -> None:
        changes: dict[str, Any] = {}
        for k, v in values.items():
            if k == "class_filter":
                changes[k] = P.class_filter_indices(list(v), self.detector.class_names)
            else:
                changes[k] = int(v) if k == "top_k" else float(v)
        if "conf_threshold" in changes:  # the pipeline splits it from the detector's (track_threshold)
            self.pipeline.set_thresholds(conf_threshold=changes.pop("conf_threshold"))
        if changes:
            self.detector.set_postprocess(**changes)

    # -- input ------------------------------------------------------------------------------------
    def _on_incompatible_qos(self, event: Any) -> None:
        self.get_logger().warn(
            f"a publisher on {self.sub.topic_name} has incompatible QoS (policy {event.last_policy_kind}); "
            "set parameter reliability (best_effort connects to everything) or a QoS override",
            throttle_duration_sec=5.0,
        )

    def _on_image(self, msg: Any, info: dict[str, Any]) -> None:
        """One frame (rclpy passes the message info because of the second argument): processed here; a frame
        that cannot be processed is logged, counted and dropped, and the node goes on."""
        self.stats.arrived(info.get("publication_sequence_number"))
        try:
            self._process(msg)
        except Exception as e:  # noqa: BLE001 - one bad frame never stops the node
            self._on_frame_error(e)

    def _on_frame_error(self, e: Exception) -> None:
        """A frame that could not be processed: logged (throttled), counted, dropped; the node goes on."""
        if isinstance(e, InputError):
            self.stats.bad(str(e))
            self.get_logger().warn(f"dropped a bad frame: {e}", throttle_duration_sec=2.0)
        else:
            self.stats.bad(f"{type(e).__name__}: {e}")
            self.get_logger().error(f"frame failed: {self.stats.last_error}", throttle_duration_sec=2.0)

    def _process(self, msg: Any) -> None:
        img = conv.compressed_to_bgr(msg) if self.compressed else conv.image_to_bgr(msg)
        stamp = conv.stamp_to_sec(msg.header.stamp)
        with self._lock:
            res = self.pipeline.process(img, stamp)
        if self.counts_file and self.pipeline.ids_unsaved:  # new identities: on disk before they are published
            self._save_counts()
        if res.reset_reason:
            self.get_logger().info(f"temporal state reset: {res.reset_reason}")
        draw = self.publish_annotated and self.pub_annot.get_subscription_count() > 0
        dets, counts, annotated = conv.result_messages(msg.header, res, img if draw else None)
        self.pub_dets.publish(dets)
        self.pub_counts.publish(counts)
        if annotated is not None:
            self.pub_annot.publish(annotated)
        now_ros = self.get_clock().now().nanoseconds * 1e-9
        self.stats.done(now_ros - stamp if now_ros > 0 else None, res.inference_s)

    # -- services ---------------------------------------------------------------------------------
    def _srv_reset(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        with self._lock:
            self.pipeline.reset("service")
        resp.success, resp.message = True, "temporal state reset (recurrent state and tubelets); counts kept"
        return resp

    def _srv_reset_counts(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        with self._lock:
            self.pipeline.reset_counts()
        self._save_counts()
        resp.success, resp.message = True, "counts cleared; identities continue from " + str(
            self.pipeline.tracker.next_id)
        return resp

    # -- outputs ----------------------------------------------------------------------------------
    def _publish_label_info(self) -> None:
        header = conv.Header()
        header.stamp = self.get_clock().now().to_msg()
        self.pub_labels.publish(conv.label_info_msg(self.detector.class_names,
                                                    self.pipeline.conf_threshold, header))

    def _save_counts(self) -> None:
        if not self.counts_file:
            return
        try:
            with self._lock:
                self.pipeline.save_counts(self.counts_file)
        except TssdError as e:
            self.get_logger().error(str(e), throttle_duration_sec=10.0)

    def _publish_diagnostics(self) -> None:
        st = DiagnosticStatus(name=f"{self.get_name()}: detection", hardware_id="tssd_ros")
        values = {**self.stats.values(), "model": Path(self._param("weights")).name,
                  "device": self._param("device"), "backend": self.detector.backend,
                  "resets": str(self.pipeline.resets),
                  "last_error": self.stats.last_error}
        st.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        out_fps = float(values["processed_fps"])
        if not self.stats.input_recent():
            st.level, st.message = DiagnosticStatus.WARN, "no input images"
        elif out_fps == 0.0 and self.stats.n_done == 0:
            st.level, st.message = DiagnosticStatus.WARN, "receiving but nothing processed yet"
        else:
            st.level, st.message = DiagnosticStatus.OK, f"{out_fps:.1f} FPS"
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [st]
        self.pub_diag.publish(arr)

    def shutdown(self) -> None:
        """Save the counts (called at exit)."""
        self._save_counts()


def main(args: list[str] | None = None) -> int:
    """A bad configuration (missing or corrupt weights, unknown class, ...) is one fatal line and exit 2."""
    return run_node(TssdNode, "tssd_node", cleanup=lambda node: node.shutdown(), args=args,
                    startup_errors=(TssdError, InvalidParameterTypeException, InvalidParameterValueException))


if __name__ == "__main__":
    sys.exit(main())
