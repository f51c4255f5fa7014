"""tssd_ros: TSSD-OTA identity-aware temporal object detection for underwater ROVs.

Layout: ``model`` (pure PyTorch), ``tracking`` (OTA + counting, numpy), ``grasp`` (target selection),
``ros`` (rclpy nodes; the only code importing rclpy), ``bag`` (rosbag2 I/O), ``data``/``train``/``eval``,
``cli`` (the ``tssd`` command). ``pipeline`` joins detector, tracker and counter for node and tools alike.
"""

__version__ = "0.1.0"
