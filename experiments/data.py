"""Datasets for the training experiments, all local: nothing is downloaded at run time.

``digits`` (the default) is scikit-learn's bundled 8 x 8 handwritten digits (1797 images,
10 classes), split into train and test sets by a seeded stratified split.  ``mnist`` and
``fashion-mnist`` are read from the four IDX files a user already has (``gz`` or not):

    train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte

Images are flattened to float32 vectors scaled to [0, 1] (digits: /16, IDX: /255) and then
standardised per feature with the *training* mean and standard deviation (a constant
feature, such as an MNIST border pixel, is only centred), so no test statistic leaks into
the inputs.
"""
import gzip
import os
from typing import NamedTuple

import numpy as np

from initmath import _validate

__all__ = [
    "DATASETS",
    "IDX_FILES",
    "Dataset",
    "load_dataset",
    "load_digits",
    "load_idx",
    "read_idx",
]

DATASETS = ("digits", "mnist", "fashion-mnist")
# (images, labels) file stems of the train and test splits, as distributed by LeCun / Zalando
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
# IDX type byte -> numpy dtype (big-endian, as the format prescribes)
_IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class Dataset(NamedTuple):
    """Standardised float32 inputs (one row per sample) and int64 labels 0..classes-1."""
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int


def read_idx(path):
    """The array stored in one IDX file (``.gz`` compressed or not).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    numpy.ndarray
        Of the file's shape and dtype (native byte order).

    Raises
    ------
    ValueError
        If the file does not exist, its magic number is not an IDX one, or its size does
        not match the dimensions in its header.

    Notes
    -----
    Format: two zero bytes, a type byte (0x08 ubyte ... 0x0E float64), the number of
    dimensions n, then n big-endian uint32 sizes and the data in C order.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> labels = np.array([3, 1, 4], dtype=np.uint8)
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(bytes([0, 0, 0x08, 1]) + (3).to_bytes(4, "big") + labels.tobytes())
    >>> np.array_equal(read_idx(path), labels)
    True
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"IDX file {path!r} does not exist")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path!r} is not an IDX file (bad magic number {raw[:4]!r})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path!r}: header says shape {shape} ({expected} bytes), the file "
                         f"has {len(raw)} bytes")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _standardise(x_train, x_test):
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0          # a constant feature carries no information: only centre it
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def _dataset(name, x_train, y_train, x_test, y_test):
    x_train, x_test = _standardise(x_train, x_test)
    classes = int(max(y_train.max(), y_test.max())) + 1
    return Dataset(name, x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64),
                   classes)


def load_digits(seed=0, test_fraction=0.3):
    """scikit-learn's bundled 8 x 8 digits, split by a seeded stratified split.

    Parameters
    ----------
    seed : int
        Seed of the split (the same seed gives the same split on every machine).
    test_fraction : float
        Fraction of the 1797 images held out for testing, in (0, 1).

    Returns
    -------
    Dataset
        64 standardised features, 10 classes.

    Raises
    ------
    ValueError
        If test_fraction is outside (0, 1) or seed is not an integer >= 0.

    Examples
    --------
    >>> data = load_digits(seed=0)
    >>> data.x_train.shape, data.x_test.shape, data.classes
    ((1257, 64), (540, 64), 10)
    >>> bool(abs(data.x_train.mean()) < 1e-6)        # standardised on the training set
    True
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split
    test_fraction = float(_validate.real(test_fraction, "test_fraction", 0, 1, low_open=True,
                                         high_open=True))
    seed = _seed(seed)
    bunch = sklearn_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        bunch.data / 16.0, bunch.target, test_size=test_fraction, random_state=seed,
        stratify=bunch.target)
    return _dataset("digits", x_train, y_train, x_test, y_test)


def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _find(folder, stem):
    for candidate in (stem, stem + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    raise ValueError(f"{stem} (or {stem}.gz) not found in {folder!r}")


def _images_and_labels(folder, split):
    images, labels = (read_idx(_find(folder, stem)) for stem in IDX_FILES[split])
    if images.ndim < 2 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{split} IDX files in {folder!r} do not match: images "
                         f"{images.shape}, labels {labels.shape}")
    return images.reshape(len(images), -1) / 255.0, labels


def load_idx(path, dataset="mnist"):
    """MNIST or Fashion-MNIST from the four IDX files in a local folder.

    Parameters
    ----------
    path : str or os.PathLike
        Folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each may end in ``.gz``).
    dataset : {"mnist", "fashion-mnist"}
        The name recorded in the result (both use the same file names and format).

    Returns
    -------
    Dataset
        The official train/test split, images flattened, scaled by 1/255 and standardised.

    Raises
    ------
    ValueError
        If the folder or a file is missing, a file is not IDX, or images and labels disagree.
    """
    dataset = _validate.choice(dataset, "dataset", DATASETS[1:])
    folder = os.fspath(path)
    if not os.path.isdir(folder):
        raise ValueError(f"data path {folder!r} is not a folder")
    return _dataset(dataset, *_images_and_labels(folder, "train"),
                    *_images_and_labels(folder, "test"))


def load_dataset(dataset="digits", path=None, seed=0):
    """The dataset the command line asked for: digits, or MNIST / Fashion-MNIST from path.

    Raises
    ------
    ValueError
        If dataset is unknown, or is an IDX dataset without a path.
    """
    dataset = _validate.choice(dataset, "dataset", DATASETS)
    if dataset == "digits":
        return load_digits(seed)
    if path is None:
        raise ValueError(f"dataset {dataset!r} is read from local IDX files: give --data PATH")
    return load_idx(path, dataset)
