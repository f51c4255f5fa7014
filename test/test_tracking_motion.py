"""OTA motion mode (issue 10): Kalman prediction, camera-motion compensation, two stages, re-identification."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tssd_ros.tracking.cmc import CameraMotion, median_shift
from tssd_ros.tracking.counting import DiveCounter
from tssd_ros.tracking.kalman import BoxKalman, cxcywh_to_xyxy
from tssd_ros.tracking.ota import OTAConfig, OTATracker
from tssd_ros.types import Detections

NAMES = ("seaurchin", "scallop", "seacucumber")
URPC = Path(__file__).resolve().parents[2] / "shared" / "data" / "urpc2020" / "images"


def dets(boxes, scores=None, vecs=None, labels=None) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    return Detections(boxes, np.full(n, 0.9) if scores is None else scores, np.zeros(n) if labels is None else labels,
                      vecs, NAMES)


def motion_cfg(**kw) -> OTAConfig:
    """The motion mode; frames without attention vectors use the box terms alone."""
    return OTAConfig(mode="motion", missing_attention="iou", **kw)


def ids(tracks) -> list[int]:
    return [t.track_id for t in tracks]


# -- Kalman filter -------------------------------------------------------------------------------------


def test_kalman_constant_velocity_prediction_hand_computed():
    kf = BoxKalman(meas_std=0.1, accel_std=2.0, vel_std0=5.0)
    x = np.array([[100.0, 50.0, 20.0, 10.0, 30.0, -10.0, 2.0, 0.0]])  # size s = 15
    P = np.tile([4.0, 1.0, 9.0], (1, 4, 1))
    xn, Pn = kf.predict(x, P, 0.5)
    np.testing.assert_allclose(xn, [[115.0, 45.0, 21.0, 10.0, 30.0, -10.0, 2.0, 0.0]])
    q, dt = (2.0 * 15) ** 2, 0.5  # 900
    # pp + 2 dt pv + dt^2 vv + q dt^3/3 | pv + dt vv + q dt^2/2 | vv + q dt
    expect = [4 + 2 * dt * 1 + dt**2 * 9 + q * dt**3 / 3, 1 + dt * 9 + q * dt**2 / 2, 9 + q * dt]
    assert expect == [44.75, 118.0, 459.0]
    np.testing.assert_allclose(Pn[0], np.tile(expect, (4, 1)))
    np.testing.assert_array_equal(x[0, :4], [100, 50, 20, 10])  # inputs untouched
    # a dropped frame is just a longer dt: two steps of 0.25 s move the state as one of 0.5 s
    x2, _ = kf.predict(*kf.predict(x, P, 0.25), 0.25)
    np.testing.assert_allclose(x2, xn)
    np.testing.assert_allclose(cxcywh_to_xyxy(xn), [[104.5, 40.0, 125.5, 50.0]])


def test_kalman_update_learns_velocity_and_tracker_predicts_across_dropped_frames():
    kf = BoxKalman()
    x, P = kf.init(np.array([[0.0, 0.0, 40.0, 40.0]]))
    for k in range(1, 6):
        x, P = kf.predict(x, P, 0.1)
        x, P = kf.update(x, P, np.array([[15.0 * k, 0.0, 40 + 15.0 * k, 40.0]]))
    assert x[0, 4] == pytest.approx(150.0, rel=0.01) and x[0, 5] == pytest.approx(0.0, abs=1e-9)
    # the tracker's motion mode: 3 frames dropped = 60 px on a 40 px box, no overlap with the last box
    trk = OTATracker(motion_cfg(cmc=False))
    seen = [ids(trk.update(dets([[15.0 * k, 0, 40 + 15.0 * k, 40]]), timestamp=0.1 * k))[0] for k in (0, 1, 2, 3, 7)]
    assert seen == [0] * 5
    st = trk._store
    x, _ = st.kf_predict(trk._motion.kf, np.array([0]), 0.9, np.zeros(2))
    np.testing.assert_allclose(cxcywh_to_xyxy(x)[0], [135, 0, 175, 40], atol=1.0)


# -- camera-motion compensation ------------------------------------------------------------------------


def _texture(seed: int = 0, shape=(480, 640)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, shape).astype(np.float32), (0, 0), 3)
    img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def _shifted(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)


def _real_frame() -> np.ndarray:
    files = sorted(URPC.glob("*/*.jpg"))
    if not files:
        pytest.skip(f"no URPC2020 images under {URPC}")
    img = cv2.imread(str(files[0]))
    assert img is not None
    return img


@pytest.mark.parametrize("source", ["texture", "urpc2020"])
@pytest.mark.parametrize("shift", [(7.0, -3.0), (-15.0, 4.0), (0.5, 2.25)])
def test_cmc_estimates_shift_within_one_pixel(source, shift):
    img = _texture() if source == "texture" else _real_frame()
    cmc = CameraMotion()
    assert cmc.estimate(img) is None  # first frame: nothing to compare with
    got = cmc.estimate(_shifted(img, *shift))
    assert got is not None
    np.testing.assert_allclose(got, shift, atol=1.0)
    assert median_shift(np.array([[1.0, 2.0], [3.0, 4.0]])) is None  # too few boxes to trust
    np.testing.assert_allclose(median_shift(np.array([[1.0, 0], [2.0, 0], [50.0, 9.0]])), [2.0, 0.0])


def _jerk_run(use_frames: bool, cmc: bool) -> list[list[int]]:
    """Three individuals at rest; at frame 5 the camera jerks 35 px right: everything jumps on 40 px boxes."""
    img = _texture(1, (360, 640))
    base = np.array([[100.0, 100, 140, 140], [300, 200, 340, 240], [450, 80, 490, 120]])
    trk = OTATracker(motion_cfg(cmc=cmc))
    out = []
    for k in range(8):
        dx = 35.0 if k >= 5 else 0.0
        frame = _shifted(img, dx, 0.0) if use_frames else None
        out.append(ids(trk.update(dets(base + [dx, 0, dx, 0]), timestamp=k / 10, frame=frame)))
    return out


def test_cmc_from_frames_keeps_identities_through_a_camera_jerk():
    assert _jerk_run(use_frames=True, cmc=True)[-1] == [0, 1, 2]
    assert _jerk_run(use_frames=True, cmc=False)[-1] == [3, 4, 5]  # IoU 0.07 with the old boxes: new ids


def test_cmc_without_frames_follows_the_boxes_median_shift():
    """A scene scrolling at 20 px/frame with one individual hidden for 4 frames: without frames the camera
    speed is learnt from the other boxes, so the hidden one's prediction scrolls with the scene."""
    trk = OTATracker(motion_cfg(cmc=True))
    base = np.array([[100.0, 100, 140, 140], [300, 200, 340, 240], [450, 80, 490, 120], [600, 300, 640, 340]])
    seen = []
    for k in range(12):
        keep = [0, 1, 2] if 3 <= k < 7 else [0, 1, 2, 3]
        seen.append(ids(trk.update(dets(base[keep] - [20.0 * k, 0, 20.0 * k, 0]), timestamp=k / 10)))
    assert seen[0] == [0, 1, 2, 3] and seen[-1] == [0, 1, 2, 3]
    assert trk._motion.cam_vel == pytest.approx([-200.0, 0.0], abs=1.0)


