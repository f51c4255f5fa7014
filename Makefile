# tssd_ros developer commands. `make test` and `make demo` work on a fresh clone (they build .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# DDS stays on loopback; each run gets its own domain so parallel runs on one machine never meet; Fast DDS
# uses the shipped profile for camera-sized messages (config/fastdds.xml) unless one is set.
ROS_ENV := ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( RANDOM % 100 + 1 ))} \
	FASTRTPS_DEFAULT_PROFILES_FILE=$${FASTRTPS_DEFAULT_PROFILES_FILE:-$(CURDIR)/config/fastdds.xml}

.PHONY: env test lint bench soak profile demo clean-env

env: $(VENV)/.stamp-pkg

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Third-party wheels: the pinned Jazzy set + everything else pinned in env/requirements*.txt.
$(VENV)/.stamp-deps: $(VENV)/bin/python env/requirements.txt env/requirements-nodeps.txt env/ros2-jazzy-constraints.txt
	$(PIP) install -q -c env/ros2-jazzy-constraints.txt -r env/requirements.txt 2>&1 | grep -v "is ignored" || true
	@$(PY) -c "import rclpy, torch, cv2, rosbags" || { echo "error: pip install failed (see above)"; exit 1; }
	$(PIP) install -q --no-deps -r env/requirements-nodeps.txt 2>&1 | grep -v "is ignored" || true
	touch $@

# vision_msgs 4.1.1 from its definitions with the real rosidl toolchain (skipped if already importable).
$(VENV)/.stamp-vision-msgs: $(VENV)/.stamp-deps env/build_vision_msgs.py $(wildcard env/vision_msgs/msg/*.msg) env/vision_msgs/CMakeLists.txt env/vision_msgs/package.xml
	$(PY) env/build_vision_msgs.py
	touch $@

# The package itself, editable; executables land in .venv/bin (pip ignores setup.cfg's script_dir,
# which is for colcon's lib/tssd_ros layout).
$(VENV)/.stamp-colcon: $(VENV)/bin/python env/requirements-colcon.txt
	$(PYTHON) -m venv $(VENV)/colcon
	$(VENV)/colcon/bin/python -m pip --disable-pip-version-check install -q -r env/requirements-colcon.txt 2>&1 | grep -v "is ignored" || true
	touch $@

$(VENV)/.stamp-pkg: $(VENV)/.stamp-vision-msgs $(VENV)/.stamp-colcon setup.py setup.cfg package.xml
	$(PIP) install -q --no-deps --no-build-isolation -e . 2>&1 | grep -v "is ignored" || true
	$(PY) env/check_env.py
	touch $@

test: env
	$(ROS_ENV) $(PY) -m pytest test -q -p no:cacheprovider $(PYTEST_ARGS)

lint: env
	$(VENV)/bin/ruff check .

bench: env
	$(ROS_ENV) $(PY) benchmarks/run_all.py

# Endurance (not in `make test`): 10,000 frames through the node over DDS, kill -9 and restart, bad input.
soak: env
	$(ROS_ENV) $(PY) benchmarks/soak.py

# Where a frame's time goes (torch profiler + py-spy on the running node): benchmarks/results/profile.md
profile: env
	$(ROS_ENV) $(PY) benchmarks/profile_node.py

demo: env
	$(ROS_ENV) $(PY) -m tssd_ros.cli demo

clean-env:
	rm -rf $(VENV)
