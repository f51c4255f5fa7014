"""tssd_node over real DDS: headers, empty arrays, LabelInfo, bad frames, parameters, services, counts."""

from __future__ import annotations

import json
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from rosutil import Harness, image_msg, node_process, require_ros

require_ros()

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from vision_msgs.msg import LabelInfo  # noqa: E402

from tssd_ros.classes import UNDERWATER_CLASSES  # noqa: E402
from tssd_ros.ros.conversions import counts_from_msg  # noqa: E402

pytestmark = pytest.mark.ros
CLASSES = list(UNDERWATER_CLASSES)  # the tiny_weights fixture's classes


def node_diag(h: Harness) -> tuple[DiagnosticArray | None, DiagnosticStatus | None, dict]:
    """The newest /diagnostics array holding tssd_node's status, that status and its values (None, None, {})."""
    for d in reversed(h.diags):
        for st in d.status:
            if st.name.startswith("tssd_node"):
                return d, st, {kv.key: kv.value for kv in st.values}
    return None, None, {}


def diag_values(h: Harness, until: Callable[[dict], bool], timeout: float = 5.0) -> dict:
    """tssd_node's newest /diagnostics values (published at 1 Hz) once until(values) holds, or at timeout."""
    h.spin_until(lambda: bool(node_diag(h)[2]) and until(node_diag(h)[2]), timeout)
    return node_diag(h)[2]


def frames_bad(h: Harness) -> int:
    """tssd_node's count of dropped bad frames, as last reported on /diagnostics (-1 before the first report)."""
    return int(node_diag(h)[2].get("frames_bad", -1))


@pytest.fixture
def harness():
    made = []

    def make(ns, **kw):
        h = Harness(ns, **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def test_label_info_bad_frames_params_and_annotated(tiny_weights, tmp_path, harness):
    ns = "/n1"
    log = tmp_path / "node.log"
    params = {"weights": str(tiny_weights), "reliability": "reliable", "conf_threshold": 0.99}
    with node_process("tssd_node", params=params, namespace=ns, log_path=log) as proc:
        h = harness(ns)
        assert h.wait_for_node(), log.read_text()

        # a late subscriber still gets the class map (transient local)
        info = h.latched(LabelInfo, f"{ns}/label_info")
        assert info is not None and [c.class_name for c in info.class_map] == CLASSES
        assert info.threshold == pytest.approx(0.99)

        good = np.full((96, 128, 3), 60, np.uint8)
        # every processed frame is answered, an empty array when nothing is found
        for i, enc in enumerate(["bgr8", "rgb8", "mono8", "bgra8", "rgba8"]):
            ans = h.send(image_msg(good, 10 + 0.1 * i, frame_id=f"f{i}", encoding=enc))
            assert ans is not None and ans.header.frame_id == f"f{i}" and len(ans.detections) == 0

        # bad frames: each dropped with a log line, the node keeps running and answers the next good frame
        bad = []
        m = image_msg(good, 11.0)
        m.step = 5
        bad.append(m)
        m = image_msg(good, 11.1)
        m.data = bytes(m.data)[:1000]
        bad.append(m)
        bad.append(Image(height=0, width=0, encoding="bgr8", step=0))
        m = image_msg(good, 11.2)
        m.encoding = "32FC1"
        bad.append(m)
        for k, m in enumerate(bad, 1):
            # no answer; the next frame is sent once the node has counted this one as bad
            assert h.send_dropped(m, lambda k=k: frames_bad(h) >= k) == [], k
        ans = h.send(image_msg(good, 12.0, frame_id="after_bad"))
        assert ans is not None and ans.header.frame_id == "after_bad"
        assert proc.poll() is None
        vals = diag_values(h, lambda v: int(v["frames_processed"]) >= 6)
        assert int(vals["frames_bad"]) == 4 and int(vals["frames_processed"]) == 6

        # parameters: valid runtime changes apply, invalid ones are refused with a reason
        res = h.set_params(f"{ns}/tssd_node", conf_threshold=1.5)
        assert res is not None and not res[0].successful
        res = h.set_params(f"{ns}/tssd_node", ota_mode="magic")
        assert not res[0].successful and "ota_mode" in res[0].reason
        res = h.set_params(f"{ns}/tssd_node", class_filter=["kelp"])
        assert not res[0].successful and "kelp" in res[0].reason
        res = h.set_params(f"{ns}/tssd_node", weights="/other.pt")
        assert not res[0].successful
        res = h.set_params(f"{ns}/tssd_node", conf_threshold=0.5, track_threshold=0.05, ota_mode="motion",
                           class_filter=["scallop"])
        assert all(r.successful for r in res)
        info = h.latched(LabelInfo, f"{ns}/label_info")
        assert info.threshold == pytest.approx(0.5)

        # the annotated image is published (with the input header) once someone subscribes
        annotated: list = []
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        h.node.create_subscription(Image, f"{ns}/image_annotated", annotated.append,
                                   QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT))
        h.spin_until(lambda: h.node.count_subscribers(f"{ns}/image_annotated") > 0, 5)
        for i in range(5):
            h.send(image_msg(good, 13 + 0.1 * i, frame_id="annot"))
            if h.spin_until(lambda: bool(annotated), 1.0):
                break
        assert annotated and annotated[0].header.frame_id == "annot"
        assert (annotated[0].width, annotated[0].height, annotated[0].encoding) == (128, 96, "bgr8")
        # ... and stops at runtime with publish_annotated false, subscriber or not
        assert h.set_params(f"{ns}/tssd_node", publish_annotated=False)[0].successful
        annotated.clear()
        for i in range(3):
            assert h.send(image_msg(good, 14 + 0.1 * i, frame_id="off")) is not None
        h.spin_until(lambda: bool(annotated), 0.5)
        assert annotated == []
    assert "dropped a bad frame" in log.read_text()


