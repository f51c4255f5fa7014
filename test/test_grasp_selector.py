"""GraspSelector core (no ROS): policies, class priority, minimum age, lock, loss, release, next, manual."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tssd_ros.grasp.geometry import pixel_to_ray
from tssd_ros.grasp.selector import Candidate, GraspSelector, SelectorConfig, normalise_id

DT = 0.1  # 10 Hz


def cand(tid: str | int, cls: str = "scallop", score: float = 0.5, cx: float = 100.0, cy: float = 100.0,
         size: float = 20.0) -> Candidate:
    return Candidate(str(tid), cls, score, cx, cy, size, size)


def run(sel: GraspSelector, frames: list[list[Candidate]], t0: float = 0.0):
    """Feed frames at 10 Hz from t0; returns the outputs."""
    return [sel.update(t0 + i * DT, f) for i, f in enumerate(frames)]


def make(**kw) -> GraspSelector:
    kw.setdefault("min_track_age", 1)
    return GraspSelector(SelectorConfig(**kw))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("highest_score", "1"), ("largest", "2"), ("nearest_center", "3")],
)
def test_policies(policy: str, expected: str) -> None:
    sel = make(policy=policy, image_center=(320.0, 240.0))
    frame = [
        cand(1, score=0.9, cx=50, cy=50, size=10),
        cand(2, score=0.5, cx=600, cy=400, size=80),
        cand(3, score=0.4, cx=330, cy=250, size=30),
    ]
    out = sel.update(0.0, frame)
    assert (out.state, out.target_id) == ("locked", expected)
    assert out.target is not None and out.target.target_id == expected


def test_nearest_center_without_centre_falls_back_to_largest() -> None:
    sel = make(policy="nearest_center")
    out = sel.update(0.0, [cand(1, cx=320, cy=240, size=10), cand(2, cx=10, cy=10, size=50)])
    assert out.target_id == "2"
    sel2 = make(policy="nearest_center")
    sel2.set_image_center((320.0, 240.0))
    frame = [cand(1, cx=320, cy=240, size=10), cand(2, cx=10, cy=10, size=50)]
    assert sel2.update(0.0, frame).target_id == "1"


def test_class_priority_beats_policy_and_filters() -> None:
    sel = make(policy="highest_score", target_classes=("seaurchin", "scallop"))
    frame = [cand(1, "seacucumber", 0.99), cand(2, "scallop", 0.9), cand(3, "seaurchin", 0.3)]
    assert sel.update(0.0, frame).target_id == "3"
    sel = make(policy="highest_score", target_classes=("scallop",))
    assert sel.update(0.0, [cand(1, "seacucumber", 0.99), cand(3, "seaurchin", 0.3)]).state == "searching"


def test_unconfirmed_ignored_and_ties_deterministic() -> None:
    sel = make(policy="highest_score")
    out = sel.update(0.0, [cand("", score=0.99), cand(9, score=0.5), cand(4, score=0.5)])
    assert out.target_id == "4"
    assert out.rejected == ()


def test_min_track_age_counts_frames_seen() -> None:
    sel = make(min_track_age=3, policy="highest_score")
    outs = run(sel, [[cand(1, score=0.5)], [cand(1, score=0.5), cand(2, score=0.9)], [cand(1), cand(2)]])
    assert [o.state for o in outs] == ["searching", "searching", "locked"]
    assert outs[2].target_id == "1"  # 2 has only 2 frames even though it scores higher


def test_lock_kept_when_higher_scoring_object_appears() -> None:
    sel = make(policy="highest_score")
    outs = run(sel, [[cand(1, score=0.5)]] + [[cand(1, score=0.5), cand(2, score=0.99, size=90)]] * 10)
    assert all(o.target_id == "1" and o.state == "locked" for o in outs)
    assert outs[-1].frames_locked == 11


def test_lost_then_timeout_then_reselect() -> None:
    sel = make(policy="highest_score", lost_timeout_s=0.25)
    sel.update(0.0, [cand(1, score=0.9), cand(2, score=0.5)])
    o1 = sel.update(0.1, [cand(2, score=0.5)])
    o2 = sel.update(0.2, [cand(2, score=0.5)])
    assert (o1.state, o1.target_id, o1.target) == ("lost", "1", None)
    assert o2.state == "lost" and math.isclose(o2.unseen_s, 0.2)
    o3 = sel.update(0.3, [cand(2, score=0.5)])  # unseen 0.3 s > 0.25 s: re-select in the same frame
    assert (o3.state, o3.target_id, o3.frames_locked) == ("locked", "2", 1)


def test_lost_and_back_within_timeout_keeps_lock() -> None:
    sel = make(policy="highest_score", lost_timeout_s=1.0)
    outs = run(sel, [[cand(1, score=0.5)], [cand(2, score=0.9)], [cand(1, score=0.5), cand(2, score=0.9)]])
    assert [(o.state, o.target_id) for o in outs] == [("locked", "1"), ("lost", "1"), ("locked", "1")]


def test_searching_when_nothing_and_time_jump_back_resets() -> None:
    sel = make()
    assert sel.update(5.0, []).state == "searching"
    assert sel.update(5.1, [cand(1)]).state == "locked"
    out = sel.update(1.0, [cand(2)])  # bag looped: everything forgotten, 2 picked
    assert (out.state, out.target_id) == ("locked", "2")


def test_release_excludes_until_forgotten() -> None:
    sel = make(policy="highest_score", lost_timeout_s=0.15)
    sel.update(0.0, [cand(1, score=0.9), cand(2, score=0.5)])
    ok, msg = sel.release()
    assert ok and "1" in msg
    assert sel.update(0.1, [cand(1, score=0.9), cand(2, score=0.5)]).target_id == "2"
    ok, msg = sel.release()
    assert ok
    assert sel.update(0.2, [cand(1, score=0.9), cand(2, score=0.5)]).state == "searching"
    sel.update(0.3, [])
    sel.update(0.5, [])  # both unseen > 0.15 s: forgotten, eligible again
    assert sel.update(0.6, [cand(1, score=0.9), cand(2, score=0.5)]).target_id == "1"
    sel2 = make()
    assert sel2.release() == (False, "nothing locked")


def test_next_excludes_current() -> None:
    sel = make(policy="highest_score")
    sel.update(0.0, [cand(1, score=0.9), cand(2, score=0.5), cand(3, score=0.7)])
    ok, msg = sel.next()
    assert ok and sel.locked_id == "3" and "3" in msg
    out = sel.update(0.1, [cand(1, score=0.9), cand(2, score=0.5), cand(3, score=0.7)])
    assert (out.target_id, out.frames_locked) == ("3", 1)
    assert sel.next()[0] and sel.locked_id == "1"
    only = make()
    only.update(0.0, [cand(5)])
    ok, msg = only.next()
    assert not ok and "no other" in msg and only.locked_id == "5"


def test_manual_lock_waits_and_overrides_filters() -> None:
    sel = make(policy="highest_score", target_classes=("seaurchin",), min_track_age=5)
    assert sel.lock(17) == "waiting for 17"
    out = sel.update(0.0, [cand(3, "seaurchin", 0.99)])
    assert (out.state, out.target_id, out.manual) == ("searching", "17", True)
    out = sel.update(0.1, [cand(3, "seaurchin", 0.99), cand("017", "scallop", 0.1)])
    assert (out.state, out.target_id, out.class_name) == ("locked", "17", "scallop")
    # lost past the timeout: stays manual, waits for 17 again rather than picking 3
    outs = run(sel, [[cand(3, "seaurchin")]] * 15, t0=0.2)
    assert outs[-1].state == "searching" and outs[-1].target_id == "17"
    # immediate lock of an id in the latest frame; back to auto keeps it
    assert sel.lock("3").startswith("locked 3")
    assert sel.lock(-1) == "automatic selection, keeping 3"
    assert not sel.update(2.0, [cand(3, "seaurchin")]).manual
    with pytest.raises(ValueError):
        sel.lock("abc")
    assert normalise_id(" 007 ") == "7" and normalise_id(-1) is None


def test_stability_window() -> None:
    sel = make(stable_px=2.0, stable_frames=4)
    jitter = [0.0, 1.0, -1.0, 0.5, 0.0, 1.0]
    outs = [sel.update(i * DT, [cand(1, cx=100 + j, cy=50 - j)]) for i, j in enumerate(jitter)]
    assert [o.stable for o in outs] == [False, False, False, True, True, True]
    out = sel.update(0.6, [cand(1, cx=130, cy=50)])  # jump of 30 px
    assert not out.stable
    assert not sel.update(0.7, []).stable  # lost frame: not stable, window restarts
    outs = [sel.update(0.8 + i * DT, [cand(1, cx=130, cy=50)]) for i in range(4)]
    assert [o.stable for o in outs] == [False, False, False, True]


def test_bad_input_rejected_not_fatal() -> None:
    sel = make()
    bad = [cand("abc"), Candidate("5", "scallop", 0.5, math.nan, 1.0, 1.0, 1.0), cand(6, size=-1.0)]
    out = sel.update(0.0, [*bad, cand(7), cand(7)])
    assert [r[1].split()[0] for r in out.rejected] == ["non-numeric", "non-finite", "negative", "duplicate"]
    assert out.target_id == "7"


def test_config_validation() -> None:
    assert "unknown policy" in (SelectorConfig(policy="bogus").problem() or "")
    assert "lost_timeout_s" in (SelectorConfig(lost_timeout_s=-1.0).problem() or "")
    assert SelectorConfig().problem() is None
    with pytest.raises(ValueError):
        GraspSelector(SelectorConfig(min_track_age=0))
    sel = make()
    sel.update(0.0, [cand(1)])
    sel.configure(SelectorConfig(policy="largest", min_track_age=1, stable_frames=2))
    assert sel.locked_id == "1"  # reconfiguring keeps the lock


def test_pixel_to_ray() -> None:
    k = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
    assert pixel_to_ray(320.0, 240.0, k) == pytest.approx((0.0, 0.0, 1.0))
    x, y, z = pixel_to_ray(820.0, 240.0, k)  # 500 px right = 45 degrees
    assert (x, y, z) == pytest.approx((math.sqrt(0.5), 0.0, math.sqrt(0.5)))
    d = [-0.3, 0.1, 0.001, -0.002, 0.0]
    ray = np.array(pixel_to_ray(100.0, 400.0, k, d, "plumb_bob"))
    assert np.linalg.norm(ray) == pytest.approx(1.0)
    # re-projecting the ray with the same model lands on the pixel again
    import cv2

    proj, _ = cv2.projectPoints(ray.reshape(1, 1, 3), np.zeros(3), np.zeros(3), np.array(k).reshape(3, 3),
                                np.array(d))
    assert proj.ravel() == pytest.approx([100.0, 400.0], abs=0.05)
    with pytest.raises(ValueError):
        pixel_to_ray(1.0, 1.0, [0.0] * 9)
    with pytest.raises(ValueError):
        pixel_to_ray(1.0, 1.0, k, d, "weird_model")
