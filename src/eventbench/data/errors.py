"""Errors raised by the data module and the data-directory resolution rule.

Nothing in :mod:`eventbench.data` downloads anything. When a file the user must supply is absent,
:class:`DataMissingError` says which file was wanted, every path that was searched, and where the
data set is published. When a file exists but its content is wrong, :class:`DataFormatError` names
the file and the field (HDF5 path, IDX header part, ``.npy`` array, ...). No loader repairs bad
input silently.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "DATA_ENV_VAR",
    "DataFormatError",
    "DataMissingError",
    "default_data_dir",
    "resolve_data_dir",
]

logger = logging.getLogger(__name__)

#: Environment variable naming the data directory (used when no explicit directory is given).
DATA_ENV_VAR = "EVENTBENCH_DATA"


class DataMissingError(FileNotFoundError):
    """A data file the user has to supply was not found.

    Attributes:
        filename: the file that was wanted (e.g. ``"shd_train.h5"``).
        searched: every path that was checked, in order.
        url: where the data set is published (for the user to download it themselves).
        hint: an optional extra sentence (e.g. "found shd_train.h5.gz: decompress it").
    """

    def __init__(
        self, filename: str, searched: Sequence[Path | str], url: str, hint: str | None = None
    ) -> None:
        self.filename = filename
        self.searched = tuple(str(p) for p in searched)
        self.url = url
        self.hint = hint
        where = "\n".join(f"  - {p}" for p in self.searched) or "  (no location was given)"
        msg = (
            f"data file {filename!r} not found. Searched:\n{where}\n"
            f"It is published at {url} ; download it yourself and pass its path, or put it in "
            f"${DATA_ENV_VAR} or ~/.eventbench/data (EventBench never downloads)."
        )
        if hint:
            msg += f"\nNote: {hint}"
        super().__init__(msg)

    def __str__(self) -> str:  # FileNotFoundError's default str() shows errno fields only
        return str(self.args[0])


class DataFormatError(ValueError):
    """A data file (or in-memory data) has invalid content.

    Attributes:
        path: the offending file (or a description such as ``"<in-memory samples>"``).
        field: the field inside it (HDF5 dataset path, header part, array name, ...).
        reason: what is wrong with it.
    """

    def __init__(self, path: Path | str, field: str, reason: str) -> None:
        self.path = str(path)
        self.field = field
        self.reason = reason
        super().__init__(f"{self.path}: field {field!r}: {reason}")


def default_data_dir() -> Path:
    """The fallback data directory ``~/.eventbench/data`` (it need not exist)."""
    return Path.home() / ".eventbench" / "data"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data directory.

    Order: the explicit ``data_dir`` argument, then the ``EVENTBENCH_DATA`` environment variable
    (when set and non-empty), then ``~/.eventbench/data``. The directory is not created and its
    existence is not checked here; loaders report missing files with :class:`DataMissingError`.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_ENV_VAR, "")
    if env:
        return Path(env).expanduser()
    return default_data_dir()
