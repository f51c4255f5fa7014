"""tssd_ros.grasp: choose and hold one grasp target among confirmed identities (no rclpy)."""

from tssd_ros.grasp.selector import (
    POLICIES,
    Candidate,
    GraspSelector,
    SelectorConfig,
    SelectorOutput,
)

__all__ = ["POLICIES", "Candidate", "GraspSelector", "SelectorConfig", "SelectorOutput"]
