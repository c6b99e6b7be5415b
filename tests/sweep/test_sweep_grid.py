"""Sweep files: expansion into trials, stable ids, random search, errors naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventbench.sweep import expand, load_sweep, parse_sweep, trial_id
from eventbench.sweep.summary import mean_std, summary_markdown
from eventbench.tasks import ConfigError


def write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_grid_is_every_combination_times_seeds(tmp_path: Path) -> None:
    p = write(tmp_path, """
seeds = 3
[fixed]
"train.epochs" = 2
[grid]
"train.lr" = [0.001, 0.01]
"network.hidden" = [32, [64, 32]]
""")
    spec = load_sweep(p)
    assert spec.name == "study" and spec.search == "grid"
    trials = expand(spec)
    assert len(trials) == 2 * 2 * 3
    assert [t.seed for t in trials[:3]] == [0, 1, 2]
    assert trials[0].settings == {"train.lr": 0.001, "network.hidden": 32}
    assert trials[3].settings == {"train.lr": 0.001, "network.hidden": [64, 32]}
    assert trials[0].overrides() == {"train.epochs": 2, "train.lr": 0.001,
                                     "network.hidden": 32, "train.seed": 0}
    assert len({t.trial_id for t in trials}) == 12
    # --seeds overrides the file; ids of the shared trials do not change
    five = expand(spec, seeds=5)
    assert len(five) == 20
    assert {t.trial_id for t in trials} <= {t.trial_id for t in five}


def test_trial_ids_are_stable_and_depend_on_fixed_settings() -> None:
    a = trial_id({"train.lr": 0.01}, 1, {"train.epochs": 2})
    assert a == trial_id({"train.lr": 0.01}, 1, {"train.epochs": 2})
    assert len(a) == 16 and int(a, 16) >= 0
    assert a != trial_id({"train.lr": 0.01}, 2, {"train.epochs": 2})
    assert a != trial_id({"train.lr": 0.01}, 1, {"train.epochs": 3})


def test_random_search_is_reproducible_and_in_range() -> None:
    data = {"search": "random", "samples": 6, "random_seed": 7,
            "grid": {"train.lr": {"low": 1e-4, "high": 1e-2, "log": True},
                     "network.hidden": [16, 32]}}
    spec = parse_sweep(data, source="f", default_name="r")
    one, two = expand(spec), expand(spec)
    assert [t.trial_id for t in one] == [t.trial_id for t in two]
    assert len(one) == 6
    for t in one:
        assert 1e-4 <= t.settings["train.lr"] <= 1e-2
        assert t.settings["network.hidden"] in (16, 32)
    other = expand(parse_sweep({**data, "random_seed": 8}, source="f", default_name="r"))
    assert [t.trial_id for t in other] != [t.trial_id for t in one]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[grid]\n"train.lr" = []\n', r"\[grid\] 'train.lr' must be a non-empty list"),
        ('[fixed]\n"train.epochs" = 1\n', r"needs a \[grid\] table"),
        ('seeds = 0\n[grid]\n"train.lr" = [0.1]\n', r"seeds must be an integer >= 1, got 0"),
        ('search = "bayes"\n[grid]\n"train.lr" = [0.1]\n', r"search must be 'grid' or 'random'"),
        ('[grid]\n"train.lr" = { low = 0.1, high = 1.0 }\n', r"ranges need search = \"random\""),
        ('seeds = 2\n[grid]\n"train.seed" = [1, 2]\n', r"train.seed is set by seeds"),
        ('[fixed]\n"train.lr" = 0.1\n[grid]\n"train.lr" = [0.1]\n', r"train.lr both swept and fixed"),
        ('name = "a b"\n[grid]\n"train.lr" = [0.1]\n', r"name must be letters"),
        ('epochs = 3\n[grid]\n"train.lr" = [0.1]\n', r"unknown key\(s\) epochs"),
        ('search = "random"\nsamples = 2\n[grid]\n"train.lr" = { low = 1.0, high = 0.5 }\n',
         r"need numbers low < high"),
        ("[grid\n", r"not valid TOML"),
    ],
)
def test_bad_sweep_files_are_errors_naming_the_file_and_key(
    tmp_path: Path, text: str, match: str
) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_sweep(p)
    assert f"--grid {p}" in str(info.value)


def test_missing_file_and_bad_seeds_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--grid .*nope.toml: file does not exist"):
        load_sweep(tmp_path / "nope.toml")
    spec = parse_sweep({"grid": {"train.lr": [0.1]}}, source="f", default_name="s")
    with pytest.raises(ConfigError, match=r"--seeds must be an integer >= 1, got 0"):
        expand(spec, seeds=0)


def test_mean_std_is_the_sample_statistics() -> None:
    assert mean_std([]) is None
    assert mean_std([0.5]) == (0.5, None)
    m, s = mean_std([0.90, 0.92, 0.97])  # type: ignore[misc]
    assert m == pytest.approx(0.93)
    assert s == pytest.approx(0.036055512754639925)  # sqrt(((-.03)^2+(-.01)^2+.04^2)/2)


def test_summary_table_formats_mean_and_std() -> None:
    from eventbench.sweep.summary import SettingSummary

    rows = [SettingSummary({"train.lr": 0.01, "network.hidden": [64, 32]}, 3, 1,
                           (0.93, 0.036), (1568.4, 12.0), (5.25, 0.5)),
            SettingSummary({"train.lr": 0.1, "network.hidden": 8}, 1, 0, (0.5, None), None, None)]
    md = summary_markdown(rows).splitlines()
    assert md[0].startswith("| train.lr | network.hidden | seeds | failed | accuracy")
    assert md[2] == "| 0.01 | 64-32 | 3 | 1 | 0.9300 ± 0.0360 | 1,568 ± 12 | 5.25 ± 0.50 |"
    assert md[3] == "| 0.1 | 8 | 1 | 0 | 0.5000 ± n/a | n/a | n/a |"


def test_missing_ray_is_an_error_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from eventbench.sweep.runner import run_sweep

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    spec = parse_sweep({"fixed": {"data.max_train": 10}, "grid": {"network.hidden": [4]}},
                       source="f", default_name="noray")
    with pytest.raises(ImportError, match=r"pip install 'eventbench\[sweep\]'"):
        run_sweep("yinyang", spec, expand(spec), store=tmp_path / "s.sqlite",
                  out_root=tmp_path / "out")
    # nothing ran, nothing was recorded
    from eventbench.bench import ResultStore

    assert ResultStore(tmp_path / "s.sqlite").trials("noray") == []
