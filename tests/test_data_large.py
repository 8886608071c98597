"""miniImageNet through load_dataset, VOC/COCO through mixact_lib.data.detection: tiny fake copies in tmp_path."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mixact_lib.data import miniimagenet, readers
from mixact_lib.data import DatasetNotFoundError, available_datasets, load_dataset
from mixact_lib.data.detection import VOC_CLASSES, collate_detection, detection_dataset, voc_classification

WNIDS = ("n01532829", "n02074367", "n03017168")  # sorted: label k is WNIDS[k]
PER_CLASS = 6  # 1/6 held out → 1 test image per class
SIZES = ((50, 37), (120, 90), (84, 84), (33, 61), (200, 64), (91, 91))  # (width, height), odd on purpose


def _colour(k: int, i: int) -> tuple[int, int, int]:
    return (60 * k + 30, 30 * i + 20, 128)  # red tells the class, green the image


def _save(path: Path, k: int, i: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", SIZES[i], _colour(k, i)).save(path, quality=95)  # quality: ignored for PNG


def _filename(k: int, i: int) -> str:
    return f"{WNIDS[k]}{i:08d}" + (".png" if i % 2 else ".jpg")


def _write_ravi(folder: Path) -> None:
    """Ravi & Larochelle's layout: disjoint classes per csv, all files in images/."""
    folder.mkdir(parents=True)
    for k, split in enumerate(("train", "val", "test")):
        with open(folder / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["filename", "label"])
            for i in range(PER_CLASS):
                w.writerow([_filename(k, i), WNIDS[k]])
                _save(folder / "images" / _filename(k, i), k, i)


def _write_class_folders(folder: Path, with_splits: bool) -> None:
    for k, wnid in enumerate(WNIDS):
        parent = folder / ("train", "val", "test")[k] if with_splits else folder
        for i in range(PER_CLASS):
            _save(parent / wnid / _filename(k, i), k, i)


def _decoded_colours(x: torch.Tensor) -> np.ndarray:
    """(N, 3) mean colour of each normalised-with-(0, 1) image, in 0..255."""
    return (x.mean(dim=(2, 3)) * 255).numpy()


# --- miniImageNet ---------------------------------------------------------------------------------

def test_miniimagenet_csv_layout_pools_classes_and_splits_each_one(isolated):
    _write_ravi(isolated / "root" / "mini-imagenet")
    ds = load_dataset("mini-ImageNet", root=isolated / "root", download=False, mean=0.0, std=1.0)
    assert ds.name == "miniimagenet" and "miniimagenet" in available_datasets()
    assert ds.classes == list(WNIDS) and ds.num_classes == 3 and ds.in_channels == 3 and ds.image_size == (84, 84)
    assert ds.train.x.shape == (15, 3, 84, 84) and ds.test.x.shape == (3, 3, 84, 84)
    assert ds.train.y.bincount().tolist() == [5, 5, 5] and ds.test.y.bincount().tolist() == [1, 1, 1]
    assert "split CSVs" in ds.source and "15/3" in ds.source
    # every image keeps its own colour (resizing a flat image keeps it flat) and its own label
    colours = _decoded_colours(torch.cat([ds.train.x, ds.test.x]))
    labels = torch.cat([ds.train.y, ds.test.y]).numpy()
    k, i = np.round((colours[:, 0] - 30) / 60), np.round((colours[:, 1] - 20) / 30)
    assert np.array_equal(k, labels) and np.abs(colours[:, 2] - 128).max() < 4
    assert len({(a, b) for a, b in zip(k, i)}) == 18  # train and test disjoint, nothing lost or doubled


def test_miniimagenet_split_is_fixed_and_the_same_in_both_layouts(isolated):
    _write_ravi(isolated / "root" / "mini-imagenet")
    _write_class_folders(isolated / "env" / "miniimagenet", with_splits=True)
    _write_class_folders(isolated / "system" / "miniimagenet", with_splits=False)
    a = load_dataset("miniimagenet", root=isolated / "root", download=False)
    b = load_dataset("miniimagenet", download=False, seed=5)  # $MIXACT_DATA: class folders under train/val/test
    readers.clear_cache()
    again = load_dataset("miniimagenet", root=isolated / "root", download=False, seed=9)
    assert "class folders" in b.source and b.classes == a.classes
    for other in (b, again):
        assert torch.equal(other.test.x, a.test.x) and torch.equal(other.train.y, a.train.y)
    flat = miniimagenet.read_miniimagenet(isolated / "system" / "miniimagenet")
    assert torch.equal(flat.test_x, readers.load_raw("miniimagenet", root=isolated / "root").test_x)


