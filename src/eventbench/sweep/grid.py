"""Sweep files: which recipe settings to vary, and the trials they expand to.

A sweep file is TOML. Its keys are the ``--set`` keys of the recipe (``section.name``)::

    name = "yinyang-lr-hidden"   # optional; default: the file name without .toml
    search = "grid"               # "grid" (every combination) or "random"
    seeds = 3                     # seeds per setting (``--seeds`` overrides); default 1
    samples = 8                   # random search: settings drawn
    random_seed = 0               # random search: seed of the draws

    [fixed]                       # the same in every trial
    "train.epochs" = 2
    "data.max_train" = 300

    [grid]                        # candidate values per setting
    "train.lr" = [0.003, 0.01]
    "network.hidden" = [32, [64, 32]]   # one value per candidate: 32 -> (32,), [64, 32]

In a random search a ``[grid]`` entry may also be a range, ``{ low = 1e-3, high = 1e-2,
log = true }`` (a float drawn uniformly, in log space with ``log``). Every trial is one
setting (a value per swept key) and one seed; its id is a hash of both, so the same file gives
the same trials (random draws included) and a rerun finds the trials already stored.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventbench.tasks.config import ConfigError

__all__ = ["SweepSpec", "Trial", "expand", "load_sweep", "parse_sweep", "settings_of", "trial_id"]

_TOP_KEYS = {"name", "search", "seeds", "samples", "random_seed", "fixed", "grid"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file.

    Attributes:
        name: the sweep's name (store key, folder name).
        search: ``"grid"`` or ``"random"``.
        grid: swept key -> candidate values (a list) or a range ``{"low", "high", "log"}``.
        fixed: key -> value set in every trial.
        seeds: seeds per setting (``train.seed`` = 0, 1, ..., seeds - 1).
        samples: settings drawn by a random search.
        random_seed: seed of a random search's draws.
        source: the file it was read from (named in errors).
    """

    name: str
    search: str
    grid: dict[str, Any]
    fixed: dict[str, Any]
    seeds: int = 1
    samples: int = 0
    random_seed: int = 0
    source: str = "sweep file"


@dataclass(frozen=True)
class Trial:
    """One run of a sweep.

    Attributes:
        trial_id: :func:`trial_id` of ``settings`` and ``seed``.
        settings: swept key -> value of this trial (TOML-typed values).
        seed: its ``train.seed``.
        fixed: the sweep's fixed settings.
    """

    trial_id: str
    settings: dict[str, Any]
    seed: int
    fixed: dict[str, Any]

    def overrides(self) -> dict[str, Any]:
        """Every setting of the trial: fixed, swept and ``train.seed``."""
        return {**self.fixed, **self.settings, "train.seed": self.seed}


def trial_id(settings: dict[str, Any], seed: int, fixed: dict[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of the trial's settings, seed and fixed settings
    (canonical JSON), so that a changed fixed setting makes new trials."""
    text = json.dumps({"settings": settings, "seed": seed, "fixed": fixed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _int(src: str, key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{src}: {key} must be an integer >= {low}, got {value!r}")
    return value


def _check_range(src: str, key: str, rng: dict[str, Any]) -> None:
    extra = set(rng) - {"low", "high", "log"}
    if extra or "low" not in rng or "high" not in rng:
        raise ConfigError(
            f"{src}: [grid] {key!r}: a range needs low and high (and optionally log), got {rng!r}"
        )
    lo, hi = rng["low"], rng["high"]
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
             for v in (lo, hi))
    if not ok or not lo < hi:
        raise ConfigError(f"{src}: [grid] {key!r}: need numbers low < high, got {lo!r}, {hi!r}")
    if rng.get("log", False) and lo <= 0:
        raise ConfigError(f"{src}: [grid] {key!r}: a log range needs low > 0, got {lo!r}")


def parse_sweep(data: dict[str, Any], *, source: str, default_name: str) -> SweepSpec:
    """Check the contents of a sweep file (see the module docstring)."""
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_TOP_KEYS))})"
        )
    name = data.get("name", default_name)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{source}: name must be letters, digits, '.', '_' or '-' (no spaces), got {name!r}"
        )
    search = data.get("search", "grid")
    if search not in ("grid", "random"):
        raise ConfigError(f"{source}: search must be 'grid' or 'random', got {search!r}")
    grid = data.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"{source}: needs a [grid] table with at least one setting to sweep")
    fixed = data.get("fixed", {})
    if not isinstance(fixed, dict):
        raise ConfigError(f"{source}: [fixed] must be a table of settings")
    for key, cand in grid.items():
        if isinstance(cand, dict):
            if search != "random":
                raise ConfigError(
                    f"{source}: [grid] {key!r} is a range; ranges need search = \"random\""
                )
            _check_range(source, key, cand)
        elif not isinstance(cand, list) or not cand:
            raise ConfigError(
                f"{source}: [grid] {key!r} must be a non-empty list of values, got {cand!r}"
            )
    both = sorted(set(grid) & set(fixed))
    if both:
        raise ConfigError(f"{source}: {', '.join(both)} both swept and fixed")
    if "train.seed" in grid or "train.seed" in fixed:
        raise ConfigError(f"{source}: train.seed is set by seeds (or --seeds), not swept")
    seeds = _int(source, "seeds", data.get("seeds", 1), 1)
    samples = data.get("samples", 0)
    random_seed = _int(source, "random_seed", data.get("random_seed", 0), 0)
    if search == "random":
        samples = _int(source, "samples", samples, 1)
    elif "samples" in data:
        raise ConfigError(f"{source}: samples is for search = \"random\" only")
    return SweepSpec(name, search, dict(grid), dict(fixed), seeds, samples, random_seed, source)


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file (``--grid FILE``)."""
    import tomllib

    p = Path(path)
    src = f"--grid {p}"
    if not p.is_file():
        raise ConfigError(f"{src}: file does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{src}: not valid TOML: {exc}") from None
    return parse_sweep(data, source=src, default_name=p.stem)


def _draw(cand: Any, rng: random.Random) -> Any:
    if isinstance(cand, list):
        return cand[rng.randrange(len(cand))]
    lo, hi = float(cand["low"]), float(cand["high"])
    if cand.get("log", False):
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    return rng.uniform(lo, hi)


def settings_of(spec: SweepSpec) -> list[dict[str, Any]]:
    """The sweep's settings (one value per swept key), in a fixed order: every combination of
    a grid (first key slowest), or ``samples`` draws of a random search (duplicates of a list
    draw are kept once)."""
    keys = list(spec.grid)
    if spec.search == "grid":
        return [dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(spec.grid[k] for k in keys))]
    rng = random.Random(spec.random_seed)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(spec.samples):
        s = {k: _draw(spec.grid[k], rng) for k in keys}
        tag = json.dumps(s, sort_keys=True)
        if tag not in seen:
            seen.add(tag)
            out.append(s)
    return out


def expand(spec: SweepSpec, seeds: int | None = None) -> list[Trial]:
    """Every trial: each setting with seeds ``0 .. seeds - 1`` (``seeds``: ``--seeds``, else
    the file's)."""
    n = spec.seeds if seeds is None else _int("--seeds", "--seeds", seeds, 1)
    return [
        Trial(trial_id(s, k, spec.fixed), s, k, spec.fixed)
        for s in settings_of(spec)
        for k in range(n)
    ]
