"""tssd_ros.bag: rosbag2 I/O without a ROS install (rosbags).

The writer lives in ``tssd_ros.bag.writer`` (imported lazily so that readers need not load it).
"""
