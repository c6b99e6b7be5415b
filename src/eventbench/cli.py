"""The ``eventbench`` command line: train, benchmark, compare and report.

Every error a user can act on (unknown task or option, missing data file, a checkpoint of
another network, a config value of the wrong type) ends the program with a one-line message on
stderr and a non-zero exit status; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

__all__ = ["app", "main"]

log = logging.getLogger("eventbench.cli")

app = typer.Typer(
    name="eventbench",
    help=(
        "Train spiking networks with EventProp (exact gradients) or surrogate-gradient BPTT, "
        "compare them with conventional networks, and benchmark them NeuroBench-style.\n\n"
        "Start with:  eventbench run yinyang"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# ------------------------------------------------------------------------------ shared options

TaskArg = Annotated[str, typer.Argument(help="Task name (see 'eventbench tasks').", show_default=False)]
MethodOpt = Annotated[
    str | None,
    typer.Option(
        "--method", "-m",
        help="eventprop (exact gradients), bptt (surrogate gradients) or ann (the task's "
        "conventional baseline). Default: the recipe's (eventprop).",
        show_default=False,
    ),
]
LossOpt = Annotated[
    str | None,
    typer.Option(
        "--loss",
        help="ce (cross-entropy on the voltage readout), per-step-ce, first-spike, "
        "relative-mse or mse (regression). Default: the recipe's.",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c",
        help="TOML file overriding recipe settings (tables \\[data], \\[network], \\[train], \\[baseline]).",
        show_default=False,
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s",
        help="Override one setting, e.g. --set train.lr=0.002 --set network.hidden=64,32 "
        "(repeatable; applied after --config).",
        show_default=False,
    ),
]
EpochsOpt = Annotated[
    int | None, typer.Option("--epochs", "-e", help="Number of training epochs.", show_default=False)
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed of weights and sample order.", show_default=False)]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="EVENTBENCH_DATA",
        help="Folder with your own data files (MNIST, SHD, SSC, NHP, Mackey-Glass, "
        "DvsGesture/, speech_commands_v0.02/). "
        "Default: $EVENTBENCH_DATA, then ~/.eventbench/data.",
        show_default=False,
    ),
]
StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store",
        envvar="EVENTBENCH_STORE",
        help="SQLite results store. Default: $EVENTBENCH_STORE or eventbench-results/results.sqlite.",
        show_default=False,
    ),
]
OutDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--out-dir", "-o",
        help="Run folder for checkpoints, history and report. Default: "
        "eventbench-results/runs/<task>-<model>-<time>.",
        show_default=False,
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log details (INFO level).")]
DevicesOpt = Annotated[int, typer.Option("--devices", min=1, help="Data-parallel training over N processes (torch.distributed, gloo on CPU); train.batch_size is the global minibatch.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]

# ---- issue 12: device, resume / overwrite, version (shared by train, run, bench, compare)
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        envvar="EVENTBENCH_DEVICE",
        help="Where the model, batches and metrics run: cpu, cuda, cuda:N or auto (CUDA when "
        "one is visible, else cpu). Default: $EVENTBENCH_DEVICE, then auto.",
    ),
]
ResumeOpt = Annotated[
    str | None,
    typer.Option(
        "--resume",
        help="Continue an interrupted or finished run: --resume RUN_DIR, or --resume alone for "
        "the latest run of the task (or of --out-dir). The recipe comes from the run's last.pt; "
        "--epochs extends it.",
        show_default=False,
    ),
]
OverwriteOpt = Annotated[
    bool,
    typer.Option("--overwrite", help="Replace the run already in --out-dir (refused without it)."),
]
_RESUME_LATEST = "\0latest"  # what a bare --resume becomes (see _expand_bare_resume)


def _device(text: str) -> Any:
    from eventbench.train.device import resolve_device

    return resolve_device(text)


def _expand_bare_resume(args: list[str]) -> list[str]:
    """Give a bare ``--resume`` (last, or followed by an option or a word that is no existing
    folder) the value meaning "the latest run"."""
    out: list[str] = []
    for i, a in enumerate(args):
        out.append(a)
        if a != "--resume":
            continue
        nxt = args[i + 1] if i + 1 < len(args) else None
        if nxt is None or nxt.startswith("-") or not (Path(nxt).is_dir() or os.sep in nxt):
            out.append(_RESUME_LATEST)
    return out


def _run_folder(
    task: str, resume: str | None, out_dir: Path | None, overwrite: bool
) -> tuple[Path | None, dict[str, Any] | None]:
    """The run folder to resume (and the recipe values stored in its last.pt), or ``(None,
    None)`` for a new run; checks that a given --out-dir holds no run unless --overwrite."""
    from eventbench.tasks.pipeline import stored_recipe
    from eventbench.train.runs import RunFolderError, check_fresh_run_dir, latest_run

    if resume is None:
        if out_dir is not None:
            check_fresh_run_dir(out_dir, overwrite)
        return None, None
    if overwrite:
        raise RunFolderError("--resume and --overwrite exclude each other: continue the run or replace it")
    if resume == _RESUME_LATEST:
        run_dir = out_dir if out_dir is not None else latest_run(task)
    else:
        run_dir = Path(resume)
        if out_dir is not None and out_dir.resolve() != run_dir.resolve():
            raise RunFolderError(f"--resume {run_dir} and --out-dir {out_dir} name different folders; give one")
    if not (run_dir / "last.pt").is_file():
        raise RunFolderError(f"--resume {run_dir}: no last.pt there (not a run folder of 'eventbench train')")
    ck_task, values = stored_recipe(run_dir / "last.pt")
    if ck_task is not None and ck_task != task:
        raise RunFolderError(f"--resume {run_dir}: that run is of task {ck_task!r}, not {task!r}")
    return run_dir, values


def _interrupted_exit(exc: Any, command: str, task: str, extra: list[str]) -> NoReturn:
    """Print where the interrupted run's last.pt is and how to resume; exit 130 (SIGINT) or
    143 (SIGTERM)."""
    from eventbench.train.runs import resume_command

    ck = exc.checkpoint
    print(f"eventbench: {exc.reason or 'stop'}: training stopped in epoch {exc.epoch + 1} "
          f"(that epoch is discarded); {exc.completed} finished epoch(s) saved in {ck}",
          file=sys.stderr)
    if ck is not None:
        print(f"resume with: {resume_command(command, task, ck.parent, extra)}", file=sys.stderr)
    raise typer.Exit(143 if exc.reason == "SIGTERM" else 130)


def _pass_on(device: str, data_dir: Path | None, store: Path | None = None) -> list[str]:
    """Options a resume command must repeat (the recipe itself is in last.pt); values that
    came from the environment ($EVENTBENCH_DEVICE, ...) are left to it."""
    env = os.environ.get
    extra = [] if device in ("auto", env("EVENTBENCH_DEVICE")) else ["--device", device]
    if data_dir is not None and str(data_dir) != env("EVENTBENCH_DATA"):
        extra += ["--data-dir", str(data_dir)]
    if store is not None and str(store) != env("EVENTBENCH_STORE"):
        extra += ["--store", str(store)]
    return extra


def _version_callback(value: bool) -> None:
    if value:
        from eventbench import __version__

        print(f"eventbench {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_version_callback, is_eager=True)] = False,
) -> None:
    pass  # the app's help text is Typer(help=...)


# --- evaluation protocols (issue 13): --protocol NAME is --set data.protocol=NAME
ProtocolOpt = Annotated[
    str | None,
    typer.Option(
        "--protocol",
        help="Evaluation protocol of the task (see 'eventbench tasks'); same as "
        "--set data.protocol=NAME. Default: the task's first (official) protocol.",
        show_default=False,
    ),
]


def _with_protocol(sets: list[str] | None, protocol: str | None) -> list[str]:
    """``--set`` assignments with ``--protocol NAME`` appended as ``data.protocol=NAME``."""
    return [*(sets or ()), *(() if protocol is None else (f"data.protocol={protocol}",))]


def _protocol_lines(tasks: Any) -> str:
    """The ``eventbench tasks`` protocol list: per task the default protocol (name: version)
    and the other names that ``--protocol`` accepts."""
    lines = ["Evaluation protocols (--protocol NAME; the first is the default):"]
    for t in tasks:
        if not t.protocols:
            lines.append(f"  {t.name}: (none declared)")
            continue
        first, *rest = t.protocols
        also = f"; also: {', '.join(p.name for p in rest)}" if rest else ""
        lines.append(f"  {t.name}: {first.name} = {first.version}{also}")
    return "\n".join(lines)
# --- end evaluation protocols


def _setup(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def _store_path(store: Path | None) -> Path:
    from eventbench.bench.store import default_store_path

    return store if store is not None else default_store_path()


def _default_run_dir(task: str, model: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("eventbench-results") / "runs" / f"{task}-{model}-{stamp}"
    path, n = base, 1
    while path.exists():  # two runs started in the same second get their own folders
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _prepare(
    task_name: str,
    config: Path | None,
    sets: list[str] | None,
    data_dir: Path | None,
    *,
    stored: dict[str, Any] | None = None,
    **flags: Any,
) -> tuple[Any, Any, Any]:
    """Task, recipe and loaded data; sets the torch thread count from the recipe."""

    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import apply_threads, resolve_recipe

    task = get_task(task_name)
    recipe = resolve_recipe(task, config, sets or (), stored=stored, **flags)
    apply_threads(recipe)
    data = _load_data(task, recipe, data_dir)
    return task, recipe, data


def _load_data(task: Any, recipe: Any, data_dir: Path | None) -> Any:
    """The task's data; a value error of the data code is reported with the data settings
    that produced it (the user's names), not the loader's internal ones."""
    from eventbench.data import DataFormatError
    from eventbench.tasks import ConfigError

    try:
        return task.load(recipe, data_dir)
    except (DataFormatError, ConfigError):
        raise
    except ValueError as exc:
        d = recipe.data
        raise ConfigError(
            f"task {task.name!r} with data.dt_ms = {d.dt_ms:g}, data.duration_ms = "
            f"{d.duration_ms:g} ({d.n_steps} steps): {' '.join(str(exc).split())} (data "
            "settings are changed with --set data.NAME=VALUE)"
        ) from exc


def _console() -> Any:
    from rich.console import Console

    width = None if sys.stdout.isatty() else 120  # files and pipes get full tables
    return Console(highlight=False, soft_wrap=True, width=width)


def _fmt(v: float | None) -> str:
    from eventbench.bench import format_number

    return format_number(v)


def _train_run(
    task: Any, recipe: Any, data: Any, run_dir: Path, resume: bool, quiet: bool,
    device: Any = None, stop: Any = None, devices: int = 1,
) -> tuple[Any, Any]:
    from eventbench.tasks.pipeline import score_name, train
    from eventbench.train.callbacks import Callback, LogCallback, RichProgress
    from eventbench.train.runs import stop_on_signals

    if resume and not (run_dir / "last.pt").is_file():
        raise FileNotFoundError(f"--resume: no checkpoint {str(run_dir / 'last.pt')!r} to resume from")
    name = "acc" if score_name(task) == "accuracy" else "R2"
    if devices > 1:
        return train(task, recipe, data, run_dir, resume=resume, device=device, devices=devices)
    from eventbench.train.loop import StopRequest

    with stop_on_signals(stop if stop is not None else StopRequest()) as req:
        if quiet or not sys.stderr.isatty():
            cbs: list[Callback] = [LogCallback()]
            return train(task, recipe, data, run_dir, resume=resume, callbacks=cbs,
                         device=device, stop=req)
        with RichProgress(score_name=name) as bar:
            return train(task, recipe, data, run_dir, resume=resume, callbacks=[bar],
                         device=device, stop=req)


# ------------------------------------------------------------------------------------ commands


@app.command("tasks")
def tasks_cmd(data_dir: DataDirOpt = None) -> None:
    """List the tasks, whether their data is available here, and their default recipe."""
    from rich.table import Table

    from eventbench.tasks import TASKS

    table = Table(title="EventBench tasks", show_lines=False)
    for col in ("task", "description", "data", "default recipe"):
        table.add_column(col, overflow="fold")
    for t in TASKS.values():
        av = t.availability(data_dir)
        r = t.recipe
        recipe = (
            f"{'-'.join(map(str, r.network.hidden))} hidden{' rec.' if r.network.recurrent else ''}, "
            f"{r.train.loss}/{r.network.readout}, {r.train.epochs} ep"
        )
        mark = "[green]yes[/green]" if av.available else "[red]no[/red]"
        note = f"{av.note.split('; get ')[0]} (address below)" if "http" in av.note else av.note
        table.add_row(t.name, t.summary, f"{mark}: {note}", recipe)
    c = _console()
    c.print(table)
    # notes with download addresses again in full, one line each (a table cell may wrap them)
    missing = [(t.name, t.availability(data_dir).note) for t in TASKS.values()]
    missing = [(n, note) for n, note in missing if "http" in note]
    if missing:
        c.print("\nwhere to get the data:")
        for name, note in missing:
            c.print(f"  {name}: {note}", markup=False, overflow="ignore", crop=False)
    c.print(_protocol_lines(TASKS.values()), markup=False)


@app.command("train")
def train_cmd(
    task: TaskArg,
    method: MethodOpt = None,
    loss: LossOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    out_dir: OutDirOpt = None,
    resume: ResumeOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    data_dir: DataDirOpt = None,
    devices: DevicesOpt = 1,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    protocol: ProtocolOpt = None,
) -> None:
    """Train a model on a task; checkpoints go to the run folder (best.pt, last.pt).

    Ctrl-C (SIGINT) or SIGTERM stops at the next minibatch and prints the resume command."""
    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import model_name, score_name
    from eventbench.train.loop import TrainingInterrupted, evaluate

    _setup(verbose)
    dev = _device(device)
    resumed, stored = _run_folder(get_task(task).name, resume, out_dir, overwrite)
    t, recipe, data = _prepare(task, config, _with_protocol(set_, protocol), data_dir, stored=stored, method=method,
                               loss=loss, epochs=epochs, seed=seed)
    run_dir = resumed or out_dir or _default_run_dir(t.name, model_name(recipe))
    try:
        built, history = _train_run(t, recipe, data, run_dir, resumed is not None, quiet, dev,
                                    devices=devices)
    except TrainingInterrupted as exc:
        _interrupted_exit(exc, "train", t.name, _pass_on(device, data_dir))
    ev = evaluate(built.learner, data.test, recipe.train.eval_batch_size)
    c = _console()
    best = "n/a" if history.best_score is None else f"{history.best_score:.4f}"
    sel = "best validation" if data.val is not None else "best training"
    c.print(
        f"{t.name} / {model_name(recipe)}: {sel} {score_name(t)} {best} "
        f"(epoch {'n/a' if history.best_epoch is None else history.best_epoch + 1}), "
        f"test {score_name(t)} {ev.score:.4f}"
    )
    c.print(f"checkpoints: {run_dir / 'best.pt'} (best), {run_dir / 'last.pt'} (resume)")


@app.command("bench")
def bench_cmd(
    task: TaskArg,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", "-k", help="A best.pt or last.pt written by 'train' or 'run'.", show_default=False)] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    mode: Annotated[str, typer.Option("--mode", help="exact (corrected definitions) or neurobench (NeuroBench 2.3.0 numbers).")] = "exact",
    device: DeviceOpt = "auto",
    store: StoreOpt = None,
    data_dir: DataDirOpt = None,
    verbose: VerboseOpt = False,
    nir_file: Annotated[Path | None, typer.Option("--nir", help="Benchmark a NIR graph (e.g. trained elsewhere) instead of a checkpoint.", show_default=False)] = None,
    nir_spike_dt_ms: Annotated[float | None, typer.Option("--nir-spike-dt-ms", help="The graph's spikes are the value 1 for one step of this many ms (snnTorch 1.0 graphs: 0.1); default: NIR's Dirac spikes.", show_default=False)] = None,
    protocol: ProtocolOpt = None,
) -> None:
    """Benchmark a trained checkpoint (or a NIR graph) on the task's test split and store the result."""
    import time

    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import benchmark, load_trained, score_name, stored_recipe
    from eventbench.train.checkpoint import CheckpointMismatchError

    _setup(verbose)
    t0 = time.perf_counter()
    dev = _device(device)
    t = get_task(task)
    if (checkpoint is None) == (nir_file is None):
        raise typer.BadParameter("give exactly one of --checkpoint and --nir")
    if nir_file is not None:
        _bench_nir(t.name, nir_file, nir_spike_dt_ms, config, _with_protocol(set_, protocol), mode,
                   store, data_dir, t0)
        return
    assert checkpoint is not None
    ck_task, values = stored_recipe(checkpoint)
    if ck_task is not None and ck_task != t.name:
        raise CheckpointMismatchError(
            f"checkpoint {str(checkpoint)!r} was trained on task {ck_task!r}, not {t.name!r}; "
            f"use: eventbench bench {ck_task} --checkpoint {checkpoint}"
        )
    t, recipe, data = _prepare(task, config, _with_protocol(set_, protocol), data_dir, stored=values or None)
    built = load_trained(recipe, data, checkpoint, dev)
    result = benchmark(t, recipe, data, built, store=_store_path(store), mode=mode,
                       tags={"checkpoint": str(checkpoint)})
    c = _console()
    _print_summary(c, t, result, score_name(t), time.perf_counter() - t0)
    c.print(f"stored as run {result.run_id} in {_store_path(store)}")


# ------------------------------------------------------------------------- NIR (eventbench.nir)


def _bench_nir(task: str, path: Path, spike_dt_ms: float | None, config: Path | None,
               sets: list[str] | None, mode: str, store: Path | None, data_dir: Path | None,
               t0: float) -> None:
    """``bench TASK --nir FILE``: the graph on the task's grid, the recipe's readout and loss."""
    import time

    from eventbench.tasks.pipeline import benchmark, load_nir, score_name

    t, recipe, data = _prepare(task, config, sets, data_dir)
    try:
        built = load_nir(recipe, data, path,
                         spike_dt_s=None if spike_dt_ms is None else spike_dt_ms * 1e-3)
    except ImportError as exc:
        raise ValueError(str(exc)) from exc
    result = benchmark(t, recipe, data, built, store=_store_path(store), mode=mode,
                       tags={"nir": str(path)}, name=f"nir-{path.stem}")
    c = _console()
    _print_summary(c, t, result, score_name(t), time.perf_counter() - t0)
    c.print(f"stored as run {result.run_id} in {_store_path(store)}")


@app.command("export")
def export_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="A best.pt or last.pt written by 'train' or 'run'.", show_default=False)],
    nir_file: Annotated[Path, typer.Option("--nir", help="NIR (HDF5) file to write.", show_default=False)],
    spike_dt_ms: Annotated[float | None, typer.Option("--spike-dt-ms", help="Write for time-stepped importers whose spikes are the value 1 for one step of this many ms (snnTorch 1.0: 0.1); default: NIR's Dirac spikes.", show_default=False)] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Export a trained spiking network to NIR, to run it on other simulators and hardware."""
    from eventbench.tasks.pipeline import snn_from_checkpoint

    _setup(verbose)
    from eventbench.nir import write

    net = snn_from_checkpoint(checkpoint)
    try:
        write(nir_file, net, spike_dt_s=None if spike_dt_ms is None else spike_dt_ms * 1e-3)
    except ImportError as exc:
        raise ValueError(str(exc)) from exc
    s = net.spec
    _console().print(
        f"wrote {nir_file}: {s.n_inputs} inputs, hidden {[h.size for h in s.hidden]}, "
        f"{s.n_outputs} {'CubaLIF' if s.output_kind == 'lif' else 'CubaLI'} outputs "
        f"(time in s, {'Dirac spikes' if spike_dt_ms is None else f'spikes of {spike_dt_ms} ms'})"
    )


@app.command("run")
def run_cmd(
    task: TaskArg,
    method: MethodOpt = None,
    loss: LossOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    out_dir: OutDirOpt = None,
    resume: ResumeOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    store: StoreOpt = None,
    data_dir: DataDirOpt = None,
    summary_json: Annotated[Path | None, typer.Option("--summary-json", hidden=True)] = None,
    devices: DevicesOpt = 1,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
    protocol: ProtocolOpt = None,
) -> None:
    """Train, benchmark and report: the main job (e.g. 'eventbench run yinyang').

    Ctrl-C (SIGINT) or SIGTERM stops at the next minibatch and prints the resume command."""
    import time

    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import benchmark, model_name, score_name, write_run_report
    from eventbench.train.loop import TrainingInterrupted

    _setup(verbose)
    t0 = time.perf_counter()
    dev = _device(device)
    resumed, stored = _run_folder(get_task(task).name, resume, out_dir, overwrite)
    t, recipe, data = _prepare(task, config, _with_protocol(set_, protocol), data_dir, stored=stored, method=method,
                               loss=loss, epochs=epochs, seed=seed)
    run_dir = resumed or out_dir or _default_run_dir(t.name, model_name(recipe))
    c = _console()
    c.print(f"[bold]{t.name}[/bold]: training {model_name(recipe)} "
            f"({recipe.train.epochs if recipe.train.method != 'ann' else recipe.baseline.epochs} "
            f"epochs, {dev}) -> {run_dir}")
    try:
        built, history = _train_run(t, recipe, data, run_dir, resumed is not None, quiet, dev,
                                    devices=devices)
    except TrainingInterrupted as exc:
        _interrupted_exit(exc, "run", t.name, _pass_on(device, data_dir, store))
    store_path = _store_path(store)
    result = benchmark(t, recipe, data, built, store=store_path, history=history,
                       tags={"run_dir": str(run_dir)})
    report = write_run_report(run_dir, t, result, history, store_path)
    wall = time.perf_counter() - t0
    _print_summary(c, t, result, score_name(t), wall)
    c.print(f"report: {report}\nresult stored as run {result.run_id} in {store_path}")
    if summary_json is not None:
        summary_json.write_text(json.dumps({"run_id": result.run_id, "wall_time_s": wall,
                                            "store": str(store_path), "run_dir": str(run_dir)}))


def _print_summary(c: Any, task: Any, result: Any, score: str, wall: float) -> None:
    from rich.table import Table

    from eventbench.tasks.pipeline import result_metrics

    table = Table(title=f"{task.name} / {result.model}: test set (run {result.run_id[:8]})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in result_metrics(task):
        table.add_row(key, _fmt(result.metric(key)))
    rows = [
        ("synaptic ops / sample (effective)", _ops(result)),
        ("activation sparsity", _fmt(result.metric("activation_sparsity"))),
        ("parameters", _fmt(result.metric("parameter_count"))),
        ("footprint (bytes)", _fmt(result.metric("footprint"))),
        ("training epochs", _fmt(result.metric("training.epochs"))),
        ("training s / epoch", _fmt(result.metric("training.time_per_epoch_s"))),
        ("peak memory (MiB)", _fmt(result.metric("training.peak_memory_mb"))),
        ("wall time (s)", _fmt(wall)),
    ]
    for k, v in rows:
        table.add_row(k, v)
    c.print(table)


def _ops(result: Any) -> str:
    macs = result.metric("synaptic_operations.effective_macs")
    acs = result.metric("synaptic_operations.effective_acs")
    if macs is None or acs is None:
        return "n/a"
    return f"{acs:,.0f} AC + {macs:,.0f} MAC"


@app.command("compare")
def compare_cmd(
    task: TaskArg,
    methods: Annotated[str, typer.Option("--methods", help="Comma-separated methods to compare.")] = "eventprop,bptt,ann",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    out_dir: OutDirOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    store: StoreOpt = None,
    data_dir: DataDirOpt = None,
    verbose: VerboseOpt = False,
    protocol: ProtocolOpt = None,
) -> None:
    """EventProp vs surrogate BPTT vs the conventional baseline: one table (accuracy, NeuroBench metrics, training time per epoch, peak memory).

    Same data and seed for every method; each trains in its own process, so peak memory is measured per method."""
    from eventbench.bench import ResultStore
    from eventbench.tasks import get_task

    _setup(verbose)
    t = get_task(task)
    if protocol is not None:
        t.protocol(protocol)  # an unknown name fails here, before any method runs
    wanted = [m.strip() for m in methods.split(",") if m.strip()]
    bad = [m for m in wanted if m not in ("eventprop", "bptt", "ann")]
    if bad or not wanted:
        raise ValueError(f"--methods: unknown method(s) {', '.join(bad) or '(none)'}; use eventprop, bptt, ann")
    _device(device)  # fail before the first method trains
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = out_dir if out_dir is not None else Path("eventbench-results") / "runs" / f"{t.name}-compare-{stamp}"
    base.mkdir(parents=True, exist_ok=True)
    store_path = _store_path(store)
    c = _console()
    run_ids: list[str] = []
    for m in wanted:
        summary = base / f"{m}.json"
        cmd = [sys.executable, "-m", "eventbench.cli", "run", t.name, "--method", m,
               "--out-dir", str(base / m), "--store", str(store_path), "--quiet",
               "--summary-json", str(summary)]
        if config is not None:
            cmd += ["--config", str(config)]
        for s in set_ or ():
            cmd += ["--set", s]
        if epochs is not None:
            cmd += ["--epochs", str(epochs)]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        if data_dir is not None:
            cmd += ["--data-dir", str(data_dir)]
        if protocol is not None:
            cmd += ["--protocol", protocol]
        if verbose:
            cmd.append("--verbose")
        cmd += ["--device", device] + (["--overwrite"] if overwrite else [])
        c.print(f"[bold]compare {t.name}[/bold]: running {m} ...")
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False, env=os.environ.copy())
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise RuntimeError(f"compare: method {m} failed: {last}")
        run_ids.append(json.loads(summary.read_text())["run_id"])
    st = ResultStore(store_path)
    results = [st.get(r) for r in run_ids]
    text = _compare_table(t, results)
    (base / "compare.md").write_text(text, encoding="utf-8")
    _plot_compare(t, results, base)
    c.print(text, markup=False)
    c.print(f"written: {base / 'compare.md'}")


def _compare_table(task: Any, results: list[Any]) -> str:
    key = task.metrics[0]
    header = ["model", key, "synaptic ops/sample (AC + MAC)", "activation sparsity", "parameters",
              "footprint (B)", "train s/epoch", "epochs", "peak memory (MiB)"]
    lines = [f"# {task.name}: EventProp vs BPTT vs conventional baseline", "",
             "Same data, same seed; each method trained in a fresh process. Test split.", "",
             *([f"Protocol: {results[0].provenance.protocol}.", ""]
               if results and results[0].provenance.protocol else []),
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        macs = r.metric("synaptic_operations.effective_macs") or 0.0
        acs = r.metric("synaptic_operations.effective_acs") or 0.0
        cells = [
            r.model,
            _fmt(r.metric(key)),
            f"{acs + macs:,.0f} ({acs:,.0f} + {macs:,.0f})",
            _fmt(r.metric("activation_sparsity")),
            _fmt(r.metric("parameter_count")),
            _fmt(r.metric("footprint")),
            _fmt(r.metric("training.time_per_epoch_s")),
            _fmt(r.metric("training.epochs")),
            _fmt(r.metric("training.peak_memory_mb")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plot_compare(task: Any, results: list[Any], out: Path) -> None:
    try:
        from eventbench.bench import plot_tradeoff

        plot_tradeoff(results, out / "tradeoff.png", y=task.metrics[0],
                      title=f"{task.name}: {task.metrics[0]} vs synaptic operations")
    except (ImportError, ValueError) as exc:
        log.info("no comparison plot: %s", exc)


@app.command("report")
def report_cmd(
    store: StoreOpt = None,
    task: Annotated[str | None, typer.Option("--task", "-t", help="Only this task.", show_default=False)] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Where tables and plots go.")] = Path("eventbench-results/report"),
    sweep: Annotated[str | None, typer.Option("--sweep", help="Summarise this sweep instead: mean ± std over seeds per setting, plots per swept setting and the Pareto front.", show_default=False)] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Tables (Markdown, CSV) and plots (metric vs synaptic operations, training curves) from the results store."""
    from eventbench.bench import ResultStore, to_csv, to_markdown
    from eventbench.tasks import get_task

    _setup(verbose)
    path = _store_path(store)
    if not path.is_file():
        raise FileNotFoundError(f"results store {str(path)!r} does not exist; run 'eventbench run TASK' first")
    st = ResultStore(path)
    if sweep is not None:
        _report_sweep(st, sweep, out_dir)
        return
    results = st.list(task=task)
    if not results:
        raise ValueError(f"no results{' for task ' + repr(task) if task else ''} in {path}")
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = ["# EventBench report", "", f"Store: `{path}`, {len(results)} result(s).", ""]
    by_task: dict[str, list[Any]] = {}
    for r in results:
        by_task.setdefault(r.task, []).append(r)
    for name, rs in by_task.items():
        sections += [f"## {name}", "", to_markdown(rs)]
        to_csv(rs, out_dir / f"{name}.csv")
        try:
            spec = get_task(name)
            y = spec.metrics[0]
        except KeyError:
            y = "accuracy"
        try:
            from eventbench.bench import plot_tradeoff

            plot_tradeoff(rs, out_dir / f"{name}-tradeoff.png", y=y,
                          title=f"{name}: {y} vs synaptic operations per sample")
            sections.append(f"![{name} trade-off]({name}-tradeoff.png)\n")
        except (ImportError, ValueError) as exc:
            log.info("no plot for %s: %s", name, exc)
        curves = _curves_for(rs, out_dir, name)
        if curves:
            sections.append(f"![{name} training curves]({curves})\n")
    report = out_dir / "report.md"
    report.write_text("\n".join(sections) + "\n", encoding="utf-8")
    c = _console()
    c.print("\n".join(sections), markup=False)
    c.print(f"written: {report}")


