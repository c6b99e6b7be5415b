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
from typing import Annotated, Any

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
        help="Folder with your own data files (MNIST, SHD, SSC, NHP, Mackey-Glass). "
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
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


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
    return Path("eventbench-results") / "runs" / f"{task}-{model}-{stamp}"


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
    data = task.load(recipe, data_dir)
    return task, recipe, data


def _console() -> Any:
    from rich.console import Console

    width = None if sys.stdout.isatty() else 120  # files and pipes get full tables
    return Console(highlight=False, soft_wrap=True, width=width)


def _fmt(v: float | None, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if abs(v) >= 1e4:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def _train_run(
    task: Any, recipe: Any, data: Any, run_dir: Path, resume: bool, quiet: bool
) -> tuple[Any, Any]:
    from eventbench.tasks.pipeline import score_name, train
    from eventbench.train.callbacks import Callback, LogCallback, RichProgress

    if resume and not (run_dir / "last.pt").is_file():
        raise FileNotFoundError(f"--resume: no checkpoint {str(run_dir / 'last.pt')!r} to resume from")
    name = "acc" if score_name(task) == "accuracy" else "R2"
    if quiet or not sys.stderr.isatty():
        cbs: list[Callback] = [LogCallback()]
        return train(task, recipe, data, run_dir, resume=resume, callbacks=cbs)
    with RichProgress(score_name=name) as bar:
        return train(task, recipe, data, run_dir, resume=resume, callbacks=[bar])


# ------------------------------------------------------------------------------------ commands


@app.command("tasks")
def tasks_cmd(data_dir: DataDirOpt = None) -> None:
    """List the tasks, whether their data is available here, and their default recipe."""
    from rich.table import Table

    from eventbench.tasks import TASKS

    table = Table(title="EventBench tasks", show_lines=False)
    for col in ("task", "description", "data", "default recipe"):
        table.add_column(col)
    for t in TASKS.values():
        av = t.availability(data_dir)
        r = t.recipe
        recipe = (
            f"{'-'.join(map(str, r.network.hidden))} hidden{' rec.' if r.network.recurrent else ''}, "
            f"{r.train.loss}/{r.network.readout}, {r.train.epochs} ep"
        )
        mark = "[green]yes[/green]" if av.available else "[red]no[/red]"
        table.add_row(t.name, t.summary, f"{mark}: {av.note}", recipe)
    _console().print(table)


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
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT_DIR/last.pt after an interruption.")] = False,
    data_dir: DataDirOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a model on a task; checkpoints go to the run folder (best.pt, last.pt)."""
    from eventbench.tasks.pipeline import model_name, score_name
    from eventbench.train.loop import evaluate

    _setup(verbose)
    t, recipe, data = _prepare(task, config, set_, data_dir, method=method, loss=loss,
                               epochs=epochs, seed=seed)
    run_dir = out_dir if out_dir is not None else _default_run_dir(t.name, model_name(recipe))
    built, history = _train_run(t, recipe, data, run_dir, resume, quiet)
    ev = evaluate(built.learner, data.test, recipe.train.eval_batch_size)
    c = _console()
    best = "n/a" if history.best_score is None else f"{history.best_score:.4f}"
    c.print(
        f"{t.name} / {model_name(recipe)}: best validation {score_name(t)} {best} "
        f"(epoch {'n/a' if history.best_epoch is None else history.best_epoch + 1}), "
        f"test {score_name(t)} {ev.score:.4f}"
    )
    c.print(f"checkpoints: {run_dir / 'best.pt'} (best), {run_dir / 'last.pt'} (resume)")


@app.command("bench")
def bench_cmd(
    task: TaskArg,
    checkpoint: Annotated[Path, typer.Option("--checkpoint", "-k", help="A best.pt or last.pt written by 'train' or 'run'.", show_default=False)],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    mode: Annotated[str, typer.Option("--mode", help="exact (corrected definitions) or neurobench (NeuroBench 2.3.0 numbers).")] = "exact",
    store: StoreOpt = None,
    data_dir: DataDirOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Benchmark a trained checkpoint on the task's test split and store the result."""
    from eventbench.bench import to_markdown
    from eventbench.tasks import get_task
    from eventbench.tasks.pipeline import benchmark, load_trained, stored_recipe

    _setup(verbose)
    t = get_task(task)
    ck_task, values = stored_recipe(checkpoint)
    stored = values if ck_task == t.name else None
    t, recipe, data = _prepare(task, config, set_, data_dir, stored=stored)
    built = load_trained(recipe, data, checkpoint)
    result = benchmark(t, recipe, data, built, store=_store_path(store), mode=mode,
                       tags={"checkpoint": str(checkpoint)})
    _console().print(to_markdown([result]), markup=False)
    _console().print(f"stored as run {result.run_id} in {_store_path(store)}")


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
    resume: Annotated[bool, typer.Option("--resume", help="Continue training from OUT_DIR/last.pt.")] = False,
    store: StoreOpt = None,
    data_dir: DataDirOpt = None,
    summary_json: Annotated[Path | None, typer.Option("--summary-json", hidden=True)] = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train, benchmark and report: the main job (e.g. 'eventbench run yinyang')."""
    import time

    from eventbench.tasks.pipeline import benchmark, model_name, score_name, write_run_report

    _setup(verbose)
    t0 = time.perf_counter()
    t, recipe, data = _prepare(task, config, set_, data_dir, method=method, loss=loss,
                               epochs=epochs, seed=seed)
    run_dir = out_dir if out_dir is not None else _default_run_dir(t.name, model_name(recipe))
    c = _console()
    c.print(f"[bold]{t.name}[/bold]: training {model_name(recipe)} "
            f"({recipe.train.epochs if recipe.train.method != 'ann' else recipe.baseline.epochs} "
            f"epochs) -> {run_dir}")
    built, history = _train_run(t, recipe, data, run_dir, resume, quiet)
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

    table = Table(title=f"{task.name} / {result.model}: test set")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in task.metrics:
        table.add_row(key, _fmt(result.metric(key)))
    rows = [
        ("synaptic ops / sample (effective)", _ops(result)),
        ("activation sparsity", _fmt(result.metric("activation_sparsity"))),
        ("parameters", _fmt(result.metric("parameter_count"), 0)),
        ("footprint (bytes)", _fmt(result.metric("footprint"), 0)),
        ("training s / epoch", _fmt(result.metric("training.time_per_epoch_s"), 2)),
        ("peak memory (MiB)", _fmt(result.metric("training.peak_memory_mb"), 0)),
        ("wall time (s)", f"{wall:.0f}"),
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
    store: StoreOpt = None,
    data_dir: DataDirOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """EventProp vs surrogate BPTT vs the conventional baseline: one table (accuracy, NeuroBench metrics, training time per epoch, peak memory).

    Same data and seed for every method; each trains in its own process, so peak memory is measured per method."""
    from eventbench.bench import ResultStore
    from eventbench.tasks import get_task

    _setup(verbose)
    t = get_task(task)
    wanted = [m.strip() for m in methods.split(",") if m.strip()]
    bad = [m for m in wanted if m not in ("eventprop", "bptt", "ann")]
    if bad or not wanted:
        raise ValueError(f"--methods: unknown method(s) {', '.join(bad) or '(none)'}; use eventprop, bptt, ann")
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
        if verbose:
            cmd.append("--verbose")
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
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        macs = r.metric("synaptic_operations.effective_macs") or 0.0
        acs = r.metric("synaptic_operations.effective_acs") or 0.0
        cells = [
            r.model,
            _fmt(r.metric(key)),
            f"{acs + macs:,.0f} ({acs:,.0f} + {macs:,.0f})",
            _fmt(r.metric("activation_sparsity")),
            _fmt(r.metric("parameter_count"), 0),
            _fmt(r.metric("footprint"), 0),
            _fmt(r.metric("training.time_per_epoch_s"), 2),
            _fmt(r.metric("training.epochs"), 0),
            _fmt(r.metric("training.peak_memory_mb"), 0),
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
    """Validation curves of every result that has a run folder with history.json."""
    series = []
    for r in results:
        run_dir = r.tags.get("run_dir")
        if not run_dir or not (Path(run_dir) / "history.json").is_file():
            continue
        h = json.loads((Path(run_dir) / "history.json").read_text())
        ys = [e["val_score"] if e["val_score"] is not None else e["train_score"] for e in h["epochs"]]
        series.append((f"{r.model} ({r.run_id[:6]})", ys))
    if not series:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, ys in series:
        ax.plot(range(1, len(ys) + 1), ys, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation score")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fname = f"{name}-curves.png"
    fig.savefig(out_dir / fname)
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
    args = [a for a in args if a != "--debug"]
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
