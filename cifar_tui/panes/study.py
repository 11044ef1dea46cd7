"""Study pane: a sweep's trials (state, epoch, value, best so far, parameters), a chart of the
values with the best-so-far line, and the parameter importances. ``enter`` opens a trial's run.

The study is read (``sweep.status``: Optuna's storage and the runs' files) in a thread worker
every few seconds while the pane is shown; the pane draws what it posts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from ..messages import OpenRun
from ..runs import Run
from ..sweep import epoch_text, state_text
from ..widgets import Pane, RowTable

REFRESH_S = 2.0
STATE_CELLS = {"complete": "done", "running": "run", "pruned": "pruned", "failed": "failed",
               "waiting": "queued"}
HELP = "enter open the trial's run  [ ] other study  u reload"


@dataclass
class StudyRead(Message):
    """A study as read in the worker (``sweep.status``), or why it could not be."""

    name: str | None
    status: dict | None
    studies: list[str]
    error: str | None = None


def _short(name: str) -> str:
    """A parameter's column title: ``learning_rate`` -> ``lr``, ``batch_size`` -> ``batch``."""
    return {"learning_rate": "lr", "batch_size": "batch", "weight_decay": "wd",
            "batch_norm": "bn", "label_smoothing": "smooth"}.get(name, name)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