def test_compressed_input_and_undecodable_jpeg(tiny_weights, tmp_path, harness):
    ns = "/n2"
    params = {"weights": str(tiny_weights), "reliability": "reliable", "compressed": True, "conf_threshold": 0.99}
    with node_process("tssd_node", params=params, namespace=ns, log_path=tmp_path / "node.log") as proc:
        h = harness(ns, compressed=True)
        assert h.wait_for_node(), (tmp_path / "node.log").read_text()
        ok, jpg = cv2.imencode(".jpg", np.full((64, 80, 3), 90, np.uint8))
        msg = CompressedImage(format="jpeg", data=jpg.tobytes())
        msg.header.frame_id = "jpeg"
        msg.header.stamp.sec = 5
        assert h.send(msg).header.frame_id == "jpeg"
        not_a_jpeg = CompressedImage(format="jpeg", data=b"\xff\xd8\xff\xe0 not a jpeg")
        assert h.send_dropped(not_a_jpeg, lambda: frames_bad(h) == 1) == []
        msg.header.stamp.sec = 6
        assert h.send(msg) is not None and proc.poll() is None


def test_missing_weights_stops_the_node_with_one_clear_line(tmp_path):
    log = tmp_path / "node.log"
    with node_process("tssd_node", params={"weights": str(tmp_path / "nope.pt")}, namespace="/n3",
                      log_path=log) as proc:
        rc = proc.wait(timeout=60)
    assert rc != 0
    text = log.read_text()
    assert "nope.pt" in text and "not found" in text
    assert "Traceback" not in text
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint")
    with node_process("tssd_node", params={"weights": str(bad)}, namespace="/n3", log_path=log) as proc:
        rc = proc.wait(timeout=60)
    assert rc != 0 and "corrupt.pt" in log.read_text() and "Traceback" not in log.read_text()


# ---- with a real detector trained on toy objects ---------------------------------------------------------

def toy_stream(objects_at, n: int, t0: float, size: int = 128, dt: float = 0.1):
    """Frames (bgr, stamp) of a scripted scene: objects_at(k) -> [(class, cx, cy, size), ...]."""
    from tssd_ros.train.toy import make_toy_frame

    for k in range(n):
        img, _, _ = make_toy_frame(k, objects_at(k), size=size, seed=k)
        yield img, t0 + k * dt


def urchin(k0: int = 0):
    """A sea urchin drifting down the image (what the toy detector finds most reliably)."""
    return lambda k: [(0, 64, 30 + 2 * (k + k0), 30)]


