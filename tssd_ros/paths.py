"""Where the package's data (weights/, config/) lives: the ROS share directory, or the source tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SOURCE_ROOT = Path(__file__).resolve().parents[1]


def share_dir() -> Path:
    """share/tssd_ros of an installed package (ament index), else the source checkout (make env)."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            return Path(get_package_share_directory("tssd_ros"))
        except (PackageNotFoundError, OSError):  # OSError: no AMENT_PREFIX_PATH (no ROS environment sourced)
            pass
    except ImportError:
        pass
    return SOURCE_ROOT


def resolve_data_path(path: str | Path) -> Path:
    """An absolute path as is; a relative one against the CWD if it exists there, else the share dir."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    return share_dir() / p


def read_yaml(path: str | Path, what: str = "YAML file") -> Any:
    """The parsed YAML document, or a one-line InputError naming ``what`` (missing file, bad syntax)."""
    import yaml

    from tssd_ros.errors import InputError

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise InputError(f"cannot read {what} {path}: {str(e).splitlines()[0]}") from None


def make_out_dir(path: str | Path, what: str = "--out") -> Path:
    """Create an output folder, or a one-line InputError saying why it cannot be (no traceback for a user)."""
    from tssd_ros.errors import InputError

    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create {what} {p}: {e.strerror or e}") from None
    return p
