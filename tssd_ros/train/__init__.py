"""tssd_ros.train."""
