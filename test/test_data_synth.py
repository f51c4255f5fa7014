"""The synthetic dive generator: determinism, exact ground truth, identities, files, bags and the CLI."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tssd_ros.classes import UNDERWATER_CLASSES
from tssd_ros.data.synth import DiveRenderer, SynthConfig

SIZE = dict(width=320, height=240)


@pytest.fixture(scope="module")
def dive():
    """One 40-frame clear dive at 320x240 (rendered once for the module)."""
    cfg = SynthConfig(seed=5, frames=40, preset="clear", density=2.0, **SIZE)
    return cfg, list(DiveRenderer(cfg))


def test_same_seed_same_dive_and_other_seed_differs(dive):
    cfg, frames = dive
    again = DiveRenderer(cfg)
    for f in frames[:6]:
        g = again.render(f.index)
        assert np.array_equal(f.image, g.image)
        assert np.array_equal(f.boxes, g.boxes) and np.array_equal(f.track_ids, g.track_ids)
        assert np.array_equal(f.visibility, g.visibility) and np.array_equal(f.ids, g.ids)
    shorter = DiveRenderer(SynthConfig(seed=cfg.seed, frames=3, preset=cfg.preset, density=cfg.density, **SIZE))
    assert all(np.array_equal(shorter.render(i).image, frames[i].image) for i in range(3)), "prefix-stable"
    other = DiveRenderer(SynthConfig(seed=6, frames=2, preset="clear", density=2.0, **SIZE)).render(0)
    assert np.abs(other.image.astype(int) - frames[0].image.astype(int)).mean() > 5


def test_boxes_are_tight_boxes_of_the_object_pixels(dive):
    _, frames = dive
    n_obj = 0
    for f in frames:
        present = set(np.unique(f.ids).tolist()) - {0}
        assert present == set(f.track_ids.tolist()), "every visible object has exactly one box"
        for box, tid, vis in zip(f.boxes, f.track_ids, f.visibility, strict=True):
            ys, xs = np.nonzero(f.ids == tid)
            assert len(xs) > 0
            assert (box[0], box[1], box[2], box[3]) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            assert 0 <= box[0] < box[2] <= 320 and 0 <= box[1] < box[3] <= 240
            assert 0 < vis <= 1
            n_obj += 1
    assert n_obj > 50
    vis = np.concatenate([f.visibility for f in frames])
    assert (vis > 0.9).mean() > 0.3 and (vis < 0.6).any(), "mostly fully visible, some cut by edge/others"


def test_every_class_is_drawn_where_its_boxes_are_and_labelled_by_name(dive):
    """Each of the four classes appears, and its fully visible boxes sit on animals of that class's shape."""
    _, frames = dive
    assert len(UNDERWATER_CLASSES) == 4
    labels = np.concatenate([f.labels for f in frames])
    assert set(labels.tolist()) == set(range(4)), "every class present, labels in range(4)"
    stats: dict[str, list[tuple[float, float, float]]] = {name: [] for name in UNDERWATER_CLASSES}
    for f in frames:
        ids = f.ids
        for box, tid, lab, vis in zip(f.boxes.astype(int), f.track_ids, f.labels, f.visibility, strict=True):
            if vis < 0.95 or min(box[2] - box[0], box[3] - box[1]) < 10:
                continue
            mask = (ids == tid).astype(np.uint8)
            c = max(cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0], key=cv2.contourArea)
            solidity = cv2.contourArea(c) / max(cv2.contourArea(cv2.convexHull(c)), 1.0)
            w, h = cv2.minAreaRect(c)[1]
            ring = (cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0) & (mask == 0) & (ids == 0)
            if ring.sum() < 6:
                continue
            contrast = float(np.linalg.norm(f.image[mask > 0].mean(0) - f.image[ring].mean(0)))
            stats[UNDERWATER_CLASSES[lab]].append((solidity, max(w, h) / max(min(w, h), 1.0), contrast))
    med = {}
    for name, v in stats.items():
        assert len(v) >= 3, f"too few fully visible {name}"
        med[name] = np.median(np.asarray(v), 0)
        assert med[name][2] > 8, f"{name}: the animal stands out from the seabed around its box"
    assert med["starfish"][0] < 0.6, "starfish: arms leave gaps in the convex hull"
    assert min(med[n][0] for n in ("seaurchin", "scallop", "seacucumber")) > 0.75, "compact bodies"
    assert med["seacucumber"][1] > 3, "sea cucumbers are long"
    assert max(med[n][1] for n in ("seaurchin", "scallop", "starfish")) < 2, "the others are about round"


def test_identities_persist_and_objects_enter_and_leave(dive):
    _, frames = dive
    label_of: dict[int, int] = {}
    seen: dict[int, list[int]] = {}
    centre: dict[int, np.ndarray] = {}
    for f in frames:
        for b, tid, lab in zip(f.boxes, f.track_ids, f.labels, strict=True):
            assert label_of.setdefault(int(tid), int(lab)) == lab, "an identity keeps its class"
            seen.setdefault(int(tid), []).append(f.index)
            c = (b[:2] + b[2:]) / 2
            if int(tid) in centre and seen[int(tid)][-2:] == [f.index - 1, f.index]:
                w = max(b[2] - b[0], b[3] - b[1])
                assert np.linalg.norm(c - centre[int(tid)]) < 12 + w / 2, "boxes move smoothly"
            centre[int(tid)] = c
    ids = sorted(seen)
    assert ids == list(range(1, len(ids) + 1)), "ids numbered by first appearance"
    assert any(s[0] > 0 for s in seen.values()), "objects enter"
    assert any(s[-1] < len(frames) - 1 for s in seen.values()), "objects leave"
    assert max(len(s) for s in seen.values()) >= 15, "objects stay in view for a while"


