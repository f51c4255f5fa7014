"""The ``tssd`` command: one entry point, one subcommand per job.

Each subcommand lives in ``tssd_ros/commands/<name>.py`` exposing ``register(subparsers)``; the module
sets ``func`` on its parser. A ``TssdError`` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module under tssd_ros.commands) in the order shown by --help
SUBCOMMANDS = ("detect", "track", "eval_mot", "synth", "evaluate", "replay", "play", "train", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tssd", description="TSSD-OTA identity-aware temporal detection for underwater ROVs"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"tssd_ros.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from tssd_ros.errors import TssdError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except TssdError as e:
        print(f"tssd {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tssd {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
