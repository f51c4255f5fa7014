"""``tssd play BAG``: publish a bag's messages at their recorded timing, for machines without ``ros2 bag``.

Feeds the live nodes (tssd_node, grasp_selector_node) from a rosbag2 (sqlite3 or mcap) or ROS 1 bag. With
``--clock`` the bag time goes out on /clock: start the nodes with ``use_sim_time:=true``. QoS: reliable, keep
last 10 (matches reliable and best-effort subscribers). Ctrl-C stops cleanly. See docs/PLAY.md.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("play", help="publish a bag's messages at their recorded timing (rclpy)",
                       description=__doc__)
    p.add_argument("bag", help="rosbag2 folder (sqlite3 or mcap) or ROS 1 .bag")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor (> 0; default 1)")
    p.add_argument("--loop", type=int, nargs="?", const=0, default=1, metavar="N",
                   help="play N times (without N: until Ctrl-C); bag time goes back at each start")
    p.add_argument("--clock", action="store_true",
                   help="also publish /clock (bag time, 100 Hz and before every message) for use_sim_time")
    p.add_argument("--topics", nargs="+", default=None, metavar="T", help="only these topics (default: all)")
    p.add_argument("--qos", choices=("reliable", "best_effort"), default="reliable",
                   help="reliability of every publisher (default: reliable, keep last 10)")
    p.add_argument("--start-delay", type=float, default=3.0, metavar="S",
                   help="wait up to S s for every topic to have a subscriber before the first message (default 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _warn(text: str) -> None:
    print(f"tssd play: warning: {text}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from tssd_ros.ros.player import play

    counts, loops, interrupted = play(args.bag, args.topics, args.rate, args.loop, args.clock, args.qos,
                                      args.start_delay, progress=not args.no_progress, warn=_warn)
    per_topic = ", ".join(f"{t}: {n}" for t, n in sorted(counts.items()))
    how = "interrupted after" if interrupted else "played"
    print(f"{how} {loops} loop(s); messages published: {per_topic or 'none'}", flush=True)
    return 0