# -- two stages and score scales -----------------------------------------------------------------------


def test_low_score_detection_extends_a_track_but_never_starts_one():
    trk = OTATracker(motion_cfg(G=0.5, low_score=0.1))
    box = [100.0, 100, 140, 140]
    assert ids(trk.update(dets([box], scores=[0.9]))) == [0]
    # the individual fades (blur, half hidden): its detection scores 0.3, below G, and keeps the identity
    out = trk.update(dets([[102.0, 100, 142, 140], [400, 400, 440, 440]], scores=[0.3, 0.3]))
    assert ids(out) == [0, -1]  # the second 0.3 detection matches nothing: no new identity
    assert out[0].hits == 2
    # below low_score nothing happens at all
    assert ids(trk.update(dets([[104.0, 100, 144, 140]], scores=[0.05]))) == [-1]
    # the second stage is box only and second: a high-score detection takes the tubelet first
    out = trk.update(dets([[106.0, 100, 146, 140], [105.0, 101, 145, 141]], scores=[0.3, 0.95]))
    assert ids(out) == [-1, 0]


@pytest.mark.parametrize("match", [1.0, 0.3])
def test_both_stages_match_within_a_class_unless_cross_class_match(match):
    """All classes share one association matrix per stage. Per-class tubelets (cross_class_match 1.0, the paper):
    a box of another class on the same spot never takes the identity, in the high-score stage or the low one.
    With cross_class_match (the default) it continues the tubelet when no box of its class does, and the
    tubelet keeps the class its detections voted for."""
    per_class = match == 1.0
    trk = OTATracker(motion_cfg(G=0.5, low_score=0.1, cross_class_match=match))
    a, b = [100.0, 100, 140, 140], [300.0, 100, 340, 140]
    assert ids(trk.update(dets([a, b], labels=[0, 1]))) == [0, 1]
    # same places, classes swapped
    out = trk.update(dets([b, a], labels=[0, 1]))
    assert ids(out) == ([2, 3] if per_class else [1, 0])
    assert [t.class_name for t in out] == (["seaurchin", "scallop"] if per_class else ["scallop", "seaurchin"])
    # the low stage likewise; a faint box of the tubelet's class always extends it
    trk = OTATracker(motion_cfg(G=0.5, low_score=0.1, cross_class_match=match))
    assert ids(trk.update(dets([a], labels=[0]))) == [0]
    out = trk.update(dets([[101.0, 100, 141, 140]], scores=[0.3], labels=[1]))
    assert ids(out) == ([-1] if per_class else [0])
    out = trk.update(dets([[102.0, 100, 142, 140]], scores=[0.3], labels=[0]))
    assert ids(out) == [0] and out[0].hits == (2 if per_class else 3)


