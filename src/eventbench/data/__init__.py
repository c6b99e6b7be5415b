"""EventBench data: event samples, binning, loaders, encoders and augmentations.

Nothing here downloads. Data is generated (Yin-Yang, Mackey-Glass), ships inside an installed
package (scikit-learn digits), or is a file the user supplies (MNIST IDX, SHD/SSC HDF5, NeuroBench
Mackey-Glass ``.npy``, NHP ``.mat``), found via an explicit path, ``$EVENTBENCH_DATA`` or
``~/.eventbench/data``. Time is in seconds and dense tensors are time-major ``[T, B, N]``.
"""

from .cache import BinCache
from .dataset import ORIGINS, DenseDataset, EventDataset, Origin, Splits
from .encoders import latency_encode, latency_times, pixel_latency_encode, pixel_latency_times
from .errors import (
    DATA_ENV_VAR,
    DataFormatError,
    DataMissingError,
    default_data_dir,
    resolve_data_dir,
)
from .events import (
    BIN_EPSILON,
    BinMode,
    BinnedEvents,
    EventBatch,
    EventSample,
    bin_events,
    bin_samples,
    collate_events,
    crop_events,
    crop_to_grid,
    time_to_bin,
)
from .yinyang import YINYANG_PAPER_SPLITS, yin_yang, yin_yang_class, yinyang_splits

__all__ = [
    "BIN_EPSILON",
    "DATA_ENV_VAR",
    "ORIGINS",
    "YINYANG_PAPER_SPLITS",
    "BinCache",
    "BinMode",
    "BinnedEvents",
    "DataFormatError",
    "DataMissingError",
    "DenseDataset",
    "EventBatch",
    "EventDataset",
    "EventSample",
    "Origin",
    "Splits",
    "bin_events",
    "bin_samples",
    "collate_events",
    "crop_events",
    "crop_to_grid",
    "default_data_dir",
    "latency_encode",
    "latency_times",
    "pixel_latency_encode",
    "pixel_latency_times",
    "resolve_data_dir",
    "time_to_bin",
    "yin_yang",
    "yin_yang_class",
    "yinyang_splits",
]
