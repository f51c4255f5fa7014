"""Image and detection message conversion with real generated message types (no DDS needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rosutil import image_msg, require_ros

require_ros()

from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from tssd_ros.errors import InputError  # noqa: E402
from tssd_ros.ros import conversions as conv  # noqa: E402
from tssd_ros.types import Detections  # noqa: E402


@pytest.fixture
def bgr():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)


@pytest.mark.parametrize("enc", ["bgr8", "rgb8", "bgra8", "rgba8"])
def test_colour_encodings_round_trip(bgr, enc):
    out = conv.image_to_bgr(image_msg(bgr, 1.0, encoding=enc))
    np.testing.assert_array_equal(out, bgr)


@pytest.mark.parametrize("enc", ["bgr16", "rgb16", "bgra16", "rgba16"])
@pytest.mark.parametrize("bigendian", [False, True])
def test_16_bit_encodings_keep_the_high_byte(bgr, enc, bigendian):
    msg = image_msg(bgr, 1.0, encoding=enc, bigendian=bigendian)
    data = bytearray(msg.data)  # scramble the low bytes: only the high byte of each value may count
    low = slice(1 if bigendian else 0, None, 2)
    data[low] = bytes(255 - b for b in data[low])
    msg.data = bytes(data)
    np.testing.assert_array_equal(conv.image_to_bgr(msg), bgr)


def test_mono16_becomes_grey_bgr(bgr):
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    out = conv.image_to_bgr(image_msg(bgr, 1.0, encoding="mono16"))
    assert out.shape == bgr.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], grey)


def test_mono8_becomes_grey_bgr(bgr):
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    out = conv.image_to_bgr(image_msg(bgr, 1.0, encoding="mono8"))
    assert out.shape == bgr.shape
    np.testing.assert_array_equal(out[..., 0], grey)


def test_bgr8_is_a_view_without_copy(bgr):
    msg = image_msg(bgr, 1.0)
    out = conv.image_to_bgr(msg)
    assert not out.flags.owndata  # a view on the message buffer


def test_padded_rows_are_honoured(bgr):
    h, w = bgr.shape[:2]
    padded = np.zeros((h, w * 3 + 7), np.uint8)
    padded[:, : w * 3] = bgr.reshape(h, -1)
    msg = Image(height=h, width=w, encoding="bgr8", step=w * 3 + 7, data=padded.tobytes())
    np.testing.assert_array_equal(conv.image_to_bgr(msg), bgr)


@pytest.mark.parametrize("mutate, match", [
    (lambda m: setattr(m, "step", 10), "step"),
    (lambda m: setattr(m, "data", bytes(m.data)[:100]), "truncated"),
    (lambda m: (setattr(m, "height", 0), setattr(m, "width", 0)), "empty"),
    (lambda m: setattr(m, "encoding", "32FC1"), "unsupported encoding"),
])
def test_bad_images_raise_input_error(bgr, mutate, match):
    msg = image_msg(bgr, 1.0)
    mutate(msg)
    with pytest.raises(InputError, match=match):
        conv.image_to_bgr(msg)


def test_compressed(bgr):
    ok, jpg = cv2.imencode(".png", bgr)
    msg = CompressedImage(format="png", data=jpg.tobytes())
    np.testing.assert_array_equal(conv.compressed_to_bgr(msg), bgr)
    with pytest.raises(InputError, match="undecodable"):
        conv.compressed_to_bgr(CompressedImage(format="jpeg", data=b"\xff\xd8garbage"))
    with pytest.raises(InputError, match="empty"):
        conv.compressed_to_bgr(CompressedImage(format="jpeg"))


def test_detections_message_fields_and_ids():
    h = Header(frame_id="cam")
    h.stamp.sec, h.stamp.nanosec = 12, 345
    dets = Detections([[10, 20, 50, 80], [0, 0, 5, 5]], [0.9, 0.4], [1, 2], None,
                      ("seaurchin", "scallop", "seacucumber"))
    msg = conv.detections_to_msg(h, dets, ids=[7, None])  # FrameResult.published_ids: unconfirmed = None
    assert msg.header.frame_id == "cam" and msg.header.stamp.nanosec == 345
    d0, d1 = msg.detections
    assert (d0.bbox.center.position.x, d0.bbox.center.position.y, d0.bbox.size_x, d0.bbox.size_y) == (30, 50, 40, 60)
    assert d0.results[0].hypothesis.class_id == "scallop"
    assert d0.results[0].hypothesis.score == pytest.approx(0.9)
    assert d0.id == "7" and d1.id == ""  # unconfirmed identities are not published
    back, ids = conv.msg_to_detections(msg, ("seaurchin", "scallop", "seacucumber"))
    np.testing.assert_allclose(back.boxes, dets.boxes)
    assert ids == ["7", ""] and list(back.labels) == [1, 2]


def test_counts_message_round_trip():
    h = Header(frame_id="cam")
    msg = conv.counts_msg(h, {"scallop": (3, 1), "seaurchin": (0, 0)})
    assert [s.name for s in msg.status] == ["scallop", "seaurchin", "total"]
    assert conv.counts_from_msg(msg) == {"scallop": (3, 1), "seaurchin": (0, 0)}
    assert msg.status[-1].values[0].value == "3"


def test_label_info():
    msg = conv.label_info_msg(("a", "b"), 0.4, Header())
    assert [(c.class_id, c.class_name) for c in msg.class_map] == [(0, "a"), (1, "b")]
    assert msg.threshold == pytest.approx(0.4)
