"""Subcommands of the ``tssd`` CLI: argument parsing and file I/O around the core."""
