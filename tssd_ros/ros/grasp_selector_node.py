"""grasp_selector: lock one confirmed identity from `detections` for the manipulator controller.

Thin rclpy adapter around tssd_ros.grasp.selector.GraspSelector (selection and lock semantics are
documented there): messages in, one core call, messages out.

Topics (relative names, so namespaces/remaps work):
  in  detections            vision_msgs/Detection2DArray  reliable, keep last 10 (matches tssd_node)
  in  camera_info           sensor_msgs/CameraInfo        best effort, keep last 1: a best-effort
                            subscription connects to both reliable and best-effort drivers
                            (only with use_camera_info:=true)
  out grasp_target          vision_msgs/Detection2D       reliable, 10; the locked identity's detection,
                            header = the detections message header; only when it is in that message
  out grasp_target/point    geometry_msgs/PointStamped    reliable, 10; same header. With a calibrated
                            camera_info: the unit ray (x, y, z) through the box centre in the camera
                            optical frame (pixel undistorted with K and D, then (x', y', 1) normalised).
                            Without camera_info: pixel coordinates x=u, y=v, z=0 (status "point" says
                            which: "ray" or "pixel").
  out grasp_status          std_msgs/String               reliable + transient_local, depth 1, on every
                            detections message, so a controller that starts late gets the latest. JSON:
                            {"state": "searching|locked|lost", "target_id": "17", "class": "scallop",
                             "stable": true, "frames_locked": 42, "unseen_s": 0.0,
                             "mode": "auto|manual", "point": "ray|pixel", "stamp": 12.5}
Services: ~/release, ~/next (std_srvs/Trigger).
Parameters: see config/grasp_selector.yaml; policy, target_classes, min_track_age, lost_timeout_s,
  target_id, stable_px, stable_frames, image_width, image_height can be changed at run time (invalid values
  are rejected with a reason); use_camera_info is read-only. QoS of the two subscriptions can be overridden
  with the standard qos_overrides.<topic>.subscription.* parameters.
Time: the lost timeout runs on message stamps; a zero stamp falls back to this node's clock (which
  follows use_sim_time).
"""

from __future__ import annotations

from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
)
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import String
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from tssd_ros.grasp.geometry import camera_matrix_valid, pixel_to_ray
from tssd_ros.grasp.selector import POLICIES, GraspSelector, SelectorConfig
from tssd_ros.ros.grasp_messages import candidates, grasp_messages, selector_config
from tssd_ros.ros.parameters import declare_initialised
from tssd_ros.ros.runner import run_node
from tssd_ros.types import stamp_to_sec

DETECTIONS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Best effort matches best-effort and reliable publishers alike; only the latest calibration matters.
CAMERA_INFO_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT
)
# Transient local: a controller that subscribes late still gets the current state at once.
STATUS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
THROTTLE_S = 5.0
MAX_ID = 2**31 - 1


def _desc(description: str, *, lo: float | None = None, hi: float | None = None, integer: bool = False,
          read_only: bool = False, constraints: str = "") -> ParameterDescriptor:
    d = ParameterDescriptor(description=description, read_only=read_only, additional_constraints=constraints)
    if lo is not None and hi is not None:
        if integer:
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return d


