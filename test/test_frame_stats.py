"""FrameStats: dropped frames from the publisher's sequence numbers, and the camera's rate with them."""

from __future__ import annotations

import time

from tssd_ros.ros.frame_stats import FrameStats


def test_sequence_gaps_are_dropped_frames():
    st = FrameStats()
    for seq in (1, 2, 5, 6, 10):  # 3, 4 and 7-9 were replaced before the node took them
        st.arrived(seq)
    assert st.n_in == 5 and st.n_dropped == 5
    st.arrived(1)  # a restarted (or another) publisher: a new count, not a negative gap
    st.arrived(2)
    assert st.n_in == 7 and st.n_dropped == 5
    st.arrived(None)  # no sequence numbers: received, nothing inferred
    assert st.n_in == 8 and st.n_dropped == 5
    v = st.values()
    assert v["frames_in"] == 8 and v["frames_dropped"] == 5


def test_input_rate_counts_the_dropped_frames():
    st = FrameStats()
    t0 = time.monotonic()
    for k in range(6):  # every third frame of a 30 Hz camera reaches the node
        st.in_times.append((t0 - 1.0 + k * 0.1, 1 + 3 * k))
    assert abs(st.input_rate() - 30.0) < 1e-6