def test_a_second_box_on_a_tracked_individual_starts_no_tubelet():
    """A part box (or NMS's leftover) inside the box that took an identity is no new individual; a box of
    another class half inside (a starfish on a scallop) or one mostly outside still is; one almost wholly
    inside a box of another class is the same animal boxed twice (cross_class_cover); 1.0 turns each off."""
    big, part, other = [100.0, 100, 200, 200], [110.0, 110, 160, 160], [180.0, 100, 280, 200]
    for cover, expect in ((0.5, [0, -1, 1]), (1.0, [0, 1, 2])):
        trk = OTATracker(motion_cfg(birth_cover=cover))
        trk.update(dets([big]))
        out = trk.update(dets([[101.0, 100, 201, 200], part, other]))
        assert ids(out)[:2] == [0, expect[1]] and ids(out)[2] >= 0
    half = [150.0, 120, 250, 180]  # half of its area inside the big box
    for cross, expect in ((0.8, [0, -1, 1]), (1.0, [0, 1, 2])):
        trk = OTATracker(motion_cfg(cross_class_cover=cross))
        trk.update(dets([big], labels=[0]))
        out = trk.update(dets([[101.0, 100, 201, 200], part, half], labels=[0, 1, 1]))
        assert ids(out) == expect  # another class: wholly inside is a second box, half inside a new individual


def test_a_second_box_born_with_the_individual_never_confirms_while_on_it():
    """Both boxes appear in the same frame (no identity yet, so nothing stops the birth): the part box, inside
    the senior one (as many hits, lower score), gets no hits, is never confirmed, published or counted while it
    stays on the individual, and confirms once on its own. Rules off: it confirms."""
    for cover, confirmed_on_it in ((0.5, False), (1.0, True)):
        trk = OTATracker(motion_cfg(min_hits=3, birth_cover=cover, cross_class_cover=1.0))
        counter = DiveCounter(NAMES, min_hits=3)
        for k in range(8):
            out = trk.update(dets([[100.0 + k, 100, 200 + k, 200], [110.0 + k, 110, 160 + k, 160]],
                                  scores=[0.9, 0.8]))
            counter.update(out)
            assert ids(out) == [0, 1] and out[0].confirmed == (k >= 2)
            assert out[1].confirmed == (confirmed_on_it and k >= 2)
        assert sum(counter.counts.values()) == (2 if confirmed_on_it else 1)
    # the individual moves off the part box: once less than half of the part box is inside (frame 7), it is on
    # its own and confirms with min_hits hits, its birth one included (frame 8)
    trk = OTATracker(motion_cfg(min_hits=3))
    flags = [trk.update(dets([[100.0 - 10 * k, 100, 200 - 10 * k, 200], [110.0, 110, 160, 160]],
                             scores=[0.9, 0.8]))[1].confirmed for k in range(12)]
    assert flags.index(True) == 8 and all(flags[8:])


def test_confirmed_tubelets_take_detections_before_tentative_ones():
    """A tubelet born from a stray box next to an established individual must not take that individual's next
    detection (its identity would switch): confirmed tubelets are matched first, as ByteTrack does."""
    trk = OTATracker(motion_cfg(min_hits=3, birth_cover=1.0))
    for k in range(4):  # individual 0 is confirmed
        assert ids(trk.update(dets([[100.0 + k, 100, 140 + k, 140]]))) == [0]
    # a stray box overlapping it is born as tentative tubelet 1
    assert ids(trk.update(dets([[104.0, 100, 144, 140], [118.0, 100, 158, 140]]))) == [0, 1]
    # the individual's next box overlaps the stray tubelet more than its own prediction: greedy alone would hand it
    # to tubelet 1; confirmed first, it stays 0 and the stray tubelet gets nothing
    out = trk.update(dets([[113.0, 100, 153, 140]]))
    assert ids(out) == [0]


