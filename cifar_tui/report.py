"""A write-up of one or more runs: ``report.md`` plus a self-contained ``report.html``, with PNG
figures. No UI code.

The document is built once as a list of blocks (paragraphs, tables, figures, preformatted text)
and written out twice, as Markdown (figures linked from ``figures/``) and as HTML (the same PNGs
embedded as data URIs, so the single file can be mailed or opened anywhere without a server).
"""

from __future__ import annotations

import base64
import html
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .compare import timings
from .config import TrainConfig
from .data import DataError, Dataset, check_matches, data_options, load_data, subset
from .evaluation import evaluate_probs
from .names import folder_names, markdown_safe, printable
from .runs import Run, atomic_write_text, best_val_text

# -- document blocks -------------------------------------------------------------------------


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]


@dataclass(frozen=True)
class Figure:
    path: Path  # relative to the report folder
    caption: str


@dataclass(frozen=True)
class Pre:
    text: str


@dataclass
class Section:
    title: str
    level: int = 2
    blocks: list = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    markdown: Path
    html: Path
    figures: list[Path]


# -- run facts -------------------------------------------------------------------------------


def _fmt(value: object, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


@dataclass
class _RunFacts:
    run: Run
    config: TrainConfig
    metrics: dict | None
    probs: np.ndarray | None
    labels: np.ndarray | None
    images: np.ndarray | None
    image_note: str | None
    data: Dataset | None  # the run's data set, all of it (for the gallery), or None
    data_note: str | None  # why it is None


def _run_data(run: Run, cfg: TrainConfig,
              data: Dataset | None) -> tuple[Dataset | None, str | None]:
    """The data set ``run`` was trained on (``data`` when given, else its source), checked to
    be the run's, or (None, why not)."""
    try:
        ds = data if data is not None else load_data(cfg.data, **data_options(cfg))
        check_matches(run.config.get("dataset"), ds, f"run {run.id}")
    except (DataError, OSError) as exc:
        return None, f"could not load the run's data ({exc}). Pass --data PATH."
    return ds, None


def _test_images(cfg: TrainConfig, labels: np.ndarray, ds: Dataset | None,
                 why: str | None) -> tuple[np.ndarray | None, str | None]:
    """The run's test images in predictions.npz order, or (None, why not)."""
    if ds is None:
        return None, f"Test images not shown: {why}"
    ds = subset(ds, cfg.subset, cfg.test_subset)
    if len(ds.y_test) != len(labels) or not np.array_equal(ds.y_test, labels):
        return None, ("Test images not shown: the data given holds other test images than the "
                      f"run was evaluated on ({len(ds.y_test)} vs {len(labels)}); pass the "
                      "run's own data with --data PATH.")
    return ds.x_test, None


def _facts(run: Run, data: Dataset | None) -> _RunFacts:
    cfg = TrainConfig.from_dict(run.config)
    preds = run.predictions()
    probs, labels = preds if preds is not None else (None, None)
    metrics = run.metrics or (evaluate_probs(probs, labels, run.class_names).to_dict()
                              if preds else None)
    ds, why = _run_data(run, cfg, data)
    images, note = (None, None)
    if labels is not None:
        images, note = _test_images(cfg, labels, ds, why)
    return _RunFacts(run, cfg, metrics, probs, labels, images, note, ds, why)


# -- building the document -------------------------------------------------------------------


def _layer_table(cfg: TrainConfig, run: Run) -> list:
    from .models import build_model  # TensorFlow: only when a report is written
    from .params import keras_summary, param_table

    try:  # counts do not depend on the weights: no download
        model = build_model(cfg.arch, num_classes=len(run.class_names),
                            image_size=run.image_size, **cfg.model_options(download=False))
    except (ValueError, RuntimeError) as exc:
        return [Para(f"Could not rebuild the model for its layer table: {exc}")]
    table = param_table(model)
    rows = [(r.name, r.type, r.output_shape, r.formula, f"{r.count:,}") for r in table.rows]
    rows.append(("total", "", "", f"trainable {table.trainable:,}, non-trainable "
                 f"{table.non_trainable:,}", f"{table.total:,}"))
    check = ("equals" if table.matches_keras else "DIFFERS FROM") + \
        f" Keras's count_params() ({table.keras_total:,})"
    return [Table(("layer", "type", "output shape", "parameters = formula", "count"), rows),
            Para(f"The formulas' total {check}."),
            Para("Keras's own `model.summary()`:"), Pre(keras_summary(model))]


def _run_section(f: _RunFacts, fig_dir: Path, rel: Path, figures: list[Path]) -> Section:
    from . import figures as figs

    run, cfg = f.run, f.config
    sec = Section(f"Run {run.id}")
    spec = run.dataset
    sec.blocks.append(Para(f"Architecture **{cfg.arch}**, status {run.status}, "
                           f"{run.epochs_done}/{cfg.epochs} epochs, on {spec['name']}: "
                           f"{len(spec['classes'])} classes, {spec['image_size']}x"
                           f"{spec['image_size']} images."))

    def add(path: Path, caption: str) -> None:
        figures.append(path)
        sec.blocks.append(Figure(rel / path.name, caption))

    m = f.metrics
    if m is None:
        sec.blocks.append(Para(f"No test evaluation yet: run `cifar-tui eval {run.id}` and "
                               "write the report again."))
    else:
        sec.blocks.append(Para(f"Test accuracy **{_pct(m['accuracy'])}**, loss "
                               f"{m['loss']:.4f}, expected calibration error {m['ece']:.4f} "
                               f"on {m['n']:,} test images"
                               + (f" ({note})." if (note := run.weights_note()) else ".")))
        classes = run.class_names
        add(figs.confusion_figure(np.array(m["confusion"]), fig_dir / "confusion.png", classes),
            "Confusion matrix" + ("" if len(classes) <= 12 else
                                  f" of all {len(classes)} classes (the TUI shows the most "
                                  "confused pairs and a zoom on its most confused block)"))
        sec.blocks.append(Table(("class", "precision", "recall", "F1", "support"),
                                [(c["class"], _fmt(c["precision"], 3), _fmt(c["recall"], 3),
                                  _fmt(c["f1"], 3), c["support"]) for c in m["per_class"]]))
        add(figs.per_class_figure(m["per_class"], fig_dir / "per_class.png"),
            "Per-class precision, recall and F1")
        pairs = m["confused_pairs"]
        sec.blocks.append(Table(("true", "predicted as", "count", "share of true class"),
                                [(p["true"], p["predicted"], p["count"], _pct(p["rate"]))
                                 for p in pairs]))
        if f.images is not None:
            add(figs.confused_pairs_figure(pairs[:8], f.images, f.probs, f.labels,
                                           fig_dir / "confused_pairs.png", classes=classes),
                "Most confused pairs with their most confident mistakes")
            picks = figs.prediction_picks(f.probs, f.labels)
            add(figs.predictions_figure(f.images[picks], f.probs[picks], f.labels[picks],
                                        fig_dir / "predictions.png", classes=classes),
                "Test images with their predicted probabilities")
        elif f.image_note:
            sec.blocks.append(Para(f.image_note))

    history = run.history()
    if history:  # how validation accuracy moves epoch by epoch (the assignment asks)
        sec.blocks.append(Para("**Per epoch**"))
        sec.blocks.append(Table(
            ("epoch", "loss", "accuracy", "val loss", "val accuracy", "s", "images/s"),
            [(h["epoch"], _fmt(h.get("loss"), 4), _fmt(h.get("accuracy"), 4),
              _fmt(h.get("val_loss"), 4), _fmt(h.get("val_accuracy"), 4),
              _fmt(h.get("seconds"), 1), _fmt(h.get("images_per_sec"), 0)) for h in history]))
    t = timings(run)
    sec.blocks.append(Para("**Timings**"))
    sec.blocks.append(Table(("epochs", "s/epoch", "s/epoch after the first", "images/s",
                             "training s", "of it compiling", "wall s", "hardware"),
                            [(t["epochs"], _fmt(t["s_per_epoch"], 2),
                              _fmt(t["s_per_epoch_after_first"], 2),
                              _fmt(t["images_per_sec"], 0), _fmt(t["train_s"], 1),
                              _fmt(t["compile_s"], 1) if t["compile_s"] is not None
                              else "not measured",
                              _fmt(t["wall_s"], 1), t["hardware"] or "not recorded")]))
    sec.blocks.append(Para("Training s: the time in model.fit, validation included; of it "
                           "compiling: its first steps' compile (or load from the compile "
                           "cache); wall s: the whole command's, data loading, model building "
                           "and the test evaluation included."))
    if run.state.get("versions"):
        sec.blocks.append(Para(f"Software: {run.state['versions']}."))
    sec.blocks.append(Para("**Layers and parameters**"))
    sec.blocks.extend(_layer_table(cfg, run))
    sec.blocks.append(Para("**Configuration**"))
    sec.blocks.append(Table(("setting", "value"),
                            [(k, "unused" if k in cfg.unused() else "-" if v is None else v)
                             for k, v in cfg.to_dict().items()]))
    return sec


def _data_section(facts: Sequence[_RunFacts], fig_dir: Path, rel: Path,
                  figures: list[Path]) -> Section:
    """The data the runs trained on, once per data set: its size, class counts, and a gallery
    of the first 8 training images of each class (a figure per 100 classes)."""
    from . import figures as figs

    sec = Section("Data")
    seen: dict[tuple, int] = {}
    for f in facts:
        spec = f.run.dataset
        key = (spec["name"], tuple(spec["classes"]), spec["image_size"])
        if key in seen:
            continue
        seen[key] = n = len(seen)
        ds = f.data
        if ds is None:
            sec.blocks.append(Para(f"{spec['name']} (run {f.run.id}): {len(spec['classes'])} "
                                   f"classes; no gallery: {f.data_note}"))
            continue
        counts = np.bincount(ds.y_train, minlength=ds.num_classes)
        spread = (f"{counts.min():,} to {counts.max():,} a class" if counts.min() != counts.max()
                  else f"{counts.min():,} a class")
        sec.blocks.append(Para(
            f"{ds.name}: {ds.num_classes} classes, {ds.image_size}x{ds.image_size} RGB images, "
            f"{len(ds.y_train):,} training images ({spread}; a run's validation images are "
            f"held out of them) and {len(ds.y_test):,} test images"
            f"{f', {len(ds.skipped)} files skipped as unreadable' if ds.skipped else ''}; "
            f"from {ds.source}."))
        for first in range(0, ds.num_classes, figs.GALLERY_CLASSES):
            name = "gallery" if not n else f"gallery-data{n + 1}"  # a figure per data set,
            name += f"-{first // figs.GALLERY_CLASSES + 1}" if first else ""  # and 100 classes
            path = figs.gallery_figure(ds.x_train, ds.y_train, fig_dir / f"{name}.png",
                                       ds.class_names, first)
            figures.append(path)
            last = min(ds.num_classes, first + figs.GALLERY_CLASSES)
            part = (f", classes {first + 1}-{last}" if ds.num_classes > figs.GALLERY_CLASSES
                    else "")
            sec.blocks.append(Figure(rel / path.name, f"{ds.name}: the first "
                                     f"{figs.GALLERY_PER_CLASS} training images of each class"
                                     f"{part}"))
    return sec


def build_report(runs: Sequence[Run], out: Path, data: Dataset | None = None,
                 ) -> tuple[list[Section], list[Path]]:
    """The document's sections, with its figures written under ``out/figures``."""
    from . import figures as figs

    if not runs:
        raise ValueError("give at least one run to report on")
    fig_root = Path("figures")
    figures: list[Path] = []
    facts = [_facts(r, data) for r in runs]
    names = {f.run.dataset["name"] for f in facts}
    head = Section(f"{names.pop()} report" if len(names) == 1 else "Report", level=1)
    head.blocks.append(Table(
        ("run", "arch", "status", "epochs", "best val acc", "test acc", "s/epoch", "images/s"),
        [(f.run.id, f.config.arch, f.run.status, f.run.epochs_done,
          best_val_text(f.run.summary(), ".2%"),
          _pct(f.metrics["accuracy"]) if f.metrics else "-",
          _fmt(timings(f.run)["s_per_epoch"], 2), _fmt(timings(f.run)["images_per_sec"], 0))
         for f in facts]))
    curves = Section("Training curves")
    labels = [f.run.id if len(runs) == 1 or len({x.config.arch for x in facts}) < len(facts)
              else f.config.arch for f in facts]
    hist_png = figs.history_figure([(lab, f.run.history()) for lab, f in zip(labels, facts)],
                                   out / fig_root / "history.png")
    figures.append(hist_png)
    what = "several runs overlaid; " if len(runs) > 1 else ""
    curves.blocks.append(Figure(fig_root / hist_png.name,
                                f"Accuracy and loss per epoch ({what}train solid, "
                                "validation dashed)"))
    sections = [head, _data_section(facts, out / fig_root, fig_root, figures), curves]
    # a folder per run, distinct even for two runs of one id (from two stores), never `..`
    for f, folder in zip(facts, folder_names([f.run.id for f in facts])):
        rel = fig_root / folder
        sections.append(_run_section(f, out / rel, rel, figures))
    return sections, figures


# -- writers ---------------------------------------------------------------------------------


def _md_cell(value: object) -> str:
    return markdown_safe(value)  # names and settings from files: no HTML, one line


def _md_para(text: str) -> str:
    """A paragraph's own Markdown (**bold**, `code`) kept, the names in it made harmless: HTML
    escaped outside code spans (inside one, a viewer shows it as text anyway)."""
    import re

    parts = re.split(r"(`[^`\n]*`)", printable(text))
    return "".join(p if i % 2 else html.escape(p, quote=False) for i, p in enumerate(parts))


def to_markdown(sections: Sequence[Section]) -> str:
    out: list[str] = []
    for sec in sections:
        out.append(f"{'#' * sec.level} {markdown_safe(sec.title)}\n")
        for b in sec.blocks:
            if isinstance(b, Para):
                out.append(_md_para(b.text) + "\n")
            elif isinstance(b, Table):
                out.append("| " + " | ".join(_md_cell(h) for h in b.headers) + " |")
                out.append("|" + "---|" * len(b.headers))
                out.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows)
                out.append("")
            elif isinstance(b, Figure):
                out.append(f"![{markdown_safe(b.caption)}]({b.path.as_posix()})\n")
                out.append(f"*{markdown_safe(b.caption)}*\n")
            elif isinstance(b, Pre):
                out.append("```\n" + printable(b.text.rstrip("\n"), newlines=True) + "\n```\n")
    return "\n".join(out)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:2px 8px}