class GraspSelectorNode(Node):
    """Adapter: Detection2DArray -> GraspSelector.update -> grasp_target, point, status."""

    def __init__(self, **kwargs) -> None:
        super().__init__("grasp_selector", **kwargs)
        self.declare_parameter("policy", "nearest_center", _desc(
            "How to rank candidates within a class priority", constraints="one of " + ", ".join(POLICIES)))
        declare_initialised(self, "target_classes", [""], _desc(
            "Classes to grasp, in priority order (earlier class wins); [''] = all classes"))
        self.declare_parameter("min_track_age", 3, _desc(
            "Frames this node must have seen an identity before it may be auto-selected", lo=1, hi=10000,
            integer=True))
        self.declare_parameter("lost_timeout_s", 1.0, _desc(
            "Seconds (message stamps) the locked identity may be unseen before the lock is dropped",
            lo=0.0, hi=3600.0))
        self.declare_parameter("target_id", -1, _desc(
            "Manual choice: lock this identity once seen; -1 = automatic", lo=-1, hi=MAX_ID, integer=True))
        self.declare_parameter("stable_px", 5.0, _desc(
            "Max box-centre deviation from its mean (px) for the target to count as stable", lo=0.0, hi=1e4))
        self.declare_parameter("stable_frames", 5, _desc(
            "Consecutive frames the deviation must stay below stable_px", lo=1, hi=1000, integer=True))
        self.declare_parameter("image_width", 0, _desc(
            "Image width for nearest_center when no camera_info is used (0 = unknown)", lo=0, hi=100000,
            integer=True))
        self.declare_parameter("image_height", 0, _desc(
            "Image height for nearest_center when no camera_info is used (0 = unknown)", lo=0, hi=100000,
            integer=True))
        self.declare_parameter("use_camera_info", True, _desc(
            "Subscribe to camera_info and publish grasp_target/point as a unit ray (else pixels)",
            read_only=True))

        self._camera: CameraInfo | None = None
        self._selector = GraspSelector(self._config({}))
        self._selector.lock(self.get_parameter("target_id").value)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

        self._pub_target = self.create_publisher(Detection2D, "grasp_target", OUTPUT_QOS)
        self._pub_point = self.create_publisher(PointStamped, "grasp_target/point", OUTPUT_QOS)
        self._pub_status = self.create_publisher(String, "grasp_status", STATUS_QOS)
        overrides = QoSOverridingOptions.with_default_policies()
        self.create_subscription(Detection2DArray, "detections", self._on_detections, DETECTIONS_QOS,
                                 qos_overriding_options=overrides)
        if self.get_parameter("use_camera_info").value:
            self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, CAMERA_INFO_QOS,
                                     qos_overriding_options=overrides)
        self.create_service(Trigger, "~/release", self._on_release)
        self.create_service(Trigger, "~/next", self._on_next)
        self.get_logger().info(f"grasp_selector ready: {self._selector.config}")

    # ------------------------------------------------------------------ parameters
    def _value(self, name: str, pending: dict[str, object]):
        """The value being set, else the current one (every parameter holds one: declare_initialised)."""
        return pending[name] if name in pending else self.get_parameter(name).value

    def _config(self, pending: dict[str, object]) -> SelectorConfig:
        """SelectorConfig from the current parameters overlaid with the ones being set."""
        names = ("policy", "target_classes", "min_track_age", "lost_timeout_s", "stable_px", "stable_frames",
                 "image_width", "image_height")
        return selector_config({n: self._value(n, pending) for n in names}, self._principal_point())

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Accept a change only if the resulting configuration is valid; nothing is applied here."""
        reason = self._config({p.name: p.value for p in params}).problem()
        return SetParametersResult(successful=not reason, reason=reason or "")

    def _apply_parameters(self, params: list[Parameter]) -> None:
        """Post-set: the accepted parameters are now the node's; configure the selector from them."""
        self._selector.configure(self._config({}))
        for p in params:
            if p.name == "target_id":
                self.get_logger().info(f"target_id: {self._selector.lock(int(p.value))}")

    def _sync_target_id(self) -> None:
        """After release/next the selector is automatic again: make `ros2 param get target_id` say so."""
        if self._selector.manual_id is None and self.get_parameter("target_id").value != -1:
            self.set_parameters([Parameter("target_id", value=-1)])

    # ------------------------------------------------------------------ services
    def _on_release(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        res.success, res.message = self._selector.release()
        self._sync_target_id()
        self.get_logger().info(f"release: {res.message}")
        return res

    def _on_next(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        res.success, res.message = self._selector.next()
        self._sync_target_id()
        self.get_logger().info(f"next: {res.message}")
        return res

    # ------------------------------------------------------------------ topics
    def _principal_point(self) -> tuple[float, float] | None:
        cam = self._camera
        if cam is None or not camera_matrix_valid(list(cam.k)):
            return None
        return float(cam.k[2]), float(cam.k[5])

    def _on_camera_info(self, msg: CameraInfo) -> None:
        first = self._camera is None
        self._camera = msg
        if not camera_matrix_valid(list(msg.k)):
            self.get_logger().warn("camera_info has an uncalibrated K: publishing pixel coordinates",
                                   throttle_duration_sec=THROTTLE_S)
        elif first:
            self.get_logger().info(f"camera_info received ({msg.distortion_model}): publishing rays")
        self._selector.set_image_center(self._principal_point() or self._config({}).image_center)

    def _on_detections(self, msg: Detection2DArray) -> None:
        stamp = stamp_to_sec(msg.header.stamp)
        if stamp == 0.0:
            self.get_logger().warn("detections header stamp is zero: timing on this node's clock",
                                   throttle_duration_sec=THROTTLE_S)
            stamp = self.get_clock().now().nanoseconds * 1e-9
        out = self._selector.update(stamp, candidates(msg))
        for cand, reason in out.rejected:
            self.get_logger().warn(f"ignoring detection {cand.index}: {reason}",
                                   throttle_duration_sec=THROTTLE_S)
        msgs = grasp_messages(msg, out, stamp, self._ray, self._camera.header.frame_id if self._camera else "",
                              rays_available=self._principal_point() is not None)
        if msgs.target is not None:
            self._pub_target.publish(msgs.target)
        if msgs.point is not None:
            self._pub_point.publish(msgs.point)
        self._pub_status.publish(msgs.status)

    def _ray(self, u: float, v: float) -> tuple[float, float, float] | None:
        cam = self._camera
        if cam is None or not camera_matrix_valid(list(cam.k)):
            return None
        try:
            return pixel_to_ray(u, v, list(cam.k), list(cam.d), cam.distortion_model)
        except ValueError as exc:
            self.get_logger().warn(f"cannot use camera_info ({exc}): publishing pixel coordinates",
                                   throttle_duration_sec=THROTTLE_S)
            return None


def main(args: list[str] | None = None) -> int:
    """Invalid startup parameters: one fatal line and exit 2."""
    return run_node(GraspSelectorNode, "grasp_selector", args=args,
                    startup_errors=(ValueError, InvalidParameterValueException, InvalidParameterTypeException))


if __name__ == "__main__":
    main()
