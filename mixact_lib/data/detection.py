"""PASCAL VOC and COCO for paper B's Tables 6–7, read through torchvision, in the format its detectors take.

Paper B trains Faster R-CNN and YOLOv2 on PASCAL VOC and FCOS on COCO (Table 7), and "classifies"
PASCAL VOC with ResNet50 (Table 6). Neither dataset fits :func:`mixact_lib.data.load_dataset`
(images of many sizes, several objects each), so this module hands out torch ``Dataset`` objects:

* :func:`detection_dataset` → items ``(image, target)``: image float32 (3, H, W) in [0, 1]; target
  ``{"boxes": BoundingBoxes float32 (K, 4) XYXY in pixels, "labels": int64 (K,), ...}`` — what
  ``torchvision.models.detection.fasterrcnn_*`` / ``fcos_*`` take in training mode.
* :func:`voc_classification` → items ``(image, multi_hot)``, multi_hot float32 (20,).
* :func:`collate_detection` → a DataLoader ``collate_fn`` giving (list of images, list of targets).

Files (no download: VOC is 2 GB, COCO 20 GB; the error says where to get them). Looked for in
:func:`mixact_lib.data.readers.search_dirs` (``root``, ``$MIXACT_DATA``, ``./data``, ``/usr/share/datasets``):

* VOC: ``<dir>/VOCdevkit/VOC<year>/{JPEGImages, Annotations, ImageSets/Main/<split>.txt}``, as the
  official tar files extract. Years 2007 and 2012; ``split`` train, val, trainval (2007 also test).
* COCO: ``<dir>/coco/<split><year>/*.jpg`` and ``<dir>/coco/annotations/instances_<split><year>.json``
  (``split`` train or val, year 2017 by default); reading the json needs ``pip install pycocotools``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from .readers import WHERE_DIR, DatasetNotFoundError, search_dirs

#: VOC's 20 classes in the official order; detection label k means VOC_CLASSES[k - 1] (0 is background)
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")
VOC_YEARS = ("2007", "2012")
_VOC_URL = ("https://thor.robots.ox.ac.uk/pascal/VOC/ (VOC2012: voc2012/VOCtrainval_11-May-2012.tar; VOC2007: "
            "voc2007/VOCtrainval_06-Nov-2007.tar and VOCtest_06-Nov-2007.tar), mirroring "
            "http://host.robots.ox.ac.uk/pascal/VOC/")
_COCO_URL = ("https://cocodataset.org/#download (images: http://images.cocodataset.org/zips/<split><year>.zip; "
             "boxes: http://images.cocodataset.org/annotations/annotations_trainval<year>.zip)")


def detection_dataset(name: str, root: str | Path | None = None, split: str = "train",
                      year: str | None = None, transforms=None) -> Dataset:
    """VOC or COCO as a torchvision dataset wrapped by ``wrap_dataset_for_transforms_v2``.

    Items are ``(image float32 (3, H, W) in [0, 1], target)`` with target ``{"boxes": XYXY float32
    (K, 4), "labels": int64 (K,)}`` plus, for VOC, ``"difficult"`` bool (K,) (VOC's mAP ignores those
    objects; they are kept here, as torchvision does) and, for COCO, ``"image_id"``. Labels: VOC 1..20
    (index into :data:`VOC_CLASSES` plus one, so ``num_classes=21``); COCO its category ids 1..90
    (``num_classes=91``, torchvision's convention). Boxes of zero width or height are dropped, and a
    COCO image without objects gets empty (0, 4) boxes, both as detectors need.

    ``name``: "voc" or "coco". ``year``: VOC "2012" (default) or "2007"; COCO "2017" (default).
    ``transforms``: an optional ``torchvision.transforms.v2`` transform of (image, target), applied
    first (e.g. ``v2.RandomHorizontalFlip()``: it moves the boxes too). Raises
    :class:`~mixact_lib.data.DatasetNotFoundError` naming the places tried and the files needed.
    """
    import torchvision.datasets as tvd
    from torchvision.transforms import v2

    key = name.strip().lower()
    pipeline = v2.Compose([*([transforms] if transforms is not None else []), v2.ToImage(),
                           v2.ToDtype(torch.float32, scale=True), _complete_target,
                           v2.SanitizeBoundingBoxes(labels_getter=_per_box_fields), _float_boxes])
    if key in ("voc", "pascalvoc", "pascal_voc"):
        year = year or "2012"
        voc_root = _find_voc(root, split, year)
        dataset = tvd.VOCDetection(str(voc_root), year=year, image_set=split, transforms=pipeline)
        return tvd.wrap_dataset_for_transforms_v2(dataset, target_keys={"annotation", "boxes", "labels"})
    if key == "coco":
        images, annotations = _find_coco(root, split, year or "2017")
        dataset = tvd.CocoDetection(str(images), str(annotations), transforms=pipeline)
        return tvd.wrap_dataset_for_transforms_v2(dataset)
    raise ValueError(f"unknown detection dataset {name!r}; known: 'voc', 'coco'")


def voc_classification(root: str | Path | None = None, split: str = "train", year: str = "2012",
                       transforms=None) -> Dataset:
    """PASCAL VOC as multi-label classification: items ``(image, multi_hot)``, multi_hot float32 (20,).

    ``multi_hot[c] = 1`` if the image holds at least one object of :data:`VOC_CLASSES` ``[c]``,
    "difficult" ones included. Paper B (Table 6) does not say how it scored VOC classification; the
    usual measure for this target is mean average precision over the 20 classes (train with
    ``BCEWithLogitsLoss``). Images keep their own sizes: pass ``transforms`` (e.g. ``v2.Resize``) to batch.
    """
    return _MultiHot(detection_dataset("voc", root, split, year, transforms))


def collate_detection(batch: list[tuple[Tensor, dict]]) -> tuple[list[Tensor], list[dict]]:
    """``collate_fn`` for detection: images differ in size, so keep lists (the detector batches them itself)."""
    images, targets = zip(*batch) if batch else ((), ())
    return list(images), list(targets)


class _MultiHot(Dataset):
    def __init__(self, detection: Dataset):
        self.detection = detection

    def __len__(self) -> int:
        return len(self.detection)

    def __getitem__(self, idx: int) -> tuple[Tensor, Tensor]:
        image, target = self.detection[idx]
        multi_hot = torch.zeros(len(VOC_CLASSES))
        multi_hot[target["labels"] - 1] = 1.0
        return image, multi_hot


def _complete_target(image, target: dict) -> tuple:
    from torchvision import tv_tensors

    target = dict(target)
    annotation = target.pop("annotation", None)
    if annotation is not None:  # VOC: keep only the "difficult" flags of the raw xml dict
        objects = annotation.get("object", [])
        target["difficult"] = torch.tensor([o.get("difficult", "0") == "1" for o in objects], dtype=torch.bool)
    if "boxes" not in target:  # COCO image without annotations
        target["boxes"] = tv_tensors.BoundingBoxes(torch.zeros(0, 4), format="XYXY", canvas_size=image.shape[-2:])
        target["labels"] = torch.zeros(0, dtype=torch.int64)
    return image, target


def _per_box_fields(sample: tuple) -> tuple[Tensor, ...]:
    # what SanitizeBoundingBoxes must filter along with the boxes it drops
    return tuple(sample[1][k] for k in ("labels", "difficult") if k in sample[1])


def _float_boxes(image, target: dict) -> tuple:
    target["boxes"] = target["boxes"].to(torch.float32)  # VOC's are integer pixels; detectors want float
    target["labels"] = target["labels"].to(torch.int64)
    return image, target


def _find_voc(root: str | Path | None, split: str, year: str) -> Path:
    """The folder holding ``VOCdevkit/`` (torchvision's ``root``) for this year and split."""
    if year not in VOC_YEARS:
        raise ValueError(f"VOC year must be one of {', '.join(VOC_YEARS)}, got {year!r}")
    splits = ("train", "val", "trainval") + (("test",) if year == "2007" else ())
    if split not in splits:
        raise ValueError(f"VOC{year} split must be one of {', '.join(splits)}, got {split!r}")
    needed = ("JPEGImages/", "Annotations/", f"ImageSets/Main/{split}.txt")
    tried: list[str] = []
    found = _first_complete(root, f"VOCdevkit/VOC{year}", needed, tried)
    if found is not None:
        return found.parent.parent
    raise DatasetNotFoundError(f"voc{year}", tried, (
        f"To fix: extract the VOC{year} tar files into <dir>/ so that <dir>/VOCdevkit/VOC{year}/ holds "
        f"{', '.join(needed)}, {WHERE_DIR}.\nSource: {_VOC_URL}. No automatic download (about 2 GB)."))


def _find_coco(root: str | Path | None, split: str, year: str) -> tuple[Path, Path]:
    """(image folder, instances json) for this split and year; checks pycocotools once the files are found."""
    if split not in ("train", "val"):
        raise ValueError(f"COCO split must be 'train' or 'val' (test has no public boxes), got {split!r}")
    images, annotations = f"{split}{year}/", f"annotations/instances_{split}{year}.json"
    tried: list[str] = []
    folder = _first_complete(root, "coco", (images, annotations), tried)
    if folder is not None:
        try:
            import pycocotools  # noqa: F401
        except ImportError:
            raise ModuleNotFoundError(f"COCO found in {folder}/, but reading its annotations needs pycocotools: "
                                      "pip install pycocotools") from None
        return folder / images, folder / annotations
    raise DatasetNotFoundError(f"coco{year}", tried, (
        f"To fix: put <dir>/coco/{images} (the images) and <dir>/coco/{annotations}, {WHERE_DIR}; reading them "
        f"also needs pip install pycocotools.\nSource: {_COCO_URL}. No automatic download (about 20 GB)."))


def _first_complete(root: str | Path | None, sub: str, needed: tuple[str, ...], tried: list[str]) -> Path | None:
    """The first ``<dir>/<sub>`` (over the searched dirs) holding every ``needed`` path; misses go to ``tried``."""
    for d in search_dirs(root):
        folder = d / sub
        missing = [f for f in needed if not (folder / f).exists()]
        if not missing:
            return folder
        tried.append(f"{folder}/: " + (f"missing {', '.join(missing)}" if folder.is_dir() else "no such folder"))
    return None