def test_scores_above_one_are_normalised():
    """MOT public detections score up to ~133: G applies to score / scale (read from the stream, or fixed)."""
    boxes = [[0.0, 0, 40, 40], [100, 0, 140, 40], [200, 0, 240, 40]]
    for cfg in (motion_cfg(G=0.3), motion_cfg(G=0.3, score_scale=100.0)):
        trk = OTATracker(cfg)
        out = trk.update(dets(boxes, scores=[100.0, 45.0, 20.0]))  # normalised 1.0, 0.45, 0.2 (G = 0.3)
        assert ids(out) == [0, 1, -1]
        out = trk.update(dets([[1.0, 0, 41, 40], [200, 0, 240, 40]], scores=[15.0, 80.0]))
        assert ids(out) == [0, 2]  # 0.15 extends track 0 in the second stage; 0.8 starts one
    # scores in [0, 1] are used as they are (scale 1)
    trk = OTATracker(motion_cfg(G=0.3))
    assert ids(trk.update(dets(boxes, scores=[0.9, 0.31, 0.29]))) == [0, 1, -1]


def test_an_outlier_score_does_not_silence_the_stream():
    """One glitch score (1000 from a detector scoring in [0, 1]) sets the scale only until SCALE_RANK scores have
    been seen: with the largest score as the scale, every later box would fall below G and no track would start."""
    trk = OTATracker(motion_cfg(G=0.3))
    trk.update(dets([[300.0, 300, 340, 340]], scores=[1000.0]), timestamp=0.0)
    seen = []
    for k in range(1, 40):
        out = trk.update(dets([[100.0 + k, 100, 140 + k, 140]], scores=[0.9]), timestamp=k / 30)
        seen += [t.track_id for t in out if t.confirmed]
    assert trk._scale.value == 1.0
    assert len(seen) > 10 and len(set(seen)) == 1


# -- re-identification and counting --------------------------------------------------------------------


def _hide_run(vecs_back: np.ndarray | None, vecs: np.ndarray | None, hidden_s: float = 1.0,
              cfg: OTAConfig | None = None) -> tuple[list[int], DiveCounter]:
    """An individual drifting at 30 px/s, seen for 0.5 s, hidden for ``hidden_s``, back for 0.5 s (30 fps)."""
    cfg = cfg or motion_cfg()
    trk, counter = OTATracker(cfg), DiveCounter(NAMES, min_hits=cfg.min_hits)
    seen = []
    hidden = range(15, 15 + round(30 * hidden_s))
    for k in range(15 + len(hidden) + 15):
        t = k / 30
        box = [[100 + 30 * t, 200, 150 + 30 * t, 250]]
        if k in hidden:
            d = Detections.empty(NAMES, None if vecs is None else vecs.shape[1])
        else:
            d = dets(box, vecs=vecs if k < 15 else vecs_back)
        tracks = trk.update(d, timestamp=t)
        counter.update(tracks, next_id=trk.next_id, stamp=t)
        seen += ids(tracks)
    return seen, counter


def test_reid_individual_hidden_one_second_keeps_its_id_and_is_counted_once():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(1, 147)).astype(np.float32)
    seen, counter = _hide_run(v + 0.1 * rng.normal(size=v.shape), v)
    assert set(seen) == {0}
    assert counter.counts["seaurchin"] == 1
    assert counter.snapshot()["seaurchin"]["in_view"] == 1
    # without attention vectors the Kalman prediction's IoU decides
    seen, counter = _hide_run(None, None)
    assert set(seen) == {0} and counter.counts["seaurchin"] == 1


def test_reid_refuses_another_individual_and_old_losses():
    rng = np.random.default_rng(1)
    v, other = rng.normal(size=(2, 1, 147)).astype(np.float32)
    seen, counter = _hide_run(other, v)  # someone else appears where the first one would be
    assert seen == [0] * 15 + [1] * 15 and counter.counts["seaurchin"] == 2
    seen, _ = _hide_run(v, v, hidden_s=4.0)  # longer than reid_max_age_s = 3
    assert set(seen) == {0, 1}
    seen, _ = _hide_run(v, v, cfg=motion_cfg(reid_max_age_s=0.0))  # re-identification off
    assert set(seen) == {0, 1}
    # the paper's modes are unchanged: no re-identification
    seen, _ = _hide_run(v, v, cfg=OTAConfig(mode="attention"))
    assert set(seen) == {0, 1}


