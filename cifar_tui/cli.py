"""Command line: the TUI by default, and headless subcommands for scripts, SSH and CI."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .errors import (
    EXIT_ERROR,
    EXIT_INTERNAL,
    EXIT_PIPE,
    EXIT_STOPPED,
    EXIT_USAGE,
    error_message,
    is_bug,
)
from .jsonout import dumps
from .names import printable
from .status import RunStatus


# Subcommands repeat the global options with SUPPRESS defaults, so `cifar-tui --data X data`
# and `cifar-tui data --data X` both work without the subparser overwriting X with None.
def _add_data(p: argparse.ArgumentParser, top: bool = False) -> None:
    from .config import DATA_OPTIONS

    p.add_argument("--data", metavar="PATH", default=None if top else argparse.SUPPRESS,
                   help="cifar-10-python.tar.gz, cifar-100-python.tar.gz, their extracted "
                        "folders, an image-folder tree or archive (train/<class>/ and "
                        "test/<class>/, or <class>/ folders alone), or cifar100 for Keras's "
                        "CIFAR-100 download (default: $CIFAR_TUI_DATA, else Keras's CIFAR-10)")
    add_config_flags(p, DATA_OPTIONS, cli_only=False)


def _add_backend(p: argparse.ArgumentParser, top: bool = False) -> None:
    p.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                   default=None if top else argparse.SUPPRESS,
                   help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")


def _add_runs(p: argparse.ArgumentParser, top: bool = False) -> None:
    p.add_argument("--runs", metavar="DIR", default=None if top else argparse.SUPPRESS,
                   help="run store folder (default: $CIFAR_TUI_RUNS or ./runs)")


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_config_flags(p: argparse.ArgumentParser, names: tuple[str, ...] | None = None,
                     trained_only: bool = False, cli_only: bool = True) -> None:
    """One flag per TrainConfig field, generated from its ``_param`` description: the option
    strings, the help with the range (``Limits``), the type (a bool: ``--x/--no-x``; a list:
    comma-separated) and the choices. A flag left out is absent from the namespace (SUPPRESS),
    so the preset's value, or a global option given before the subcommand (``--subset``),
    stands."""
    from .config import config_fields, field_help, field_kind

    for f in config_fields(names, trained_only, cli_only):
        meta = f.metadata
        kind = field_kind(f)
        opts = meta.get("flags") or ("--" + f.name.replace("_", "-"),)
        kw: dict = {"dest": f.name, "default": argparse.SUPPRESS,
                    "help": field_help(f, "left out").replace("%", "%%")}
        if kind == "bool":
            kw["action"] = argparse.BooleanOptionalAction
        elif meta.get("choices"):
            kw["choices"] = tuple(meta["choices"])
        else:
            kw["type"] = {"int": int, "float": float, "list[str]": _comma_list}.get(kind, str)
        if meta.get("metavar"):
            kw["metavar"] = meta["metavar"]
        p.add_argument(*opts, **kw)


def data_flags(args: argparse.Namespace) -> dict:
    """The data options given (--image-size, --labels, --test-fraction)."""
    from .config import DATA_OPTIONS

    return {k: v for k in DATA_OPTIONS if (v := getattr(args, k, None)) is not None}


def _given_data(args: argparse.Namespace):  # noqa: ANN202 - a data.Dataset, or None
    """The data set the flags name, or None when they name none (a run's own is used)."""
    from .data import load_data

    if not (args.data or data_flags(args)):
        return None
    return load_data(args.data, **data_flags(args))


def config_flags(args: argparse.Namespace, trained_only: bool = False) -> dict:
    """The TrainConfig values given as flags (or as a global option)."""
    from .config import config_fields

    given = vars(args)
    return {f.name: given[f.name] for f in config_fields(trained_only=trained_only)
            if given.get(f.name) is not None}


JSON_HELP = ("print JSON instead of text (schema_version 1, documented in the README's "
             "\"JSON output\"); errors too")
JSON_LINES_HELP = ("print one JSON object per line per event instead of text (JSON Lines; "
                   "schema in the README's \"JSON output\")")
RUN_HELP = "a run id (as `cifar-tui runs` lists them), or its unique prefix"


class _Parser(argparse.ArgumentParser):
    """argparse that, under --json, says a usage error as a JSON error object too."""

    json_errors = False  # main() sets it when the command line asks for --json

    def error(self, message: str) -> None:  # type: ignore[override]
        if _Parser.json_errors:
            from .jsonout import dumps

            print(dumps(self.prog.split()[-1] if " " in self.prog else "cifar-tui",
                        {"error": f"{self.prog}: {message}", "exit_code": EXIT_USAGE}))
            sys.exit(EXIT_USAGE)
        super().error(message)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    try:
        keras = f", Keras {version('keras')}"
    except PackageNotFoundError:
        keras = ""
    return f"cifar-tui {__version__}{keras}, Python {sys.version.split()[0]}"


MAX_INTERVAL_S = 3600.0


def _interval(text: str) -> float:
    """``watch --interval``: seconds, finite, 0.05 to an hour (inf or NaN would never wake)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_INTERVAL_S:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds in (0, "
                                         f"{MAX_INTERVAL_S:g}]")
    return value


def _parser() -> argparse.ArgumentParser:
    from .config import ARCHS as PRESETS
    from .config import MODEL_OPTIONS

    ap = _Parser(prog="cifar-tui", description=__doc__)
    ap.add_argument("--version", action="version", version=_version())
    _add_data(ap, top=True)
    _add_runs(ap, top=True)
    _add_backend(ap, top=True)
    ap.add_argument("--subset", type=int, metavar="N",
                    help="use N train images per class (the test accuracy still uses all "
                         "test images)")
    sub = ap.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("data", help="load the data set and show its classes, shapes, class "
                                    "counts, pixel range")
    _add_data(p)
    p.add_argument("--raw", action="store_true", help="describe unscaled uint8 pixels")
    p.add_argument("--json", action="store_true", help=JSON_HELP)

    p = sub.add_parser("params", help="layer-by-layer parameter table of an architecture")
    p.add_argument("arch", choices=list(PRESETS), metavar="ARCH",
                   help=f"one of {', '.join(PRESETS)}")
    add_config_flags(p, MODEL_OPTIONS)
    p.add_argument("--classes", type=int, default=10, metavar="K",
                   help="number of classes of the data set (default 10, CIFAR-10's)")
    add_config_flags(p, ("image_size",), cli_only=False)
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    _add_backend(p)

    p = sub.add_parser("train", help="train a model headless: a progress bar on a terminal, "
                       "one line per epoch in a pipe")
    p.add_argument("arch", nargs="?", choices=list(PRESETS), metavar="ARCH",
                   help=f"one of {', '.join(PRESETS)} (or --resume RUN)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN from its last finished epoch")
    add_config_flags(p)  # every TrainConfig field: described once, in config.py
    p.add_argument("--gpus", type=int, metavar="N",
                   help="train on N GPUs (sets --devices to the first N)")
    p.add_argument("--no-eval", action="store_true", help="skip the test-set evaluation")
    p.add_argument("--detach", action="store_true",
                   help="train in a background process that outlives this terminal; print the "
                        "run id and its log, and return at once")
    p.add_argument("--json", action="store_true", help=JSON_LINES_HELP)
    _add_data(p)
    _add_runs(p)
    _add_backend(p)

    p = sub.add_parser(
        "sweep", help="search hyperparameters with Optuna: every trial a run, in detached "
        "workers; --join adds workers, --status shows a study",
        description="Examples: cifar-tui sweep cnn --trials 20;  cifar-tui sweep cnn --param "
        "lr=1e-4..1e-1:log --param batch_size=32,64,128 --param dropout=0..0.5;  cifar-tui "
        "sweep --join NAME [--storage URL];  cifar-tui sweep --status NAME [--json]")
    p.add_argument("arch", nargs="?", choices=list(PRESETS), help="a new study of this preset")
    p.add_argument("--param", action="append", default=[], metavar="SPEC",
                   help="a TrainConfig field to search: NAME=LOW..HIGH[:log] or NAME=A,B,C "
                        "(repeatable; none: the preset's own space)")
    p.add_argument("--trials", type=int, metavar="N",
                   help="finished trials wanted across all workers (default 20; a grid: all "
                        "its points)")
    p.add_argument("--sampler", default="auto", choices=("auto", "grid", "tpe", "random"),
                   help="auto: grid when every --param is a list, else tpe")
    p.add_argument("--pruner", default="median", choices=("median", "none"),
                   help="median: stop a trial whose val accuracy is below the median of the "
                        "others at the same epoch")
    p.add_argument("--name", metavar="NAME", help="the study's name (default ARCH-TIME)")
    p.add_argument("--storage", metavar="URL",
                   help="an Optuna RDB URL (postgresql://user:pass@host/db) for workers on "
                        "several machines (default: a journal file under RUNS/studies/NAME)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="detached worker processes to start (default: one per GPU, one on a "
                        "CPU)")
    p.add_argument("--join", metavar="NAME", help="add workers to study NAME")
    p.add_argument("--status", metavar="NAME", help="show study NAME: trials, best, importances")
    p.add_argument("--json", action="store_true", help="with --status: as JSON")
    p.add_argument("--foreground", action="store_true",
                   help="be one worker in this process instead of starting detached ones")
    add_config_flags(p)  # the base config of every trial, as for train
    _add_data(p)
    _add_runs(p)
    _add_backend(p)

    p = sub.add_parser("code", help="print a standalone Keras script of a run or an "
                       "architecture + flags (cifar-tui code RUN > train.py)")
    p.add_argument("target", metavar="RUN|ARCH", help=f"a run id, or one of {', '.join(PRESETS)}")
    add_config_flags(p, trained_only=True)  # what is trained; not where or how it runs
    _add_runs(p)

    p = sub.add_parser("runs", help="list runs: live ones with their progress, past ones")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    p.add_argument("--compare", nargs="*", metavar="RUN",
                   help="hyperparameter table of these runs (none: all runs): the settings "
                        "that differ, then best val, test accuracy, s/epoch, images/s")
    p.add_argument("--sort", metavar="COLUMN", help="with --compare: sort by this column")
    p.add_argument("--desc", action="store_true", help="with --sort: largest first")
    _add_runs(p)

    p = sub.add_parser("watch", help="follow a run that any process trains: one line per epoch, "
                                     "then the result")
    p.add_argument("run", help=RUN_HELP)
    p.add_argument("--json", action="store_true", help=JSON_LINES_HELP)
    p.add_argument("--interval", type=_interval, default=1.0, metavar="S",
                   help="seconds between looks at the run's files (default 1)")
    _add_runs(p)

    p = sub.add_parser("eval", help="evaluate a run's best model on the test set")
    p.add_argument("run", help=RUN_HELP)
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    _add_backend(p)
    _add_data(p)
    _add_runs(p)

    p = sub.add_parser("report", help="write DIR/report.md and report.html with PNG figures")
    p.add_argument("run_refs", nargs="*", metavar="RUN", help="run ids (several: overlaid)")
    p.add_argument("--study", metavar="NAME", help="a study's report: its best trial's run, the "
                   "trials table and the parameter importances")
    p.add_argument("--storage", metavar="URL", help="with --study: where the study lives")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write to")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    _add_data(p)
    _add_runs(p)

    p = sub.add_parser("export", help="write runs' numbers for other tools: TensorBoard event "
                       "files, one CSV of their histories")
    p.add_argument("run_refs", nargs="*", metavar="RUN", help="run ids (none: every run)")
    p.add_argument("--tensorboard", type=Path, metavar="DIR",
                   help="write event files under DIR/<run>/ (tensorboard --logdir DIR); needs "
                        "tensorboardX or TensorFlow")
    p.add_argument("--csv", metavar="FILE",
                   help="write every epoch of every run as one CSV table (- : stdout)")
    _add_runs(p)

    p = sub.add_parser("predict", help="classify image files with a run's model")
    p.add_argument("run", help=RUN_HELP)
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                   help="image files to classify")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    _add_backend(p)
    _add_runs(p)
    return ap


# -- subcommands -----------------------------------------------------------------------------


def cmd_data(args: argparse.Namespace) -> int:
    import time

    from .data import load_data

    t = time.perf_counter()
    ds = load_data(args.data, **data_flags(args))
    info = ds.summary(normalized=not args.raw)
    info["load_seconds"] = round(time.perf_counter() - t, 3)
    if args.json:
        print(dumps("data", info))
        return 0
    print(f"data set   {printable(info['name'])}: {len(info['classes'])} classes, "
          f"{info['image_size']}x{info['image_size']} images")
    print(f"source     {printable(info['source'])}")
    print(f"cache      {printable(info['cache'])}")
    print(f"loaded in  {info['load_seconds']} s")
    for key in ("x_train", "y_train", "x_test", "y_test"):
        print(f"{key:<10} {tuple(info[key])}")
    print(f"pixels     {info['dtype']} in [{info['pixel_range'][0]}, {info['pixel_range'][1]}]")
    if info["skipped"]:
        print(f"skipped    {info['skipped']} unreadable files, e.g. "
              f"{', '.join(info['skipped_files'][:3])}")
    width = max(12, *(len(n) + 2 for n in info["classes"]))
    print(f"{'class':<{width}}{'train':>7}{'test':>7}")
    for name in info["classes"]:
        print(f"{name:<{width}}{info['train_counts'][name]:>7}{info['test_counts'][name]:>7}")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from .config import TrainConfig
    from .models import build_model
    from .params import param_table

    config = TrainConfig.for_arch(args.arch, **config_flags(args), **data_flags(args))
    config.validate()
    # counts do not depend on the weights: no download for them
    if not 2 <= args.classes <= 1000:
        raise ValueError(f"--classes {args.classes}: a data set has 2 to 1,000 classes")
    model = build_model(config.arch, num_classes=args.classes, image_size=config.image_size,
                        **config.model_options(download=False))
    table = param_table(model)
    if args.json:
        print(dumps("params", table.to_dict()))
        return 0
    from rich.console import Console

    from .render import param_table_renderable

    Console().print(param_table_renderable(table))
    return 0


def cmd_code(args: argparse.Namespace) -> int:
    from .codegen import export_script
    from .config import ARCHS, TrainConfig

    flags = config_flags(args, trained_only=True)
    if args.target in ARCHS:
        sys.stdout.write(export_script(TrainConfig.for_arch(args.target, **flags)))
        return 0
    from .codegen import script_source
    from .runs import RunStore

    run = RunStore(args.runs).get(args.target)
    state = run.state
    source = script_source(state.get("data_source") or run.config.get("data"))
    classes = state.get("classes")
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        classes = list(run.class_names)  # its recorded data set (CIFAR-10 for older runs)
    images = state.get("train_images")
    sys.stdout.write(export_script(
        TrainConfig.from_dict({**run.config, **flags}), run.id, backend=state.get("backend"),
        data=source, classes=tuple(classes) if classes else None,
        train_images=images if isinstance(images, int) and not flags else None,
        image_size=run.image_size, dataset=run.dataset["name"]))
    return 0


def _config_from_args(args: argparse.Namespace):  # noqa: ANN202
    from .config import TrainConfig

    overrides = config_flags(args)
    if getattr(args, "gpus", None) is not None:
        from .hardware import machine_gpus

        have = machine_gpus()  # checked before a list of N device names is built
        if not 1 <= args.gpus <= have:
            raise ValueError(f"--gpus {args.gpus}: this machine has "
                             + (f"{have} GPU{'' if have == 1 else 's'}; give 1..{have}"
                                if have else "no GPU; leave --gpus out to train on the CPU"))
        overrides["devices"] = [f"/gpu:{i}" for i in range(args.gpus)]
    return TrainConfig.for_arch(args.arch, **{**overrides, **data_flags(args),
                                              "data": args.data})


def cmd_train(args: argparse.Namespace) -> int:
    from .runs import RunStore

    store = RunStore(args.runs)
    if args.detach:
        return _train_detached(args, store)
    from .cli_progress import printer
    from .events import Failed
    from .live import Hangup

    show = printer("train", args.json)

    def shown(event: object) -> None:
        if isinstance(event, Failed):  # the trainer raises after it: run_command says it once
            show.close()
        else:
            show(event)

    # First thing: a terminal lost, a Ctrl-C or a SIGTERM while Keras loads (seconds) must meet
    # these handlers, not the defaults that kill the process silently.
    stop = threading.Event()
    # A dropped terminal does not stop the training (see Hangup); Ctrl-C and SIGTERM do.
    hangup = Hangup(store.root)
    hangup.install()
    listener = hangup.listener(shown)

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C: leave now (finished epochs are on disk)
            raise KeyboardInterrupt
        print(f"\n{signal.Signals(signum).name}: stopping after this batch; finished epochs "
              "are saved (resume with --resume)", file=sys.stderr, flush=True)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _train_foreground(args, store, stop, hangup, listener, show)
    finally:  # a caller in this process (a test, a script) gets its own handlers back
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        hangup.uninstall()


def _train_foreground(args: argparse.Namespace, store, stop: threading.Event,  # noqa: ANN001
                      hangup, listener: Callable[[object], None],  # noqa: ANN001
                      show) -> int:  # noqa: ANN001 - cli_progress's printer
    from .runs import RunDamagedError

    config = run = None
    if args.resume:  # which run, and whether it can be resumed: said before loading Keras
        run = store.writable(args.resume)
        if (status := run.status).complete:
            print(printable(f"run {run.id} is already {status}"), file=sys.stderr)
            return 0
        if (why := run.resume_problem()) is not None:
            raise RunDamagedError(f"run {run.id} cannot be resumed: {why}")
    else:
        if not args.arch:
            print("train: give an architecture or --resume RUN", file=sys.stderr)
            return EXIT_USAGE
        config = _config_from_args(args)
        config.validate()  # a bad value is said before the seconds of loading the framework
    if not args.json:
        print("loading the data and the framework...", file=sys.stderr, flush=True)
    from .trainer import train  # Keras: seconds, with the handlers above in place

    if run is not None:
        hangup.run_id = run.id
        run = train(run=run, store=store, listener=listener, stop=stop,
                    evaluate=not args.no_eval)
    else:
        run = train(config, store=store, listener=listener, stop=stop,
                    evaluate=not args.no_eval)
    show.close()
    if not args.json:
        print(f"saved in {printable(run.path)}")
    return 130 if run.status is RunStatus.STOPPED else 0


def _train_detached(args: argparse.Namespace, store) -> int:  # noqa: ANN001 - RunStore
    """Check what can be checked here (config, resumability), then hand the training to a
    background process and return at once: no TensorFlow import in this process."""
    from .live import refuse_if_live, start_detached
    from .runs import RunDamagedError

    if args.resume:
        run = store.writable(args.resume)
        if (status := run.status).complete:
            print(printable(f"run {run.id} is already {status}"), file=sys.stderr)
            return 0
        if (why := run.resume_problem()) is not None:  # say it here, not in a background log
            raise RunDamagedError(f"run {run.id} cannot be resumed: {why}")
        refuse_if_live(run)
    elif not args.arch:
        print("train: give an architecture or --resume RUN", file=sys.stderr)
        return EXIT_USAGE
    else:
        config = _config_from_args(args)
        config.validate()
        run = store.create(config.resolved().to_dict())
    pid, log = start_detached(run, evaluate=not args.no_eval)
    name = printable(run.id)
    print(f"run {name} is training in the background (pid {pid})")
    print(f"log: {printable(log)}")
    print(f"follow it: cifar-tui watch {name}   list: cifar-tui runs   or open it in the TUI")
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    import time

    from .cli_progress import printer
    from .events import Failed, Finished
    from .live import Follower, describe
    from .runs import RunStore

    run = RunStore(args.runs).get(args.run)
    if not args.json:
        snap = run.snapshot()
        print(printable(f"run {run.id}: {snap.config.get('arch')}, {describe(snap)}"),
              flush=True)
    follower = Follower(run)
    show = printer("watch", args.json)
    code = 0
    while True:
        for event in follower.poll():
            show(event)
            if isinstance(event, Failed) or (isinstance(event, Finished)
                                             and RunStatus(event.status).cut_short):
                code = 1
        if follower.done:
            show.close()
            return code
        time.sleep(max(0.05, args.interval))


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import hparam_table
    from .jsonout import compare_row
    from .runs import RunStore

    store = RunStore(args.runs)
    runs = [store.get(ref) for ref in args.compare] if args.compare else store.list()
    if not runs:
        raise ValueError("no runs to compare yet: cifar-tui train ARCH")
    from .jsonout import COMPARE_NAMES

    json_names = {v: k for k, v in COMPARE_NAMES.items()}  # --sort takes either spelling
    table = hparam_table(runs, json_names.get(args.sort, args.sort), args.desc)
    if args.json:
        print(dumps("compare", {"runs": [compare_row(r) for r in table.to_dicts()],
                                "shared": table.shared}))
        return 0
    cells = [[printable(c) for c in row] for row in table.text_rows()]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(table.columns)]
    print("  ".join(c.ljust(w) for c, w in zip(table.columns, widths)).rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    print(printable("same in all: " + ", ".join(f"{k}={v}" for k, v in table.shared.items()
                                                if v is not None)))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from .live import live_summary
    from .runs import RunStore, accuracy_text, best_val_text

    if args.compare is not None:
        return cmd_compare(args)
    if args.sort:
        raise ValueError("--sort orders the --compare table: cifar-tui runs --compare RUN... "
                         "--sort COLUMN")
    from .jsonout import run_row

    snaps = RunStore(args.runs).snapshots()
    rows = [live_summary(snap) for snap in snaps]
    if args.json:
        print(dumps("runs", {"runs": [run_row({**row, "train_seconds": snap.train_seconds})
                                      for row, snap in zip(rows, snaps)]}))
        return 0
    if not rows:
        print("no runs yet: cifar-tui train ARCH")
        return 0
    # accuracy/images: on how many images each accuracy is
    print(f"{'id':<34}{'arch':<14}{'status':<15}{'epochs':>7}{'batch':>6}  {'val acc':>11}"
          f"{'test acc':>12}{'compile':>9}")
    for r in rows:
        r = {k: printable(v) if isinstance(v, str) else v for k, v in r.items()}
        va = best_val_text(r, ".4f")
        te = (accuracy_text(r["test_accuracy"], r.get("test_images"), ".4f")
              if r["test_accuracy"] is not None else "-")
        comp = f"{r['compile_seconds']:.1f} s" if r["compile_seconds"] is not None else "-"
        print(f"{r['id']:<34}{(r['arch'] or '?')[:13]:<14}{r['status']:<15}{r['epochs']:>7}"
              f"{r['batch_size'] or '-':>6}"
              f"  {va:>11}{te:>12}{comp:>9}")
        if r["live"]:
            print(f"  {r['description']} (pid {r['pid']})")
        if r.get("damage"):
            print(f"  damaged: {r['damage']}")
        elif r.get("error"):
            print(f"  {r['error']}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .runs import RunStore
    from .trainer import evaluate_run

    run = RunStore(args.runs).get(args.run)
    ev = evaluate_run(run, _given_data(args))
    if args.json:
        _, weights = run.evaluation_weights()
        print(dumps("eval", {"run": run.id, "weights_epoch": weights["weights_epoch"],
                             "weights": weights["weights"], "test_accuracy": ev.accuracy,
                             "test_loss": ev.loss, "ece": ev.ece, "test_images": ev.n,
                             "per_class": ev.per_class, "confusion": ev.confusion,
                             "confused_pairs": ev.confused_pairs}))
        return 0
    print(f"run {printable(run.id)}: test accuracy {ev.accuracy:.4f}  loss {ev.loss:.4f}  "
          f"ECE {ev.ece:.4f}  ({ev.n} images)")
    width = max(12, *(len(c["class"]) + 2 for c in ev.per_class))
    print(f"{'class':<{width}}{'precision':>10}{'recall':>8}{'f1':>7}")
    for c in ev.per_class:
        print(f"{c['class']:<{width}}{c['precision']:>10.3f}{c['recall']:>8.3f}"
              f"{c['f1']:>7.3f}")
    print("most confused (true -> predicted):")
    for p in ev.confused_pairs:
        print(f"  {p['true']} -> {p['predicted']}: {p['count']} ({p['rate']:.1%})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report
    from .runs import RunStore

    store = RunStore(args.runs)
    data = _given_data(args)
    if args.study:
        from .study_report import write_study_report

        if args.run_refs:
            raise ValueError("report: give runs or --study NAME, not both")
        report = write_study_report(store.root, args.study, args.out, args.storage, data)
        print(f"wrote {report.markdown}, {report.html} and {len(report.figures)} figures")
        return 0
    if not args.run_refs:
        raise ValueError("report: give run ids, or --study NAME")
    runs = [store.get(ref) for ref in args.run_refs]
    report = write_report(runs, args.out, data)
    if args.json:
        print(dumps("report", {"runs": [r.id for r in runs], "markdown": str(report.markdown),
                               "html": str(report.html),
                               "figures": [str(f) for f in report.figures]}))
        return 0
    print(printable(f"wrote {report.markdown}, {report.html} and {len(report.figures)} "
                    "figures"))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from .evaluation import load_image, predict_probs
    from .runs import RunStore
    from .trainer import load_run_model

    run = RunStore(args.runs).get(args.run)
    classes = run.class_names
    images = np.stack([load_image(p, run.image_size) for p in args.images])  # before the model
    model = load_run_model(run)
    probs = predict_probs(model, images, normalize=run.config.get("normalize", True),
                          tta=run.config.get("tta", False))
    out = []
    for path, p in zip(args.images, probs):
        order = np.argsort(p)[::-1]
        out.append({"image": str(path), "class": classes[order[0]],
                    "probabilities": {classes[i]: float(p[i]) for i in range(len(classes))}})
        if not args.json:
            top = ", ".join(f"{classes[i]} {p[i]:.1%}" for i in order[:3])
            print(f"{printable(path)}: {classes[order[0]]}  ({top})")
    if args.json:
        print(dumps("predict", {"run": run.id, "predictions": out}))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import history_table, to_tensorboard
    from .runs import RunStore, atomic_write_text

    if not (args.tensorboard or args.csv):
        raise ValueError("say what to write: --tensorboard DIR and/or --csv FILE")
    store = RunStore(args.runs)
    runs = [store.get(ref) for ref in args.run_refs] if args.run_refs else store.list()
    if not runs:
        raise ValueError("no runs to export yet: cifar-tui train ARCH")
    if args.csv == "-":
        sys.stdout.write(history_table(runs))
    elif args.csv:
        atomic_write_text(Path(args.csv), history_table(runs))
        print(f"wrote {args.csv}: the histories of {len(runs)} runs", file=sys.stderr)
    if args.tensorboard:
        folders = to_tensorboard(runs, args.tensorboard)
        print(f"wrote {len(folders)} runs' event files under {args.tensorboard}: "
              f"tensorboard --logdir {args.tensorboard}", file=sys.stderr)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from . import sweep
    from .runs import default_root

    root = Path(args.runs) if args.runs else default_root()
    given = [flag for flag, on in (("ARCH", args.arch), ("--join", args.join),
                                   ("--status", args.status)) if on]
    if len(given) != 1:
        print("sweep: give one of ARCH (a new study), --join NAME or --status NAME",
              file=sys.stderr)
        return EXIT_USAGE
    if args.status:
        s = sweep.status(root, args.status, args.storage)
        print(dumps("sweep", s) if args.json else sweep.status_text(s))
        return 0
    name = args.join
    if args.arch:
        base = _config_from_args(args)
        if base.data and Path(base.data).exists():  # workers may start elsewhere
            base.data = str(Path(base.data).resolve())
        base.validate()  # before the seconds of importing Optuna
        name, setup = sweep.create(root, base, args.param, name=args.name,
                                   sampler=args.sampler, pruner=args.pruner,
                                   trials=args.trials, storage=args.storage)
        print(f"study {name}: {setup.trials} trials of {base.arch}, {setup.sampler} sampler, "
              f"{'median pruning' if setup.pruner == 'median' else 'no pruning'}")
        print(f"space: {'  '.join(setup.space)}")
        print(f"storage: {sweep.hide_password(sweep.storage_of(root, name))}")
    else:
        sweep.load(root, name, args.storage)  # a study that is not there: said here
        if args.storage:
            sweep.record(root, name, args.storage)  # so --status NAME finds it from now on
    if args.foreground:
        return _sweep_foreground(root, name, args.storage)
    started = sweep.start_workers(root, name, args.storage, args.workers)
    for pid, log in started:
        print(f"worker pid {pid}, log {log}")
    print(f"follow it: cifar-tui sweep --status {name}   or the Study view (7) of the TUI; "
          f"more workers: cifar-tui sweep --join {name}"
          + (" --storage URL" if args.storage else ""))
    return 0


def _sweep_foreground(root: Path, name: str, storage: str | None) -> int:
    """One worker in this process: Ctrl-C and SIGTERM stop it after the batch, and its trial
    goes back to the study for the next worker to resume."""
    from . import sweep

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print(f"\n{signal.Signals(signum).name}: stopping after this batch", file=sys.stderr,
              flush=True)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a worker outlives its terminal
    ran = sweep.work(root, name, storage, stop=stop,
                     say=lambda text: print(text, flush=True))
    print(f"worker done: {ran} trials here; cifar-tui sweep --status {name}")
    return 0


COMMANDS = {"data": cmd_data, "params": cmd_params, "train": cmd_train, "runs": cmd_runs,
            "watch": cmd_watch, "eval": cmd_eval, "predict": cmd_predict,
            "report": cmd_report, "code": cmd_code, "export": cmd_export, "sweep": cmd_sweep}


def main(argv: list[str] | None = None) -> int:
    _Parser.json_errors = "--json" in (sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        from .backend import BackendError, select

        select(getattr(args, "backend", None))
    except BackendError as exc:
        print(f"cifar-tui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command is None:
        from .app import run_app

        return run_command("tui", lambda: run_app(data=args.data, runs=args.runs,
                                                  subset=args.subset,
                                                  data_options=data_flags(args)))
    return run_command(args.command, lambda: COMMANDS[args.command](args),
                       json_errors=getattr(args, "json", False))


def run_command(name: str, command: Callable[[], int | None], json_errors: bool = False) -> int:
    """The one top-level handler: known errors print their message, a stop prints "stopped",
    anything else prints one line and logs its traceback (errors.log); the exit code says
    which."""
    from .data import LoadCancelled

    try:
        code = command() or 0
        sys.stdout.flush()  # a closed pipe shows here, inside the handler
        return code
    except BrokenPipeError:  # `cifar-tui runs | head`: the reader left; say nothing more
        _mute_stdout()
        return EXIT_PIPE
    except (KeyboardInterrupt, LoadCancelled):  # a second Ctrl-C, or a stop while loading
        return _say_error(name, "stopped (finished epochs are on disk)", EXIT_STOPPED,
                          json_errors)
    except Exception as exc:  # noqa: BLE001 - one line; a bug's traceback goes to the log
        return _say_error(name, error_message(exc, name),
                          EXIT_INTERNAL if is_bug(exc) else EXIT_ERROR, json_errors)


def _say_error(name: str, message: str, code: int, as_json: bool) -> int:
    """The one line on stderr, or under --json the error object on stdout (and the line on
    stderr too, for the person watching)."""
    # one line, whatever a name in it holds (a class folder with a newline, an ESC)
    print(f"cifar-tui {name}: {printable(message)}", file=sys.stderr)
    if as_json:
        print(dumps(name, {"error": message, "exit_code": code}), flush=True)
    return code


def _mute_stdout() -> None:
    # Python flushes stdout again at exit and would report the broken pipe there.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
