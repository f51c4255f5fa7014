"""Loaders: random skip sampling (eq. 5), ImageNet-VID XML, MOT without class column, torch datasets,
and the benchmark definition."""

from __future__ import annotations

import numpy as np
import pytest

from tssd_ros.data.rss import rss_indices, rss_params


@pytest.mark.parametrize(("n", "length"), [(8, 8), (20, 8), (100, 8), (301, 16), (9, 1)])
def test_rss_obeys_eq5_bounds_statistically(n, length):
    rng = np.random.default_rng(0)
    skips, starts = [], []
    for _ in range(4000):
        skip, start = rss_params(n, length, rng)
        assert 1 <= skip <= n // length
        assert 0 <= start <= n - length * skip
        idx = rss_indices(n, length, np.random.default_rng([skip, start]))
        assert idx.min() >= 0 and idx.max() < n and len(idx) == length
        assert len(np.unique(np.diff(idx))) <= 1
        skips.append(skip)
        starts.append(start)
    # every allowed skip is drawn (uniform in [1, floor(N/len)]), and the extreme starts occur
    assert set(skips) == set(range(1, n // length + 1))
    s1 = [st for sk, st in zip(skips, starts, strict=True) if sk == 1]
    assert min(s1) == 0 and max(s1) == n - length


def test_rss_short_video_repeats_frames_in_order():
    idx = rss_indices(3, 8, np.random.default_rng(0))
    assert len(idx) == 8 and set(idx.tolist()) == {0, 1, 2} and (np.diff(idx) >= 0).all()
    with pytest.raises(ValueError):
        rss_params(5, 8, np.random.default_rng(0))


def _xml(objs: list[tuple[str, int, tuple[int, int, int, int]]], w: int = 64, h: int = 48) -> str:
    body = "".join(f"<object><trackid>{t}</trackid><name>{n}</name><bndbox><xmax>{b[2]}</xmax><xmin>{b[0]}</xmin>"
                   f"<ymax>{b[3]}</ymax><ymin>{b[1]}</ymin></bndbox><occluded>0</occluded></object>"
                   for n, t, b in objs)
    return f"<annotation><folder>x</folder><size><width>{w}</width><height>{h}</height></size>{body}</annotation>"


def test_vid_style_xml_and_imagesets(tmp_path):
    import cv2

    from tssd_ros.data.vid import load_vid, load_voc_folder

    snip = "train/snip_0001"
    (tmp_path / "Data/VID" / snip).mkdir(parents=True)
    (tmp_path / "Annotations/VID" / snip).mkdir(parents=True)
    (tmp_path / "ImageSets/VID").mkdir(parents=True)
    for f in range(3):
        cv2.imwrite(str(tmp_path / "Data/VID" / snip / f"{f:06d}.JPEG"), np.full((48, 64, 3), 40 * f, np.uint8))
    (tmp_path / "Annotations/VID" / snip / "000000.xml").write_text(
        _xml([("scallop", 0, (11, 21, 30, 40)), ("echinus", 3, (1, 1, 10, 10)), ("n02691156", 1, (1, 1, 5, 5))]))
    (tmp_path / "Annotations/VID" / snip / "000001.xml").write_text(_xml([("holothurian", 7, (5, 6, 20, 9))]))
    (tmp_path / "ImageSets/VID/train_1.txt").write_text(f"{snip} 1\n")
    for snippets in (load_vid(tmp_path, image_set="train_1"), load_vid(tmp_path, split="train")):
        assert len(snippets) == 1
        s = snippets[0]
        assert len(s) == 3 and s.image(2).shape == (48, 64, 3)
        t0 = s.targets(0)
        assert t0.labels.tolist() == [2, 1], "airplane is not an underwater class: skipped"
        assert t0.ids.tolist() == [0, 3]
        assert np.allclose(t0.boxes[0], [10, 20, 30, 40]), "VOC 1-based inclusive -> 0-based continuous"
        assert s.targets(1).labels.tolist() == [0] and len(s.targets(2)) == 0
    # frame-level image set lines (val.txt style)
    (tmp_path / "ImageSets/VID/val.txt").write_text(f"{snip}/000001 1\n{snip}/000002 2\n")
    s = load_vid(tmp_path, image_set="val")[0]
    assert len(s) == 2 and s.targets(0).labels.tolist() == [0]
    # stills with XML beside them
    still = load_voc_folder(tmp_path / "Data/VID" / snip)
    assert len(still) == 3


def test_mot_without_class_column(tmp_path):
    import cv2

    from tssd_ros.data.mot import load_mot_sequence

    (tmp_path / "img1").mkdir()
    (tmp_path / "gt").mkdir()
    for f in range(1, 4):
        cv2.imwrite(str(tmp_path / "img1" / f"{f:06d}.jpg"), np.zeros((40, 50, 3), np.uint8))
    (tmp_path / "gt/gt.txt").write_text("1,1,11,21,5,6,1\n2,1,12,21,5,6,1\n2,2,1,1,3,3,0\n")
    seq = load_mot_sequence(tmp_path, class_names=("fish",))
    assert len(seq) == 3 and (seq.width, seq.height) == (50, 40)
    t = seq.targets(1)
    assert t.ids.tolist() == [1, 2] and t.ignore.tolist() == [False, True] and t.labels.tolist() == [0, 0]
    assert np.allclose(t.boxes[0], [11, 20, 16, 26])
    assert len(seq.targets(2)) == 0


def test_training_targets_of_a_dive_frame(tmp_path):
    from tssd_ros.data.dataset import target_dict, to_tensor
    from tssd_ros.data.dive import write_dive
    from tssd_ros.data.mot import load_mot_sequence
    from tssd_ros.data.synth import SynthConfig

    seq = load_mot_sequence(write_dive(tmp_path / "s", SynthConfig(seed=4, frames=3, width=96, height=64,
                                                                  density=3.0), progress=False))
    img, t = seq.image(1), seq.targets(1)
    assert to_tensor(img, None).shape == (3, 64, 96)
    d = target_dict(t, 96, 64, min_visibility=0.25, min_size=4.0)
    wh = t.boxes[:, 2:] - t.boxes[:, :2]
    keep = ~t.ignore & (t.visibility >= 0.25) & (wh.min(1) >= 4.0)
    assert len(d["boxes"]) == int(keep.sum()) > 0, "weak objects dropped, the rest kept"
    assert (d["boxes"] >= 0).all() and (d["boxes"] <= 1).all() and len(d["labels"]) == len(d["ids"])
    np.testing.assert_allclose(d["boxes"].numpy() * [96, 64, 96, 64], np.clip(t.boxes[keep], 0, [96, 64, 96, 64]),
                               atol=1e-3)


def test_benchmark_definition_and_cache(tmp_path, monkeypatch):
    from tssd_ros.data.benchmark import BENCHMARK_MIN_SEED, TRAIN_SEEDS, ensure_benchmark, load_benchmark
    from tssd_ros.errors import InputError

    b = load_benchmark("underwater")
    assert len(b.sequences) == 6 and all(s.config.seed >= BENCHMARK_MIN_SEED > TRAIN_SEEDS[1] for s in b.sequences)
    assert {s.config.preset for s in b.sequences} == {"clear", "turbid", "dark"}
    y = tmp_path / "mini.yaml"
    y.write_text("name: mini\nsize: 64x48\nframes: 3\nsequences:\n  - {name: a, seed: 90007, preset: dark}\n")
    d1 = ensure_benchmark(load_benchmark(str(y)), tmp_path / "cache", progress=False)
    first = (d1[0] / "gt/gt.txt").read_text(), (d1[0] / "img1/000003.jpg").read_bytes()
    mtime = (d1[0] / "img1/000003.jpg").stat().st_mtime_ns
    d2 = ensure_benchmark(load_benchmark(str(y)), tmp_path / "cache", progress=False)
    assert d1 == d2 and (d2[0] / "img1/000003.jpg").stat().st_mtime_ns == mtime, "cached, not re-rendered"
    assert first[0] == (d2[0] / "gt/gt.txt").read_text()
    y.write_text("name: bad\nsequences:\n  - {seed: 12}\n")
    with pytest.raises(InputError, match="reserved for training"):
        load_benchmark(str(y))
    with pytest.raises(InputError):
        load_benchmark("no_such_benchmark")
