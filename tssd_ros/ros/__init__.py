"""tssd_ros.ros."""