def test_miniimagenet_progress_bar_for_many_files(isolated, monkeypatch, capsys):
    _write_class_folders(isolated / "root" / "miniimagenet", with_splits=False)
    monkeypatch.setattr(miniimagenet, "PROGRESS_MIN_FILES", 10)
    load_dataset("miniimagenet", root=isolated / "root", download=False)
    assert "decoding miniImageNet" in capsys.readouterr().err


def test_miniimagenet_missing_names_both_layouts_and_where_to_get_it(isolated):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("miniimagenet", root=isolated / "root", download=True)
    msg = str(info.value)
    for place in ("root", "env", "cwd/data", "system"):
        for folder in ("mini-imagenet", "miniimagenet"):
            assert f"{isolated / place}/{folder}/: no such folder" in msg
    assert "train.csv, val.csv, test.csv (header filename,label) + images/<filename>" in msg
    assert "<wnid>/*.jpg|png" in msg and "meta-learning-lstm" in msg and "image-net.org" in msg
    assert "no automatic download" in msg and "paper B does not state its split" in msg


def test_miniimagenet_incomplete_copies_are_reported(isolated):
    partial = isolated / "root" / "mini-imagenet"
    _write_ravi(partial)
    (partial / "val.csv").unlink()
    broken = isolated / "env" / "miniimagenet"
    _write_ravi(broken)
    (broken / "images" / _filename(2, 3)).unlink()
    (isolated / "system" / "miniimagenet" / "empty_class").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("miniimagenet", root=isolated / "root", download=False)
    msg = str(info.value)
    assert f"{partial}/: missing val.csv" in msg
    assert f"{broken}: unreadable (ValueError: 1 of the 18 files listed in the CSVs are not in" in msg
    assert f"{isolated / 'system' / 'miniimagenet'}/: neither train.csv" in msg


# --- PASCAL VOC -----------------------------------------------------------------------------------

VOC_IMAGES = {  # id: ((width, height), [(class, xmin, ymin, xmax, ymax, difficult)])
    "2008_000001": ((60, 45), [("dog", 5, 6, 30, 40, 0), ("person", 10, 10, 20, 25, 1)]),
    "2008_000002": ((50, 70), [("cat", 1, 2, 49, 69, 0)]),
}


def _write_voc(root: Path, year: str = "2012") -> None:
    voc = root / "VOCdevkit" / f"VOC{year}"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (voc / sub).mkdir(parents=True)
    for image_id, ((w, h), objects) in VOC_IMAGES.items():
        Image.new("RGB", (w, h), (200, 100, 50)).save(voc / "JPEGImages" / f"{image_id}.jpg")
        xml = "".join(f"<object><name>{c}</name><difficult>{d}</difficult><bndbox><xmin>{x0}</xmin>"
                      f"<ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
                      for c, x0, y0, x1, y1, d in objects)
        (voc / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><filename>{image_id}.jpg</filename><size><width>{w}</width><height>{h}</height>"
            f"<depth>3</depth></size>{xml}</annotation>")
    (voc / "ImageSets" / "Main" / "train.txt").write_text("\n".join(VOC_IMAGES) + "\n")


def test_voc_detection_items_are_in_torchvision_detector_format(isolated):
    _write_voc(isolated / "env")
    ds = detection_dataset("voc")  # found through $MIXACT_DATA
    assert len(ds) == 2
    image, target = ds[0]
    assert image.dtype == torch.float32 and image.shape == (3, 45, 60) and 0.0 <= image.min() <= image.max() <= 1.0
    assert target["boxes"].dtype == torch.float32 and target["boxes"].format.value == "XYXY"
    assert target["boxes"].tolist() == [[5, 6, 30, 40], [10, 10, 20, 25]]
    assert target["labels"].dtype == torch.int64
    assert [VOC_CLASSES[k - 1] for k in target["labels"]] == ["dog", "person"]
    assert target["difficult"].tolist() == [False, True]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate_detection)
    images, targets = next(iter(loader))
    assert [tuple(im.shape) for im in images] == [(3, 45, 60), (3, 70, 50)]
    assert [t["labels"].tolist() for t in targets] == [[12, 15], [8]]


def test_voc_user_transforms_move_the_boxes(isolated):
    from torchvision.transforms import v2

    _write_voc(isolated / "root")
    ds = detection_dataset("VOC", root=isolated / "root", transforms=v2.RandomHorizontalFlip(p=1.0))
    assert ds[1][1]["boxes"].tolist() == [[50 - 49, 2, 50 - 1, 69]]  # x → width − x


