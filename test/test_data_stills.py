"""Still-image loaders (COCO json, YOLO txt) and the one class list with its class map."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import SHARED

from tssd_ros.classes import UNDERWATER_CLASSES, resolve_class_map
from tssd_ros.data.stills import load_coco, load_yolo
from tssd_ros.errors import InputError

URPC = SHARED / "data" / "urpc2020"
needs_urpc = pytest.mark.skipif(not (URPC / "coco_valid.json").is_file(),
                                reason="../shared/data/urpc2020 is absent (a user's clone)")


def test_class_list_is_urpc_order_and_maps_aliases():
    assert UNDERWATER_CLASSES == ("seacucumber", "seaurchin", "scallop", "starfish")
    m = resolve_class_map(["holothurian", "echinus", "scallop", "starfish"], UNDERWATER_CLASSES)
    assert m == {"holothurian": 0, "echinus": 1, "scallop": 2, "starfish": 3}
    m = resolve_class_map(["Fish", "Urchin"], UNDERWATER_CLASSES, {"fish": None, "urchin": "seaurchin"})
    assert m == {"Fish": -1, "Urchin": 1}
    with pytest.raises(ValueError, match="'waterweeds'.*class_map"):
        resolve_class_map(["echinus", "waterweeds"], UNDERWATER_CLASSES)


def _scene(tmp_path):
    img = np.full((60, 80, 3), 90, np.uint8)
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), img)
    cv2.imwrite(str(tmp_path / "images" / "b.png"), img[:40])
    return tmp_path


def test_coco_loader_boxes_labels_and_crowd(tmp_path):
    root = _scene(tmp_path)
    doc = {"images": [{"id": 7, "file_name": "images/a.jpg", "width": 80, "height": 60},
                      {"id": 9, "file_name": "images/b.png", "width": 80, "height": 40}],
           "categories": [{"id": 1, "name": "holothurian"}, {"id": 2, "name": "echinus"}, {"id": 5, "name": "fish"}],
           "annotations": [{"id": 1, "image_id": 7, "category_id": 2, "bbox": [10, 5, 20, 10]},
                           {"id": 2, "image_id": 7, "category_id": 1, "bbox": [70, 50, 20, 20]},  # clipped
                           {"id": 3, "image_id": 7, "category_id": 2, "bbox": [0, 0, 5, 5], "iscrowd": 1},
                           {"id": 4, "image_id": 9, "category_id": 5, "bbox": [1, 1, 5, 5]}]}
    (root / "c.json").write_text(json.dumps(doc))
    s = load_coco(root / "c.json", class_map={"fish": None})
    assert len(s) == 2 and s.image(1).shape == (40, 80, 3)
    t = s.targets(0)
    np.testing.assert_allclose(t.boxes, [[10, 5, 30, 15], [70, 50, 80, 60]])
    assert t.labels.tolist() == [1, 0] and t.ids.tolist() == [0, 1]
    assert len(s.targets(1)) == 0  # the dropped class leaves an empty image (background)
    with pytest.raises(InputError, match="'fish'"):
        load_coco(root / "c.json")  # a class that maps to nothing is an error, not a silent drop
    (root / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read COCO"):
        load_coco(root / "bad.json")


def test_yolo_loader_normalised_rows_and_names(tmp_path):
    root = _scene(tmp_path)
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("1 0.25 0.5 0.25 0.5\n3 0.5 0.5 0.1 0.1\n")
    (root / "classes.txt").write_text("holothurian\nechinus\nscallop\nstarfish\n")
    s = load_yolo(root / "images")
    assert [p.name for p in s.paths] == ["a.jpg", "b.png"]
    t = s.targets(0)
    np.testing.assert_allclose(t.boxes, [[10, 15, 30, 45], [36, 27, 44, 33]], atol=1e-4)
    assert t.labels.tolist() == [1, 3]
    assert len(s.targets(1)) == 0  # no label file: no objects
    (root / "labels" / "b.txt").write_text("9 0.5 0.5 0.1 0.1\n")
    with pytest.raises(InputError, match="class id 9"):
        load_yolo(root / "images")


@needs_urpc
def test_urpc_coco_and_yolo_agree():
    coco = load_coco(URPC / "coco_valid.json")
    yolo = load_yolo(URPC / "images" / "valid")
    assert len(coco) == len(yolo) == 800
    assert coco.instance_counts() == yolo.instance_counts() == {
        "seacucumber": 758, "seaurchin": 3058, "scallop": 1251, "starfish": 1022}
    for i in (0, 1, 399):
        a, b = coco.targets(i), yolo.targets(i)
        assert coco.paths[i].name == yolo.paths[i].name
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
    img = coco.image(0)
    assert img.shape == (416, 416, 3)
    # boxes lie inside the image and are not degenerate
    allb = np.concatenate(coco.boxes[:50])
    assert (allb[:, 2:] > allb[:, :2]).all() and allb.min() >= 0 and allb.max() <= 416