def cucumber(k: int):
    return [(2, 25 + 3 * k, 60, 36)]


def ids_of(answers, cls: str) -> list[str | None]:
    """Per frame, the id of the best-scoring detection of class `cls` (None if there is none)."""
    out = []
    for a in answers:
        ds = [d for d in a.detections if d.results[0].hypothesis.class_id == cls]
        out.append(max(ds, key=lambda d: d.results[0].hypothesis.score).id if ds else None)
    return out


def test_identities_counts_resets_and_restart(toy_weights, tmp_path, harness):
    ns = "/n4"
    counts_file = tmp_path / "dive.json"
    params = {"weights": str(toy_weights), "reliability": "reliable", "counts_file": str(counts_file),
              "min_hits": 3, "count_min_hits": 3, "max_gap_s": 1.0}
    log = tmp_path / "node.log"
    with node_process("tssd_node", params=params, namespace=ns, log_path=log):
        h = harness(ns)
        assert h.wait_for_node(), log.read_text()

        # an urchin moving through the image keeps one identity, published once confirmed (min_hits frames)
        answers = [h.send(image_msg(img, t)) for img, t in toy_stream(urchin(), 20, 100.0)]
        assert all(a is not None for a in answers)
        stamps = [round(a.header.stamp.sec + a.header.stamp.nanosec * 1e-9, 3) for a in answers]
        assert stamps == [round(100.0 + 0.1 * k, 3) for k in range(20)]
        ids = ids_of(answers, "seaurchin")
        assert sum(i is not None for i in ids) >= 18, ids  # found in (nearly) every frame
        assert ids[0] == "" and ids[1] == ""  # not yet confirmed
        confirmed = [i for i in ids[4:] if i]
        assert len(confirmed) >= 14 and len(set(confirmed)) == 1, ids
        urchin_id = int(confirmed[0])
        assert counts_from_msg(h.counts[-1])["seaurchin"][0] == 1

        # empty frames: an empty array for each, and the count of the dive stays
        empties = [h.send(image_msg(img, t)) for img, t in toy_stream(lambda k: [], 12, 102.0)]
        assert all(a is not None and len(a.detections) == 0 for a in empties)
        assert counts_from_msg(h.counts[-1])["seaurchin"] == (1, 0)

        # a second individual (a sea cucumber) is counted once, with a new identity
        answers = [h.send(image_msg(img, t)) for img, t in toy_stream(cucumber, 12, 103.2)]
        cids = [i for i in ids_of(answers, "seacucumber") if i]
        assert cids and len(set(cids)) == 1 and int(cids[0]) > urchin_id
        c = counts_from_msg(h.counts[-1])
        assert c["seacucumber"][0] == 1 and c["seaurchin"] == (1, 0)

        # time jumps backwards (a bag loops): new stream, new identity, counts kept
        answers = [h.send(image_msg(img, t)) for img, t in toy_stream(urchin(5), 6, 50.0)]
        new_ids = [i for i in ids_of(answers, "seaurchin") if i]
        assert new_ids and int(new_ids[-1]) > int(cids[0])
        assert "time_backwards" in diag_values(h, lambda v: "time_backwards" in v["resets"])["resets"]
        assert counts_from_msg(h.counts[-1])["seaurchin"][0] == 2  # re-identified after the loop

        # ~/reset: a new identity for the same animal; counts are kept
        assert h.call(Trigger, f"{ns}/tssd_node/reset").success
        answers = [h.send(image_msg(img, t)) for img, t in toy_stream(urchin(11), 5, 50.6)]
        after = [i for i in ids_of(answers, "seaurchin") if i]
        assert after and int(after[-1]) > int(new_ids[-1])
        assert counts_from_msg(h.counts[-1])["seaurchin"][0] == 3
        # ~/reset_counts clears them
        assert h.call(Trigger, f"{ns}/tssd_node/reset_counts").success
        h.send(image_msg(*next(toy_stream(lambda k: [], 1, 51.1))))
        assert counts_from_msg(h.counts[-1]) == {"seaurchin": (0, 0), "scallop": (0, 0), "seacucumber": (0, 0)}

        # count one urchin before the restart
        answers = [h.send(image_msg(img, t)) for img, t in toy_stream(urchin(), 8, 60.0)]
        last_id = max(int(i) for i in ids_of(answers, "seaurchin") if i)
        assert counts_from_msg(h.counts[-1])["seaurchin"][0] == 1
    saved = json.loads(counts_file.read_text())  # saved at shutdown
    assert saved["counts"]["seaurchin"] == 1 and saved["next_id"] > last_id

    # restart: the count continues and identities are never reissued
    with node_process("tssd_node", params=params, namespace=ns, log_path=log):
        h2 = harness(ns)
        assert h2.wait_for_node(), log.read_text()
        answers = [h2.send(image_msg(img, t)) for img, t in toy_stream(cucumber, 8, 200.0)]
        cids = [int(i) for i in ids_of(answers, "seacucumber") if i]
        assert cids and min(cids) > last_id
        c = counts_from_msg(h2.counts[-1])
        assert c["seaurchin"] == (1, 0) and c["seacucumber"][0] == 1