class StudyPane(Pane):
    BINDINGS = [
        Binding("enter", "open", "Open run"),
        Binding("right_square_bracket", "next_study", "Next study"),
        Binding("left_square_bracket", "previous_study", "Prev study", show=False),
        Binding("u", "reload", "Reload", show=False),
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.study: str | None = None  # the study shown; None: the newest
        self.studies: list[str] = []
        self.rows: list[dict] = []

    # -- the pane's widgets, by id ------------------------------------------------------------
    @property
    def head_box(self) -> Static:
        return self.query_one("#study-head", Static)

    @property
    def trials_table(self) -> DataTable:
        return self.query_one("#study-trials", DataTable)

    @property
    def chart(self) -> PlotextPlot:
        return self.query_one("#study-chart", PlotextPlot)

    @property
    def importance_box(self) -> Static:
        return self.query_one("#study-importance", Static)

    def compose(self) -> ComposeResult:
        yield Static("No study yet: cifar-tui sweep ARCH, or b / g in Runs (6)", id="study-head")
        yield RowTable(id="study-trials", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="study-bottom"):
            yield PlotextPlot(id="study-chart")
            yield Static(id="study-importance")

    def take_focus(self) -> None:
        self.query_one("#study-trials", DataTable).focus()

    def on_mount(self) -> None:
        self.watch(self.app, "current_study", self._study_chosen)
        self.set_interval(REFRESH_S, self._refresh_if_shown)

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Study: open the highlighted trial's run", "Results, Predict; a "
                            "live one in the Train view (enter)", self.action_open)
        yield SystemCommand("Study: next study", "Show the next study of this runs folder (])",
                            self.action_next_study)

    def _study_chosen(self, name: str | None) -> None:
        if name:
            self.study = name
            self.action_reload()

    def on_show(self) -> None:
        # at once: the last read may be minutes old ('0/3 done, 0 running' with two trials
        # done), and the next timed one up to REFRESH_S away
        self.action_reload()

    def _refresh_if_shown(self) -> None:
        if self.is_on_screen:
            self.action_reload()

    def action_reload(self) -> None:
        self._read(self.study)

    @work(thread=True, exclusive=True, group="study", exit_on_error=False)
    def _read(self, name: str | None) -> None:
        from .. import sweep

        root = self.app.store.root
        studies = sweep.list_studies(root)
        name = name or (studies[0] if studies else None)
        if name is None:
            self.post_message(StudyRead(None, None, studies))
            return
        try:
            status = sweep.status(root, name)
        except Exception as exc:  # noqa: BLE001 - said in the pane; the app goes on
            self.post_message(StudyRead(name, None, studies, str(exc)))
            return
        self.post_message(StudyRead(name, status, studies))

    @on(StudyRead)
    def _show(self, message: StudyRead) -> None:
        self.studies = message.studies
        head = self.head_box
        if message.name is None:
            return
        self.study = message.name
        if message.status is None:
            head.update(f"study {message.name}: {message.error}")
            return
        s = message.status
        c = s["counts"]
        best = s["best"]
        which = (f" ({self.studies.index(s['name']) + 1}/{len(self.studies)})"
                 if s["name"] in self.studies and len(self.studies) > 1 else "")
        line = (f"[b]{s['name']}[/b]{which} {s['sampler']}: {c['done']}/{s['target']} done, "
                f"{c['running']} running, {c['pruned']} pruned, {c['failed']} failed")
        line += (f"; best {best['value']:.1%} (#{best['number']})" if best else "")
        head.update(f"{line}\n[dim]{HELP}[/dim]")
        self._table(s)
        self._chart(s)
        self._importances(s)

    def _table(self, s: dict) -> None:
        table = self.trials_table
        params = list(dict.fromkeys(p.split("=")[0] for p in s["space"]))
        cursor = table.cursor_row
        columns = ["#", "state", "epoch", "value", "best", *map(_short, params)]
        if [str(c.label) for c in table.columns.values()] != columns:  # another study
            table.clear(columns=True)
            table.add_columns(*columns)
        table.clear()
        self.rows = list(reversed(s["trials"]))  # newest first: the running ones
        for r in self.rows:
            state = STATE_CELLS.get(r["state"], r["state"])
            if r["state"] == "waiting":
                state = state_text(r).replace("retry of", "retry")
            table.add_row(str(r["number"]), state, epoch_text(r),
                          "-" if r["value"] is None else f"{r['value']:.1%}",
                          "-" if r["best_so_far"] is None else f"{r['best_so_far']:.1%}",
                          *(_cell(r["params"].get(p, "-")) for p in params),
                          key=str(r["number"]))
        if table.row_count:
            table.move_cursor(row=min(max(cursor, 0), table.row_count - 1))

    def _chart(self, s: dict) -> None:
        plot = self.chart
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("value per trial (dots) and best so far (line)")
        plt.xlabel("trial")
        done = [r for r in s["trials"] if r["value"] is not None]
        if done:
            plt.scatter([r["number"] for r in done], [r["value"] for r in done],
                        color="cyan", marker="dot")
            best = [r for r in s["trials"] if r["best_so_far"] is not None]
            if best:
                plt.plot([r["number"] for r in best], [r["best_so_far"] for r in best],
                         color="orange", marker="braille")
            numbers = [r["number"] for r in s["trials"]]
            step = max(1, len(numbers) // 8)
            plt.xticks(numbers[::step])
        plot.refresh()

    def _importances(self, s: dict) -> None:
        box = self.importance_box
        if not s["importances"]:
            box.update("[b]importance[/b]\n[dim]after two complete trials that differ[/dim]")
            return
        lines = ["[b]importance[/b] (PED-ANOVA)"]
        for name, value in s["importances"].items():
            bar = "\u2588" * round(value * 8)
            lines.append(f"{_short(name):<7}{value:>5.0%} {bar}")
        box.update("\n".join(lines))

    def _cursor_run(self) -> Run | None:
        table = self.trials_table
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= len(self.rows):
            return None
        run_id = self.rows[table.cursor_row]["run"]
        if not run_id:
            return None
        path = self.app.store.root / run_id
        return Run(path) if (path / "config.json").exists() else None

    def action_open(self) -> None:
        run = self._cursor_run()
        if run is None:
            self.notify("This trial has no run yet", severity="warning")
            return
        self.post_message(OpenRun(run))
        if not run.status.live:
            self.notify(f"Opened {run.id}: see Results (4) and Predict (5)")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def _step(self, by: int) -> None:
        if not self.studies:
            self.notify("No other study in this runs folder")
            return
        i = self.studies.index(self.study) if self.study in self.studies else 0
        self.study = self.studies[(i + by) % len(self.studies)]
        self.action_reload()

    def action_next_study(self) -> None:
        self._step(1)

    def action_previous_study(self) -> None:
        self._step(-1)