def test_voc_classification_multi_hot(isolated):
    _write_voc(isolated / "root")
    ds = voc_classification(root=isolated / "root")
    (image, first), (_, second) = ds[0], ds[1]
    assert first.shape == (20,) and first.dtype == torch.float32 and image.shape == (3, 45, 60)
    assert [VOC_CLASSES[c] for c in first.nonzero().flatten()] == ["dog", "person"]
    assert [VOC_CLASSES[c] for c in second.nonzero().flatten()] == ["cat"]


def test_voc_missing_or_wrong_arguments_are_explained(isolated):
    (isolated / "root" / "VOCdevkit" / "VOC2012" / "JPEGImages").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError) as info:
        detection_dataset("voc", root=isolated / "root", split="val")
    msg = str(info.value)
    assert f"{isolated / 'root'}/VOCdevkit/VOC2012/: missing Annotations/, ImageSets/Main/val.txt" in msg
    assert f"{isolated / 'system'}/VOCdevkit/VOC2012/: no such folder" in msg
    assert "VOCtrainval_11-May-2012.tar" in msg and "No automatic download" in msg
    with pytest.raises(ValueError, match="VOC2012 split must be one of train, val, trainval"):
        detection_dataset("voc", split="test")
    with pytest.raises(ValueError, match="year must be one of 2007, 2012"):
        detection_dataset("voc", year="2010")
    with pytest.raises(ValueError, match="known: 'voc', 'coco'"):
        detection_dataset("kitti")


def test_fasterrcnn_trains_one_step_on_collated_voc(isolated):
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn

    _write_voc(isolated / "root")
    images, targets = collate_detection([detection_dataset("voc", root=isolated / "root")[i] for i in (0, 1)])
    torch.manual_seed(0)
    net = fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=21,
                                            min_size=96, max_size=96)
    net.train()
    losses = net(images, targets)
    assert {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"} <= set(losses)
    loss = sum(losses.values())
    loss.backward()
    assert torch.isfinite(loss)
    assert net.roi_heads.box_predictor.cls_score.weight.grad.abs().sum() > 0


# --- COCO -----------------------------------------------------------------------------------------

def _write_coco(root: Path) -> None:
    coco = root / "coco"
    (coco / "annotations").mkdir(parents=True)
    (coco / "val2017").mkdir()
    for image_id, (w, h) in ((1, (40, 30)), (2, (20, 20))):
        Image.new("RGB", (w, h), (0, 255, 0)).save(coco / "val2017" / f"{image_id:012d}.jpg")
    annotations = {
        "images": [{"id": i, "file_name": f"{i:012d}.jpg", "width": w, "height": h}
                   for i, (w, h) in ((1, (40, 30)), (2, (20, 20)))],
        "annotations": [  # bbox is XYWH; the zero-width one must be dropped; image 2 has none
            {"id": 1, "image_id": 1, "category_id": 18, "bbox": [2, 3, 10, 20], "area": 200, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 5, 0, 10], "area": 0, "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 90, "bbox": [0, 0, 40, 30], "area": 1200, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}, {"id": 90, "name": "toothbrush"}],
    }
    (coco / "annotations" / "instances_val2017.json").write_text(json.dumps(annotations))


def test_coco_detection_with_pycocotools(isolated):
    pytest.importorskip("pycocotools")
    _write_coco(isolated / "root")
    ds = detection_dataset("coco", root=isolated / "root", split="val")
    (image, target), (empty_image, empty) = ds[0], ds[1]
    assert image.shape == (3, 30, 40) and image.dtype == torch.float32 and target["image_id"] == 1
    assert target["boxes"].dtype == torch.float32 and target["boxes"].tolist() == [[2, 3, 12, 23], [0, 0, 40, 30]]
    assert target["labels"].dtype == torch.int64 and target["labels"].tolist() == [18, 90]
    assert empty_image.shape == (3, 20, 20) and empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,)


def test_coco_without_pycocotools_says_how_to_install_it(isolated, monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools", None)  # makes the import fail even where it is installed
    _write_coco(isolated / "root")
    with pytest.raises(ModuleNotFoundError, match=r"COCO found in .*pip install pycocotools"):
        detection_dataset("coco", root=isolated / "root", split="val")


def test_coco_missing_says_where_files_go(isolated):
    with pytest.raises(DatasetNotFoundError) as info:
        detection_dataset("coco", root=isolated / "root")
    msg = str(info.value)
    assert f"{isolated / 'root'}/coco/: no such folder" in msg
    assert "<dir>/coco/train2017/" in msg and "<dir>/coco/annotations/instances_train2017.json" in msg
    assert "pip install pycocotools" in msg and "cocodataset.org" in msg
    with pytest.raises(ValueError, match="COCO split must be 'train' or 'val'"):
        detection_dataset("coco", split="test")
