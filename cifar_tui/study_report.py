"""A study's report: its best trial's run report, then the trials table and the parameter
importances. No UI code."""

from __future__ import annotations

from pathlib import Path

from .data import Cifar10
from .report import Para, Report, Section, Table, build_report, to_html, to_markdown
from .runs import Run, atomic_write_text
from .sweep import epoch_text, state_text, status


def _params(params: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


def study_sections(s: dict) -> list[Section]:
    """The study's own sections (``s``: ``sweep.status``)."""
    c = s["counts"]
    head = Section(f"Study {s['name']}", level=1)
    head.blocks.append(Para(
        f"{s['arch']}, {s['sampler']} sampler, "
        f"{'median pruning' if s['pruner'] == 'median' else 'no pruning'}: {c['done']} of "
        f"{s['target']} trials done ({c['complete']} complete, {c['pruned']} pruned, "
        f"{c['failed']} failed), {c['running']} running. Space: `{'  '.join(s['space'])}`. "
        "Each trial's value is its run's best validation accuracy."))
    trials = Section("Trials")
    trials.blocks.append(Table(
        ("trial", "state", "epoch", "value", "best so far", "parameters", "run"),
        [(r["number"], state_text(r), epoch_text(r),
          "-" if r["value"] is None else f"{r['value']:.4f}",
          "-" if r["best_so_far"] is None else f"{r['best_so_far']:.4f}",
          _params(r["params"]), r["run"] or "-") for r in s["trials"]]))
    imp = Section("Parameter importances")
    if s["importances"]:
        imp.blocks.append(Para("Optuna's default evaluator (PED-ANOVA) over the complete "
                               "trials: how much each parameter's values matter to the value."))
        imp.blocks.append(Table(("parameter", "importance"),
                                [(k, f"{v:.1%}") for k, v in s["importances"].items()]))
    else:
        imp.blocks.append(Para("Not yet: it needs two complete trials whose parameters "
                               "differ."))
    return [head, trials, imp]


def write_study_report(root: Path, name: str, out: Path | str, storage: str | None = None,
                       data: Cifar10 | None = None) -> Report:
    """``out/report.md`` and ``report.html``: the study's sections, then the best trial's run
    report (its figures under ``out/figures``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; give a folder for the report with --out DIR")
    s = status(root, name, storage)
    sections = study_sections(s)
    figures: list[Path] = []
    best = s["best"]
    out.mkdir(parents=True, exist_ok=True)
    if best and best["run"]:
        run_sections, figures = build_report([Run(Path(root) / best["run"])], out, data)
        run_sections[0].title = f"Best trial: {best['number']} (run {best['run']})"
        run_sections[0].level = 2
        sections[1:1] = run_sections
    else:
        sections.insert(1, Section("Best trial", blocks=[Para("No trial has completed yet.")]))
    md, page = out / "report.md", out / "report.html"
    for path, text in ((md, to_markdown(sections)), (page, to_html(sections, out))):
        atomic_write_text(path, text)
    return Report(md, page, figures)