th{background:#f0f0f0}img{max-width:100%}figure{margin:1em 0}
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;font-size:12px}"""


def _inline_md(text: str) -> str:
    """The little Markdown the paragraphs use (**bold**, `code`) as HTML."""
    import re

    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def to_html(sections: Sequence[Section], root: Path) -> str:
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(sections[0].title)}</title><style>{_CSS}</style></head><body>"]
    for sec in sections:
        out.append(f"<h{sec.level}>{html.escape(sec.title)}</h{sec.level}>")
        for b in sec.blocks:
            if isinstance(b, Para):
                out.append(f"<p>{_inline_md(b.text)}</p>")
            elif isinstance(b, Table):
                out.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>"
                                                   for h in b.headers) + "</tr>")
                out.extend("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
                           + "</tr>" for row in b.rows)
                out.append("</table>")
            elif isinstance(b, Figure):
                data = base64.b64encode((root / b.path).read_bytes()).decode("ascii")
                out.append(f'<figure><img src="data:image/png;base64,{data}" '
                           f'alt="{html.escape(b.caption)}"><figcaption>'
                           f"{html.escape(b.caption)}</figcaption></figure>")
            elif isinstance(b, Pre):
                out.append(f"<pre>{html.escape(b.text)}</pre>")
    out.append(f"<hr><p><small>cifar-tui report, Python {platform.python_version()}"
               "</small></p></body></html>")
    return "\n".join(out)


def write_report(runs: Sequence[Run], out: Path | str, data: Dataset | None = None) -> Report:
    """Write ``out/report.md``, ``out/report.html`` and ``out/figures/``; returns their paths.

    ``data``: the dataset the runs were trained on (default: each run's own source); only the
    test images of the confused-pair and prediction figures come from it.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; give a folder for the report with --out DIR")
    out.mkdir(parents=True, exist_ok=True)
    sections, figures = build_report(runs, out, data)
    md, page = out / "report.md", out / "report.html"
    for path, text in ((md, to_markdown(sections)), (page, to_html(sections, out))):
        atomic_write_text(path, text)
    return Report(md, page, figures)