def _curves_for(results: list[Any], out_dir: Path, name: str) -> str | None:
    """Score curves (validation, or training without a validation split, as labelled) of every
    result that has a run folder with history.json."""
    from eventbench.tasks import get_task

    series = []
    for r in results:
        run_dir = r.tags.get("run_dir")
        if not run_dir or not (Path(run_dir) / "history.json").is_file():
            continue
        h = json.loads((Path(run_dir) / "history.json").read_text())
        val = any(e["val_score"] is not None for e in h["epochs"])
        ys = [e["val_score" if val else "train_score"] for e in h["epochs"]]
        series.append((f"{r.model} ({r.run_id[:8]}, {'validation' if val else 'training'})", ys))
    if not series:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, ys in series:
        ax.plot(range(1, len(ys) + 1), ys, label=label)
    try:
        score = get_task(name).objective
        ylabel = "accuracy" if score == "classification" else "R^2"
    except KeyError:
        ylabel = "score"
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{ylabel} (validation split, else training data)")
    if ylabel == "accuracy" and ax.get_ylim()[1] > 1.0:
        ax.set_ylim(top=1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    fname = f"{name}-curves.png"
    fig.savefig(out_dir / fname, bbox_inches="tight")
    plt.close(fig)
    return fname


@app.command("gradcheck")
def gradcheck_cmd(
    hidden: Annotated[list[int] | None, typer.Option("--hidden", help="Hidden layer size (repeat for more layers).", show_default="6")] = None,
    recurrent: Annotated[bool, typer.Option("--recurrent/--no-recurrent", help="Recurrent hidden layers.")] = False,
    loss: Annotated[str, typer.Option("--loss", help="avg, exp, linear, sigmoid, max or first-spike.")] = "exp",
    dt_ms: Annotated[float, typer.Option("--dt-ms", help="Step of the time-stepped EventProp (ms).")] = 0.01,
    seed: Annotated[int, typer.Option("--seed", help="Seed of network, input and labels.")] = 0,
    n_inputs: Annotated[int, typer.Option("--n-inputs", help="Input channels.")] = 3,
    n_outputs: Annotated[int, typer.Option("--n-outputs", help="Output neurons.")] = 2,
    duration_ms: Annotated[float, typer.Option("--duration-ms", help="Trial length (ms).")] = 20.0,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Largest accepted relative error per tensor.")] = 0.05,
    verbose: VerboseOpt = False,
) -> None:
    """Check EventProp gradients against finite differences on a tiny random network; exit 1 when a tensor exceeds the tolerance.

    The reference is central differences on the exact event-driven float64 simulation."""
    import torch
    from rich.table import Table

    from eventbench.eventprop.gradcheck import GradcheckConfig, run_gradcheck

    _setup(verbose)
    torch.set_num_threads(1)
    cfg = GradcheckConfig(
        hidden=tuple(hidden) if hidden else (6,),
        recurrent=recurrent,
        loss=loss,
        dt_ms=dt_ms,
        seed=seed,
        n_inputs=n_inputs,
        n_outputs=n_outputs,
        duration_ms=duration_ms,
        tolerance=tolerance,
    )
    report = run_gradcheck(cfg)
    rows = report.to_table()
    table = Table(title=f"EventProp vs finite differences (dt = {dt_ms} ms, loss {loss})")
    for col in rows[0]:
        table.add_column(col)
    for row in rows[1:]:
        table.add_row(*row)
    c = _console()
    c.print(table)
    c.print(
        f"hidden spikes {list(report.hidden_spikes)}, guard hits {report.guard_hits}, "
        f"unresolved FD entries {report.n_unresolved}, spikes moved past another event by the "
        f"grid {report.spike_mismatches}"
    )
    if report.spike_mismatches:
        c.print("[yellow]some spikes swapped order with another event at this dt: the step is "
                "too coarse for this network; try a smaller --dt-ms[/yellow]")
    verdict = "[green]PASSED[/green]" if report.passed else "[red]FAILED[/red]"
    c.print(f"{verdict}: tolerance {report.tolerance:g} (relative error per tensor)")
    if not report.passed:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------- sweep (issue 15)


@app.command("sweep")
def sweep_cmd(
    task: TaskArg,
    grid: Annotated[Path, typer.Option("--grid", "-g", help="Sweep file (TOML): [grid] candidate values per --set key, [fixed] settings, seeds, search = grid|random.", show_default=False)],
    seeds: Annotated[int | None, typer.Option("--seeds", min=1, help="Seeds per setting (train.seed = 0..N-1). Default: the file's, else 1.", show_default=False)] = None,
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster to use: 'auto' (the one running here) or ray://HOST:PORT. Default: start a local Ray instance.", show_default=False)] = None,
    cpus_per_trial: Annotated[int, typer.Option("--cpus-per-trial", min=1, help="CPUs (torch threads) each trial declares to Ray.")] = 1,
    gpus_per_trial: Annotated[float, typer.Option("--gpus-per-trial", min=0.0, help="GPUs each trial declares to Ray (fractions share a GPU).")] = 0.0,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    store: StoreOpt = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Trial folders (checkpoints, history) go to OUT_DIR/<sweep>/<trial>/.")] = Path("eventbench-results/sweeps"),
    data_dir: DataDirOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Grid or random search over recipe settings, several seeds each, on Ray; resumable.

    Rerunning the same command skips the trials already stored and reruns missing or failed
    ones. Summarise with 'eventbench report --sweep NAME'."""
    from eventbench.bench import ResultStore
    from eventbench.sweep import expand, load_sweep
    from eventbench.sweep.runner import pending, run_sweep
    from eventbench.sweep.summary import summarise, summary_markdown
    from eventbench.tasks import get_task

    _setup(verbose)
    t = get_task(task)
    spec = load_sweep(grid)
    trials = expand(spec, seeds)
    store_path = _store_path(store)
    todo = len(pending(ResultStore(store_path), spec.name, trials))
    where = address or "a local Ray instance"
    c = _console()
    c.print(f"[bold]sweep {spec.name}[/bold] ({t.name}): {len(trials)} trials, "
            f"{len(trials) - todo} already done; running {todo} on {where}, "
            f"{cpus_per_trial} CPU{f' + {gpus_per_trial:g} GPU' if gpus_per_trial else ''} per trial")

    def show(o: Any, k: int, n: int) -> None:
        what = (f"{t.metrics[0]} {_fmt(o.metrics.get(t.metrics[0]))}" if o.status == "done"
                else f"[red]failed[/red]: {o.error}")
        c.print(f"  [{k}/{n}] trial {o.trial_id}: {what} ({o.wall_s:.0f} s)")

    try:
        res = run_sweep(t.name, spec, trials, store=store_path, out_root=out_dir, address=address,
                        cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,
                        data_dir=data_dir, config=config, sets=set_ or (), on_outcome=show)
    except KeyboardInterrupt:
        print(f"eventbench: interrupted; rerun the same command to run the {spec.name!r} trials "
              "not yet stored", file=sys.stderr)
        raise typer.Exit(130) from None
    rows = summarise(ResultStore(store_path), spec.name, t.metrics[0])
    c.print(summary_markdown(rows, t.metrics[0]), markup=False)
    c.print(f"stored in {store_path}; plots: eventbench report --sweep {spec.name}")
    if res.failed:
        print(f"eventbench: error: {len(res.failed)} of {len(res.outcomes)} trial(s) failed "
              "(errors above and in the store); rerun the same command to retry them",
              file=sys.stderr)
        raise typer.Exit(1)


def _report_sweep(st: Any, name: str, out_dir: Path) -> None:
    """``report --sweep``: Markdown + plots of one sweep into OUT_DIR."""
    from eventbench.sweep.summary import plot_sweep, summarise, summary_markdown
    from eventbench.tasks import get_task

    trials = st.trials(name)
    first = next((tr for tr in trials if tr.status == "done" and tr.run_id), None)
    score = "accuracy"
    if first is not None:
        try:
            score = get_task(st.get(first.run_id).task).metrics[0]
        except KeyError:
            pass
    rows = summarise(st, name, score)
    table = summary_markdown(rows, score)
    lines = [f"# Sweep {name}", "", f"Store: `{st.path}`; mean ± std (sample) over seeds.", "",
             table]
    try:
        for p in plot_sweep(rows, out_dir, name, score):
            lines.append(f"![{p.stem}]({p.name})\n")
    except (ImportError, ValueError) as exc:
        lines.append(f"(no plots: {exc})")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    c = _console()
    c.print(table, markup=False)
    c.print(f"written: {path}")


# ------------------------------------------------------------------------------- data commands

data_app = typer.Typer(help="Build data sets that can be generated offline.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("build-spoken-digits")
def build_spoken_digits_cmd(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", envvar="EVENTBENCH_DATA", help="Data folder; the files go to DATA_DIR/spoken-digits/. Default: $EVENTBENCH_DATA, then ~/.eventbench/data.", show_default=False)] = None,
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="Utterances of each word per speaker (20 words, 11 train + 3 test speakers).")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the voices' jitter, noise and cochlea spikes.")] = 0,
    quiet: QuietOpt = False,
) -> None:
    """Synthesise the spoken-digits set (espeak-ng + fast cochlea model) into
    DATA_DIR/spoken-digits/shd_{train,test}.h5 (the SHD layout; task 'spoken-digits')."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from eventbench.data import resolve_data_dir
    from eventbench.data.spoken_digits import (
        DIRNAME,
        EspeakNotFoundError,
        build_spoken_digits,
    )

    _setup(False)
    out_dir = resolve_data_dir(data_dir) / DIRNAME
    workers = 2 if (os.cpu_count() or 1) >= 2 else 1
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=_console(), disable=quiet, transient=True) as bar:
        job = bar.add_task("spoken digits", total=None)
        try:
            res = build_spoken_digits(
                out_dir, samples, seed, workers=workers,
                progress=lambda done, total: bar.update(job, completed=done, total=total),
            )
        except EspeakNotFoundError as exc:
            print(f"eventbench: error: {exc}", file=sys.stderr)
            raise typer.Exit(1) from exc
    c = _console()
    for split, path in res.paths.items():
        mean, median = res.spikes_per_sample[split]
        c.print(f"{split}: {path} ({res.n_samples[split]} samples, speakers "
                f"{list(res.speakers[split])}, spikes per sample mean {mean:.0f}, median {median:.0f})")
    c.print(f"built in {res.seconds:.0f} s; train with: eventbench run spoken-digits"
            + (f" --data-dir {data_dir}" if data_dir is not None else ""))


# ----------------------------------------------------------------------------------- entry point


def _user_error_types() -> tuple[type[BaseException], ...]:
    from eventbench.data import DataFormatError, DataMissingError
    from eventbench.tasks import ConfigError, UnknownTaskError
    from eventbench.train.checkpoint import CheckpointError

    return (ConfigError, UnknownTaskError, DataMissingError, DataFormatError, CheckpointError,
            FileNotFoundError, ValueError)


def _one_line(exc: BaseException) -> str:
    from eventbench.data import DataMissingError

    if isinstance(exc, DataMissingError):
        where = ", ".join(exc.searched) or "(nowhere)"
        msg = (f"data file {exc.filename!r} not found (searched {where}); get it from {exc.url} "
               "and pass --data-dir or set EVENTBENCH_DATA")
        return msg + (f" ({exc.hint})" if exc.hint else "")
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``eventbench``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = _expand_bare_resume([a for a in args if a != "--debug"])
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="eventbench", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("eventbench: aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("eventbench: interrupted (the last finished epoch is in last.pt; use --resume)",
              file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, ...
        if debug:
            raise
        fmt = getattr(exc, "format_message", None)
        msg = fmt() if callable(fmt) else str(exc)
        cmd = next((a for a in args if not a.startswith("-")), "")
        hint = f"eventbench {cmd} --help" if cmd else "eventbench --help"
        print(f"eventbench: error: {' '.join(str(msg).split())} (see '{hint}')", file=sys.stderr)
        sys.exit(int(getattr(exc, "exit_code", 2)) or 2)
    except Exception as exc:
        if debug:
            raise
        if isinstance(exc, _user_error_types()):
            print(f"eventbench: error: {_one_line(exc)}", file=sys.stderr)
        else:
            print(f"eventbench: error: {type(exc).__name__}: {_one_line(exc)} "
                  "(run with --debug for the traceback)", file=sys.stderr)
        sys.exit(1)
    if isinstance(rv, int) and rv != 0:
        sys.exit(rv)


if __name__ == "__main__":
    main()