def test_reset_forgets_lost_pool_camera_and_scale():
    trk = OTATracker(motion_cfg(max_age_frames=10))
    trk.update(dets([[0.0, 0, 40, 40]], scores=[50.0]), timestamp=0.0)
    for k in range(1, 12):
        trk.update(Detections.empty(NAMES), timestamp=k / 30)
    assert trk._store.lost.any() and trk._scale.value == 50.0
    trk.reset()
    assert not trk._store.lost.any() and trk._scale.value == 1.0 and not trk._motion.cam.any()
    assert ids(trk.update(dets([[0.0, 0, 40, 40]]), timestamp=0.0)) == [1]


def test_lifetime_is_the_modes_unless_set():
    """max_age_frames None: the reference's 10 frames in the paper's modes, 30 in the motion mode (its filter still
    predicts an unmatched tubelet); a set value wins; the node parameter 0 means the mode's."""
    from tssd_ros.params import ota_changes_from_params

    for cfg, alive_after in ((motion_cfg(), {12: True, 29: True, 30: False}),
                             (motion_cfg(max_age_frames=10), {9: True, 10: False}),
                             (OTAConfig(mode="iou"), {9: True, 10: False})):
        for gap, alive in alive_after.items():
            trk = OTATracker(cfg)
            trk.update(dets([[0.0, 0, 40, 40]]), timestamp=0.0)
            for k in range(1, gap + 1):
                trk.update(Detections.empty(NAMES), timestamp=k / 30)
            assert bool(trk.active_tracks()) == alive, (cfg.mode, cfg.max_age_frames, gap)
    assert ota_changes_from_params({"ota_max_age_frames": 0})["max_age_frames"] is None
    assert OTAConfig(**ota_changes_from_params({"ota_max_age_frames": 7})).age_limit() == 7


def test_a_class_flip_on_one_animal_keeps_its_identity_and_is_counted_once():
    """The detector calls one sea cucumber a scallop for four frames: with cross_class_match the tubelet goes on,
    published under the class most of its detections gave, and the animal is counted once; per-class tubelets
    (1.0, the paper) end it and start a scallop: two identities, two counts."""
    for match, n_ids, counts in ((0.3, 1, {"seacucumber": 1, "scallop": 0}),
                                 (1.0, 2, {"seacucumber": 1, "scallop": 1})):
        trk = OTATracker(motion_cfg(min_hits=3, cross_class_match=match))
        counter = DiveCounter(NAMES, min_hits=3)
        seen, names = set(), set()
        for k in range(20):
            out = trk.update(dets([[100.0 + 2 * k, 100, 200 + 2 * k, 160]], labels=[1 if 8 <= k < 12 else 2]))
            counter.update(out)
            seen |= {t.track_id for t in out if t.confirmed}
            names |= {t.class_name for t in out if t.confirmed}
        assert len(seen) == n_ids and {c: counter.counts[c] for c in counts} == counts
        assert names == ({"seacucumber"} if n_ids == 1 else {"seacucumber", "scallop"})


def test_a_tubelets_class_is_its_detections_vote_and_its_count_follows_it():
    """Counted as a scallop after its first three frames, then seen as a sea cucumber: once the cucumber
    detections outweigh the scallop ones the identity is published and counted as a cucumber, never as both."""
    trk, counter = OTATracker(motion_cfg(min_hits=3)), DiveCounter(NAMES, min_hits=3)
    history = []
    for k in range(10):
        out = trk.update(dets([[100.0 + 2 * k, 100, 200 + 2 * k, 160]], labels=[1 if k < 3 else 2]))
        counter.update(out)
        history.append((out[0].track_id, out[0].class_name, counter.counts["scallop"], counter.counts["seacucumber"]))
    assert {h[0] for h in history} == {0}
    assert history[2][1:] == ("scallop", 1, 0)  # confirmed and counted as what it was seen as
    assert history[5][1] == "scallop"  # a tie (three detections each) keeps the class
    assert history[-1][1:] == ("seacucumber", 0, 1)  # moved, not added


def test_a_detection_of_its_own_class_takes_the_tubelet_first():
    """Another class's box overlapping the prediction better (and scoring higher) does not take a tubelet from a
    detection of the tubelet's own class."""
    for match in (0.3, 1.0):
        trk = OTATracker(motion_cfg(cross_class_match=match))
        trk.update(dets([[100.0, 100, 200, 200]], labels=[0]))
        out = trk.update(dets([[100.0, 100, 200, 200], [115.0, 100, 215, 200]], scores=[0.95, 0.9], labels=[1, 0]))
        assert ids(out)[1] == 0 and out[1].class_name == "seaurchin"
