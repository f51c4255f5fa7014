"""ament_python build of tssd_ros: installs the package, its share/ data and its executables."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "tssd_ros"


def share(folder: str, patterns: tuple[str, ...]) -> tuple[str, list[str]]:
    files = sorted({f for p in patterns for f in glob(f"{folder}/{p}") if Path(f).is_file()})
    return (f"share/{PACKAGE}/{folder}", files)


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        share("launch", ("*.launch.py",)),
        share("config", ("*.yaml", "*.xml")),
        share("rviz", ("*.rviz",)),
        share("weights", ("*.pt", "*.pth", "*.md")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="tssd_ros developers",
    maintainer_email="tssd_ros@example.com",
    description="TSSD-OTA identity-aware temporal object detection for underwater ROVs",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "tssd = tssd_ros.cli:main",
            "tssd_node = tssd_ros.ros.tssd_node:main",
            "grasp_selector_node = tssd_ros.ros.grasp_selector_node:main",
        ],
    },
)
