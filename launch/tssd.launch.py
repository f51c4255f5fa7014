"""Start tssd_node (and optionally grasp_selector_node) on the ROV.

    ros2 launch tssd_ros tssd.launch.py image:=/camera/image_raw weights:=/path/to/tssd.pt
    ros2 launch tssd_ros tssd.launch.py compressed:=true namespace:=rov use_sim_time:=true   # bag replay

Arguments: image (the camera topic; with compressed:=true the node subscribes to <image>/compressed),
compressed, namespace, params_file (tssd_node parameters), grasp_params_file, weights ('' = the value in
params_file), device, use_sim_time, grasp (start grasp_selector_node), dds_profile (the Fast DDS profile for
the nodes started here: default $FASTRTPS_DEFAULT_PROFILES_FILE if set, else the shipped config/fastdds.xml,
whose large shared-memory segment lets raw camera frames through; the camera driver needs it too, see README).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("tssd_ros")
    image = LaunchConfiguration("image")
    compressed = LaunchConfiguration("compressed")
    namespace = LaunchConfiguration("namespace")
    weights = LaunchConfiguration("weights")
    use_sim_time = LaunchConfiguration("use_sim_time")

    args = [
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="camera image topic"),
        DeclareLaunchArgument("compressed", default_value="false",
                              description="subscribe to <image>/compressed (sensor_msgs/CompressedImage)"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace for both nodes"),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "tssd.yaml"]),
                              description="tssd_node parameters"),
        DeclareLaunchArgument("grasp_params_file",
                              default_value=PathJoinSubstitution([share, "config", "grasp_selector.yaml"]),
                              description="grasp_selector_node parameters"),
        DeclareLaunchArgument("weights", default_value="",
                              description="detector weights; empty = the value in params_file"),
        DeclareLaunchArgument("device", default_value="cpu", description="torch device (cpu, cuda)"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (bag replay)"),
        DeclareLaunchArgument("grasp", default_value="true", description="start grasp_selector_node"),
        DeclareLaunchArgument("dds_profile", default_value=EnvironmentVariable(
            "FASTRTPS_DEFAULT_PROFILES_FILE", default_value=PathJoinSubstitution([share, "config", "fastdds.xml"])),
            description="Fast DDS XML profile for these nodes (large camera frames)"),
    ]
    dds = SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", LaunchConfiguration("dds_profile"))

    def tssd_node(context, *_args, **_kwargs):
        overrides = {"device": LaunchConfiguration("device"), "compressed": compressed,
                     "use_sim_time": use_sim_time}
        # Only override `weights` when given, so the params file's value stays the default.
        if weights.perform(context):
            overrides["weights"] = weights
        return [Node(
            package="tssd_ros",
            executable="tssd_node",
            name="tssd_node",
            namespace=namespace,
            output="screen",
            emulate_tty=True,
            parameters=[LaunchConfiguration("params_file"), overrides],
            remappings=[("image", image), ("image/compressed", [image, "/compressed"])],
        )]

    grasp = Node(
        package="tssd_ros",
        executable="grasp_selector_node",
        name="grasp_selector",
        namespace=namespace,
        output="screen",
        emulate_tty=True,
        parameters=[LaunchConfiguration("grasp_params_file"), {"use_sim_time": use_sim_time}],
        condition=IfCondition(LaunchConfiguration("grasp")),
    )
    return LaunchDescription([*args, dds, OpaqueFunction(function=tssd_node), grasp])
