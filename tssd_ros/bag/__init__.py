"""tssd_ros.bag."""