def test_presets_differ_and_bad_config_raises():
    from tssd_ros.errors import InputError

    imgs = [DiveRenderer(SynthConfig(seed=1, frames=1, preset=p, **SIZE)).render(0).image for p in
            ("clear", "turbid", "dark")]
    corner = [im[:30, :30].mean() / max(im[100:140, 140:180].mean(), 1) for im in imgs]
    assert corner[2] < corner[0], "dark: lights give a bright centre and dark corners"
    with pytest.raises(InputError):
        SynthConfig(preset="muddy")
    with pytest.raises(InputError):
        SynthConfig(width=10, height=240)


def test_mot_files_load_back_and_gt_vs_gt_is_perfect(tmp_path, dive):
    from tssd_ros.data.dive import write_dive
    from tssd_ros.data.mot import load_mot_sequence

    cfg, frames = dive
    small = SynthConfig(seed=cfg.seed, frames=12, preset=cfg.preset, density=cfg.density, **SIZE)
    out = write_dive(tmp_path / "seq", small, progress=False)
    seq = load_mot_sequence(out)
    assert len(seq) == 12 and seq.class_names == UNDERWATER_CLASSES
    assert (seq.width, seq.height, seq.frame_rate) == (320, 240, 15.0)
    for f in frames[:12]:
        t = seq.targets(f.index)
        order = np.argsort(t.ids)
        assert np.array_equal(t.ids[order], f.track_ids)
        assert np.allclose(t.boxes[order], f.boxes)
        assert np.array_equal(t.labels[order], f.labels)
        assert np.allclose(t.visibility[order], f.visibility, atol=1e-4)
        img = seq.image(f.index)
        assert img.shape == (240, 320, 3) and np.abs(img.astype(int) - f.image.astype(int)).mean() < 4

    from tssd_ros.eval.mot import evaluate_mot

    g = seq.gt_array()[:, :7]
    m = evaluate_mot(g, g)
    assert m["HOTA"] == pytest.approx(1.0) and m["MOTA"] == pytest.approx(1.0)
    assert m["IDF1"] == pytest.approx(1.0) and m["IDSW"] == 0


@pytest.mark.parametrize("compressed", [False, True])
def test_bag_reads_back(tmp_path, compressed):
    import cv2
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    from tssd_ros.data.dive import write_dive

    cfg = SynthConfig(seed=2, frames=6, **SIZE)
    out = write_dive(tmp_path / "d", cfg, bag=True, compressed=compressed, progress=False)
    ts = get_typestore(Stores.ROS2_JAZZY)
    topic = "/camera/image_raw/compressed" if compressed else "/camera/image_raw"
    stamps, logs = [], []
    renderer = DiveRenderer(cfg)
    with Reader(out / "bag") as r:
        conns = [c for c in r.connections if c.topic == topic]
        assert len(conns) == 1
        for k, (conn, t, raw) in enumerate(r.messages(connections=conns)):
            msg = ts.deserialize_cdr(raw, conn.msgtype)
            assert msg.header.frame_id == "camera_optical_frame"
            stamps.append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
            logs.append(t)
            jpg = cv2.imread(str(out / "img1" / f"{k + 1:06d}.jpg"))
            if compressed:
                img = cv2.imdecode(np.asarray(msg.data, np.uint8), cv2.IMREAD_COLOR)
                assert np.array_equal(img, jpg)
            else:
                assert msg.encoding == "bgr8" and (msg.height, msg.width) == (240, 320)
                img = np.asarray(msg.data, np.uint8).reshape(240, 320, 3)
                assert np.array_equal(img, renderer.render(k).image)
                assert np.abs(img.astype(int) - jpg.astype(int)).mean() < 4
    assert len(stamps) == 6
    d = np.diff(stamps) / 1e9
    assert (d > 0).all() and np.allclose(d, 1 / 15, atol=0.01) and (np.diff(logs) > 0).all()


def test_synth_cli(tmp_path, capsys):
    from tssd_ros.cli import main

    assert main(["synth", str(tmp_path / "a"), "--seed", "3", "--frames", "3", "--size", "96x64", "--quiet",
                 "--masks"]) == 0
    assert len(list((tmp_path / "a" / "img1").glob("*.jpg"))) == 3
    assert (tmp_path / "a" / "masks" / "000003.png").is_file()
    assert (tmp_path / "a" / "classes.txt").read_text().split() == list(UNDERWATER_CLASSES)
    capsys.readouterr()
    for bad in (["--size", "10x"], ["--preset", "muddy"], ["--frames", "0"], ["--compressed"]):
        assert main(["synth", str(tmp_path / "b"), *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("tssd synth: error:") and "\n" not in err
    assert main(["synth", str(tmp_path / "a"), "--frames", "1", "--quiet"]) == 2, "non-empty OUT needs --force"