def test_diagnostics_report_rates_and_latency(tiny_weights, tmp_path, harness):
    ns = "/n5"
    params = {"weights": str(tiny_weights), "reliability": "reliable"}
    with node_process("tssd_node", params=params, namespace=ns, log_path=tmp_path / "node.log"):
        h = harness(ns)
        assert h.wait_for_node()
        import time

        for _ in range(10):
            stamp = time.time()
            h.send(image_msg(np.zeros((64, 64, 3), np.uint8), stamp))
        vals = diag_values(h, lambda v: int(v["frames_processed"]) >= 10)
        assert int(vals["frames_processed"]) == 10 and int(vals["frames_dropped"]) == 0
        assert 0 < float(vals["latency_p50_ms"]) < 2000 and float(vals["processed_fps"]) > 0
        assert vals["model"] == tiny_weights.name and vals["device"] == "cpu"
        # frames are coming in and being processed: the status is OK and its message gives the rate
        _, st, _ = node_diag(h)
        assert (st.name, st.hardware_id, st.level) == ("tssd_node: detection", "tssd_ros", DiagnosticStatus.OK)
        assert st.message == f"{float(vals['processed_fps']):.1f} FPS"


def test_use_sim_time_latency_follows_the_bag_clock(tiny_weights, tmp_path, harness):
    """With use_sim_time the node's clock is /clock (a bag replay): latency is measured against it."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    ns = "/n6"
    params = {"weights": str(tiny_weights), "reliability": "reliable", "use_sim_time": True}
    with node_process("tssd_node", params=params, namespace=ns, log_path=tmp_path / "node.log"):
        h = harness(ns)
        assert h.wait_for_node()
        clock = h.node.create_publisher(Clock, "/clock", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        h.spin_until(lambda: clock.get_subscription_count() > 0, 10)

        def node_now() -> tuple[int, int]:
            """The node's clock as stamped on its newest /diagnostics (1 Hz, stamped with its now())."""
            d = node_diag(h)[0]
            return (-1, 0) if d is None else (d.header.stamp.sec, d.header.stamp.nanosec)

        def clock_at(c: Clock) -> bool:
            """True once the node's clock shows c; until then c is published again (the node takes /clock
            best effort)."""
            if node_now() >= (c.clock.sec, c.clock.nanosec):
                return True
            clock.publish(c)
            return False

        n = 5
        for i in range(n):
            t = 5000.0 + i * 0.1  # a recording made long ago: wall-clock latency would be years
            c = Clock()
            c.clock.sec, c.clock.nanosec = int(t + 0.25), int(((t + 0.25) % 1) * 1e9)
            # the frame goes out once the node's clock is at this /clock, so its latency is exactly the lead
            assert h.spin_until(lambda c=c: clock_at(c), 10), (node_now(), c)
            assert h.send(image_msg(np.zeros((64, 64, 3), np.uint8), t)) is not None
        vals = diag_values(h, lambda v: int(v["frames_processed"]) >= n)
        assert int(vals["frames_processed"]) == n
        # every frame is processed 250 ms after its stamp on the bag's clock (the /clock lead), not on wall time
        assert float(vals["latency_p50_ms"]) == pytest.approx(250.0, abs=0.5)
