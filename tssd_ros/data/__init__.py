"""tssd_ros.data."""
