"""EventBench data: event samples, binning, loaders, encoders and augmentations.

Nothing here downloads. Data is generated (Yin-Yang, Mackey-Glass), ships inside an installed
package (scikit-learn digits), or is a file the user supplies (MNIST IDX, SHD/SSC HDF5, NeuroBench
Mackey-Glass ``.npy``, NHP ``.mat``), found via an explicit path, ``$EVENTBENCH_DATA`` or
``~/.eventbench/data``. Time is in seconds and dense tensors are time-major ``[T, B, N]``.
"""

from .augment import (
    blend,
    blend_dataset,
    delay_lines,
    dilate_time,
    jitter_channels,
    pool_channels,
    random_shift,
    shift_channels,
)
from .cache import BinCache
from .dataset import ORIGINS, DenseDataset, EventDataset, Origin, Splits
from .digits import digits_splits, load_digits_arrays, stratified_split
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
    iter_batches,
    time_to_bin,
)
from .mackey_glass import (
    MG_PARAMETERS,
    MG_POINTS,
    MG_URL,
    load_mackey_glass_series,
    mackey_glass,
    mackey_glass_series,
    neurobench_offset,
)
from .mnist import IDX_DTYPES, MNIST_URL, load_mnist_arrays, load_mnist_idx, read_idx
from .nhp import (
    NHP_FILES,
    NHP_URL,
    NhpRecording,
    bin_reaching,
    load_nhp,
    reaching_segments,
    read_reaching_mat,
)
from .shd import (
    SHD,
    SSC,
    HeidelbergRaw,
    HeidelbergSpec,
    from_tonic,
    load_heidelberg,
    load_shd,
    load_ssc,
    read_heidelberg,
    validation_split,
)
from .yinyang import YINYANG_PAPER_SPLITS, yin_yang, yin_yang_class, yinyang_splits

__all__ = [
    "BIN_EPSILON",
    "DATA_ENV_VAR",
    "IDX_DTYPES",
    "MG_PARAMETERS",
    "MG_POINTS",
    "MG_URL",
    "MNIST_URL",
    "NHP_FILES",
    "NHP_URL",
    "ORIGINS",
    "SHD",
    "SSC",
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
    "HeidelbergRaw",
    "HeidelbergSpec",
    "NhpRecording",
    "Origin",
    "Splits",
    "bin_events",
    "bin_reaching",
    "bin_samples",
    "blend",
    "blend_dataset",
    "collate_events",
    "crop_events",
    "crop_to_grid",
    "default_data_dir",
    "delay_lines",
    "digits_splits",
    "dilate_time",
    "from_tonic",
    "iter_batches",
    "jitter_channels",
    "latency_encode",
    "latency_times",
    "load_digits_arrays",
    "load_heidelberg",
    "load_mackey_glass_series",
    "load_mnist_arrays",
    "load_mnist_idx",
    "load_nhp",
    "load_shd",
    "load_ssc",
    "mackey_glass",
    "mackey_glass_series",
    "neurobench_offset",
    "pixel_latency_encode",
    "pixel_latency_times",
    "pool_channels",
    "random_shift",
    "reaching_segments",
    "read_heidelberg",
    "read_idx",
    "read_reaching_mat",
    "resolve_data_dir",
    "shift_channels",
    "stratified_split",
    "time_to_bin",
    "validation_split",
    "yin_yang",
    "yin_yang_class",
    "yinyang_splits",
]
