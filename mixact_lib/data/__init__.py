"""Image datasets as whole tensors on the training device, plus seeded subsets and batches.

The public surface of the data layer; ``from mixact_lib.data import load_dataset`` is all most code needs.

The datasets the three papers train on (paper A: MNIST, Fashion-MNIST, KMNIST; paper B: CIFAR-10/100,
miniImageNet; paper C: Fashion-MNIST, CIFAR-10, SVHN, FER):

========  =========================  ===============  ==================================================
name      what                       train / test     files, in ``<dir>/`` (any folder searched, below)
========  =========================  ===============  ==================================================
fmnist    Fashion-MNIST, 10 clothes  60,000 / 10,000  ``fashion-mnist/*-idx?-ubyte.gz`` or
          classes, 28×28 grey                         ``FashionMNIST/raw/*`` (torchvision's layout)
mnist     handwritten digits         60,000 / 10,000  ``mnist/`` or ``MNIST/raw/``, same four idx files
kmnist    Kuzushiji-MNIST, 10        60,000 / 10,000  ``kmnist/`` or ``KMNIST/raw/``, same four idx files
          cursive Japanese kana
cifar10   10 object classes,         50,000 / 10,000  ``cifar-10-batches-py/`` (torchvision's layout)
          32×32 colour
cifar100  100 object classes         50,000 / 10,000  ``cifar-100-python/``
svhn      house-number digits,       73,257 / 26,032  ``svhn/train_32x32.mat``, ``svhn/test_32x32.mat``
          32×32 colour                                (or directly in ``<dir>/``); needs scipy
fer2013   7 facial expressions,      22,967 / 5,742   ``fer2013/fer2013.csv`` or ``fer2013.csv`` (Kaggle)
          48×48 grey
========  =========================  ===============  ==================================================

``miniimagenet`` (100 ImageNet classes, 84×84 colour, 50,000 / 10,000): ``mini-imagenet/{train,val,test}.csv``
plus ``images/``, or class folders ``miniimagenet/<wnid>/*.jpg``.

Aliases: ``fashion_mnist``/``fashionmnist`` → ``fmnist``, ``fer`` → ``fer2013``; names are case-insensitive.

**Where files are looked for**, in order: ``root``, ``$MIXACT_DATA``, ``./data``, ``/usr/share/datasets``
(Debian's ``dataset-fashion-mnist`` installs ``/usr/share/datasets/fashion-mnist/``). Failing that, and
with ``download=True``, torchvision downloads into ``root`` (else ``$MIXACT_DATA``, else ``./data``).
FER2013 and miniImageNet have no downloader (Kaggle and ImageNet need a login). When nothing works,
:class:`DatasetNotFoundError` names every place tried and the files to put there.
:mod:`~mixact_lib.data.readers` does the finding.

**FER's split.** FER2013's csv marks 28,709 rows "Training" (plus public/private test rows). Paper C
(§A.2) partitions those 28,709 into 80 % train and 20 % test; we do the same, stratified by class
with a fixed seed (:data:`~mixact_lib.data.fer.FER_SPLIT_SEED`), so the test set does not change
with ``seed``.
miniImageNet's few-shot splits have disjoint classes, so for paper B's classification table all 100
classes are pooled and each is split 500/100 (our choice; :mod:`~mixact_lib.data.miniimagenet`).
PASCAL VOC and COCO (paper B's detection table) are not whole-tensor datasets: see
:mod:`mixact_lib.data.detection`.

**The modules**, one concern each; the arrows are their imports, which run one way:

* :mod:`~mixact_lib.data.tensors` — :func:`load_dataset`, :func:`synthetic_dataset`, :func:`batches`:
  normalised tensors on the device (normalisation and padding are described there);
* :mod:`~mixact_lib.data.readers` — where the files are looked for, downloads, the idx and
  torchvision formats, the per-process cache, :class:`DatasetNotFoundError`;
* :mod:`~mixact_lib.data.fer`, :mod:`~mixact_lib.data.miniimagenet` — the two readers that also split;
* :mod:`~mixact_lib.data.raw` — :class:`~mixact_lib.data.raw.RawData` and the stratified index
  choices, shared by all of the above and importing none of them;
* :mod:`~mixact_lib.data.detection` — VOC and COCO as torch ``Dataset`` objects (not imported here:
  ``from mixact_lib.data.detection import detection_dataset``).

tensors → readers → {fer, miniimagenet} → raw; tensors → raw; detection → readers.
"""
from .raw import stratified_subset
from .readers import DatasetNotFoundError, available_datasets, clear_cache
from .tensors import Dataset, Split, batches, get_batch_count, load_dataset, synthetic_dataset

__all__ = ["Split", "Dataset", "DatasetNotFoundError", "available_datasets", "load_dataset",
           "synthetic_dataset", "batches", "get_batch_count", "stratified_subset", "clear_cache"]
