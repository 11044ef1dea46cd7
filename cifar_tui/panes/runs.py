"""Runs pane: past runs in a table; selected runs' curves overlaid in one plot.

It draws the app's ``runs`` (``RunSnapshot``s, read by the app in a worker thread) and reads no
run file itself; u asks the app to read the store again."""

from __future__ import annotations

from collections.abc import Iterator

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ..compare import hparam_table, timings
from ..messages import ExportReport, OpenRun, ReadRuns, StartSweep, StartTraining
from ..names import printable
from ..runs import RunSnapshot, accuracy_text, best_val_text
from ..status import RunStatus
from ..widgets import HistoryPlot, Pane, RowTable, plain_error

# What decides between runs first, so it fits in 80 columns; the settings scroll in after.
COLUMNS = ("", "run", "arch", "state", "epoch", "best val", "test acc", "s/ep", "img/s",
           "batch", "optimizer", "lr")
# The longest state, shorter in the table so that run .. s/ep fit 80 columns with counts.
STATE_CELLS = {RunStatus.EARLY_STOPPED: "early-stop"}


def short_id(run_id: str) -> str:
    """``20260101-093000-cnn-1`` -> ``0101-093000-1``: the arch has its own column."""
    parts = run_id.split("-")
    if len(parts) >= 3 and parts[0].isdigit() and parts[1].isdigit():
        suffix = parts[-1] if parts[-1].isdigit() and len(parts) > 3 else ""
        return f"{parts[0][4:]}-{parts[1]}" + (f"-{suffix}" if suffix else "")
    return run_id


def test_cell(run: RunSnapshot, accuracy: float | None) -> str:
    """``71.2%/10k``: the test accuracy and on how many images; `` e3`` after it when the
    weights evaluated are not the last epoch's (the best-val epoch, or a run trained on since)."""
    if accuracy is None:
        return "-"
    metrics = run.metrics
    cell = accuracy_text(accuracy, metrics.get("n"))  # n: always there (metrics_problem)
    epoch = metrics.get("weights_epoch")
    if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch != run.epochs_done:
        cell += f" e{epoch}"
    return cell


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "\u2026"


# The widest a cell of these columns gets: a run from before the limits (epochs 444...4) or
# a hand-edited config widened its column and pushed best val and test off every row.
CELL_WIDTHS = {"arch": 14, "epoch": 9, "batch": 5, "optimizer": 9, "lr": 8}


def row_cells(run: RunSnapshot, selected: bool) -> list[str]:
    s, t = run.summary(), timings(run)
    test = test_cell(run, s["test_accuracy"])
    cells = ["\u2713" if selected else " ", short_id(run.id), s["arch"] or "?",
             STATE_CELLS.get(s["status"], s["status"]),
             s["epochs"],
             best_val_text(s),
             test, f"{t['s_per_epoch']:.0f}" if t["s_per_epoch"] is not None else "-",
             f"{t['images_per_sec']:.0f}" if t["images_per_sec"] is not None else "-",
             str(s["batch_size"] or "-"), s["optimizer"] or "-",
             f"{s['learning_rate']:g}" if s["learning_rate"] else "-"]
    return [clip(str(cell), CELL_WIDTHS[column]) if column in CELL_WIDTHS else cell
            for column, cell in zip(COLUMNS, cells)]


IN_PLACE_ROWS = 8  # more changed rows than this: the table is laid out again
BATCH_SIZES = (32, 64, 128)  # the assignment's batch-size comparison
REGULARIZATION = ("cnn", "cnn-dropout", "cnn-dropout-bn")
HELP = ("space overlay  enter open  R resume  b/g compare  h hparams  w report\n"
        "acc/images: on how many images each accuracy is; eN: the weights of epoch N")


class RunsPane(Pane):
    # The footer shows select, resume and the batch-size comparison (enter is the table's own
    # key); the pane's help line, ? and the palette list the rest.
    BINDINGS = [
        Binding("space", "toggle_select", "Select"),
        Binding("enter", "open", "Open"),
        Binding("R", "resume", "Resume"),
        Binding("b", "compare_batches", "Batches"),
        Binding("g", "compare_regularization", "Drop/BN", show=False),
        Binding("l", "toggle_metric", "Acc/loss", show=False),
        Binding("u", "refresh_runs", "Reload", show=False),
        Binding("h", "toggle_hparams", "HParams", show=False),
        Binding("o", "sort_next", "Sort", show=False),
        Binding("O", "sort_reverse", "Reverse", show=False),
        Binding("w", "export_report", "Report", show=False),
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.selected: set[str] = set()
        self.metric = "accuracy"
        self.runs: dict[str, RunSnapshot] = {}  # as the app last read them, newest first
        # the hyperparameter view (TensorBoard's HParams): selected runs, differing settings
        self.hparams = False
        self.sort_column: str | None = None
        self.sort_desc = True
        self._shown: list[str] = []  # the run ids of the table as last laid out

    # -- the pane's widgets, by id ------------------------------------------------------------
    @property
    def live_line(self) -> Static:
        return self.query_one("#runs-live", Static)

    @property
    def help_line(self) -> Static:
        return self.query_one("#runs-help", Static)

    @property
    def legend_box(self) -> Static:
        return self.query_one("#runs-legend", Static)

    def compose(self) -> ComposeResult:
        yield RowTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static(HELP, id="runs-help")
        yield Static(id="runs-live")
        yield HistoryPlot(id="runs-plot")
        yield Static(id="runs-legend")

    def on_mount(self) -> None:
        self._columns: list[str] = []
        self.columns = dict(zip(COLUMNS, self.query_one(DataTable).add_columns(*COLUMNS)))
        self.watch(self.app, "runs", self.show_runs)

    def take_focus(self) -> None:
        self.query_one(DataTable).focus()

    def show_runs(self, snapshots: tuple[RunSnapshot, ...]) -> None:
        """The app's latest read of the store: rows whose snapshot changed are redrawn in place
        (a live run's, every 2 s); a run added or gone lays the table out again."""
        old = self.runs
        self.runs = {s.id: s for s in snapshots}
        changed = [s for s in snapshots if old.get(s.id) is not s]
        # a few rows (the live ones) in place; many (u: all read again) in one layout
        if list(old) != list(self.runs) or self.hparams or len(changed) > IN_PLACE_ROWS:
            self.draw()
            return
        table = self.query_one(DataTable)
        for snap in changed:
            for column, value in zip(COLUMNS, row_cells(snap, snap.id in self.selected)):
                table.update_cell(snap.id, self.columns[column], value, update_width=True)
        self.show_live()
        self.plot()

    def show_live(self) -> None:
        """One line per live run under the table, in full (the table's state column is narrow):
        '1127-061503 running, epoch 4/10, 812 img/s, ETA 3 min (pid 1234)'."""
        from ..live import describe

        lines = [f"{short_id(i)} {describe(s)} (pid {s.owner_pid})"
                 for i, s in self.runs.items() if s.live]
        live = self.live_line
        live.update(Text(printable("\n".join(lines), newlines=True)))
        live.display = bool(lines)

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Runs: resume highlighted run", "Continue from its last epoch",
                            self.action_resume)
        yield SystemCommand("Runs: reload", "Read the run store again", self.action_refresh_runs)
        yield SystemCommand("Runs: hyperparameter table", "The settings that differ between "
                            "the selected runs, with their results; o sorts (h)",
                            self.action_toggle_hparams)
        yield SystemCommand("Runs: report of the selected runs", "report.md + report.html, "
                            "curves overlaid (w)", self.action_export_report)
        yield SystemCommand("Runs: select / unselect highlighted run", "Overlay its curves "
                            "(space)", self.action_toggle_select)
        yield SystemCommand("Runs: open highlighted run", "Show it in Results and Predict",
                            self.action_open)
        yield SystemCommand("Compare batch sizes 32/64/128", "A grid study: three runs of the "
                            "current model, in detached workers (b)",
                            self.action_compare_batches)
        yield SystemCommand("Compare dropout / batch norm", "A grid study of cnn, cnn-dropout "
                            "and cnn-dropout-bn (g)", self.action_compare_regularization)

    def draw(self) -> None:
        """Lay the table out again from ``runs`` (the list, or the HParams view)."""
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        on = self._cursor_run()
        shown = set(self._shown)
        self._shown = list(self.runs)
        # Runs added since the last refresh (a queue's, or another process's) come first and
        # the cursor goes to the newest of them: it was left on an old row with the new ones
        # above the visible area. Otherwise it stays on its run.
        new = [i for i in self.runs if i not in shown] if shown else []
        if self.hparams:
            self._show_hparams(table)
        else:
            if self._columns:  # coming back from the HParams view: the list's columns again
                table.clear(columns=True)
                self.columns = dict(zip(COLUMNS, table.add_columns(*COLUMNS)))
                self._columns = []
            table.clear()
            for snap in self.runs.values():
                table.add_row(*row_cells(snap, snap.id in self.selected), key=snap.id)
            self.show_live()
        if table.row_count:
            keys = [row.key.value for row in table.ordered_rows]
            target = new[0] if new else on.id if on is not None else None
            row = keys.index(target) if target in keys else min(cursor, table.row_count - 1)
            table.move_cursor(row=row, scroll=True)
        self.plot()

    def _show_hparams(self, table: DataTable) -> None:
        # two or more selected: those; otherwise every run (so more can be selected here)
        runs = [r for r in self.runs.values() if r.id in self.selected]
        if len(runs) < 2:
            runs = list(self.runs.values())
        view = hparam_table(runs)
        if self.sort_column not in view.columns:
            self.sort_column = None
        view = hparam_table(runs, self.sort_column, self.sort_desc)
        table.clear(columns=True)
        arrow = " \u2193" if self.sort_desc else " \u2191"
        table.add_columns("", *(c + (arrow if c == self.sort_column else "")
                                for c in view.columns))
        for row, text in zip(view.rows, view.text_rows()):
            table.add_row("\u2713" if row[0] in self.selected else " ", short_id(row[0]),
                          *text[1:], key=row[0])
        which = "selected runs" if len(self.selected) > 1 else "all runs (space selects)"
        self.help_line.update(
            f"HParams of {which}: o sort, O reverse, h back")
        self._columns = view.columns

    def action_toggle_hparams(self) -> None:
        self.hparams = not self.hparams
        if not self.hparams:
            self.help_line.update(HELP)
        self.draw()

    def action_sort_next(self) -> None:
        if not self.hparams:
            self.action_toggle_hparams()
            return
        cols = self._columns
        i = cols.index(self.sort_column) + 1 if self.sort_column in cols else len(cols) - 4
        self.sort_column = cols[i % len(cols)]
        self.draw()

    def action_sort_reverse(self) -> None:
        self.sort_desc = not self.sort_desc
        self.draw()

    def action_export_report(self) -> None:
        runs = [s.run for s in self.runs.values() if s.id in self.selected]
        if not runs and (snap := self._cursor_run()) is not None:
            runs = [snap.run]
        if runs:
            self.post_message(ExportReport(runs))

    def _cursor_run(self) -> RunSnapshot | None:
        table = self.query_one(DataTable)
        if not self.runs or table.cursor_row < 0 or not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self.runs.get(key)

    def plot(self) -> None:
        ids = [i for i in self.runs if i in self.selected]
        if not ids and (run := self._cursor_run()) is not None:
            ids = [run.id]
        names = [f"{cfg.get('arch')} b{cfg.get('batch_size')}"
                 for cfg in (self.runs[i].config for i in ids)]
        # two runs of one setting ("cnn b32" twice) are told apart by their run's time
        names = [f"{name} {short_id(i)}" if names.count(name) > 1 else name
                 for name, i in zip(names, ids)]
        series = [(name, self.runs[i].history()) for name, i in zip(names, ids)]
        legend = self.query_one(HistoryPlot).show(series, self.metric)
        self.legend_box.update(legend)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not self.selected:
            self.plot()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_toggle_select(self) -> None:
        run = self._cursor_run()
        if run is not None:
            self.selected ^= {run.id}
            self.draw()

    def action_open(self) -> None:
        snap = self._cursor_run()
        if snap is not None:
            # a live (or starting) run opens in the Train view
            self.post_message(OpenRun(snap.run))
            if snap.status is RunStatus.FAILED and snap.error:
                # what happened comes first; a run that failed has little to see
                self.notify(f"{snap.id} failed: {plain_error(snap.error)}", severity="error",
                            timeout=15)
            elif not snap.live:
                self.notify(f"Opened {snap.id}: see Results (4) and Predict (5)")

    def action_resume(self) -> None:
        snap = self._cursor_run()
        if snap is None:
            return
        if snap.complete:
            self.notify(f"{snap.id} is already {snap.status}")
            return
        if snap.owner_pid is not None:
            self.notify(f"{snap.id} is live: pid {snap.owner_pid} trains it. Enter follows it "
                        "in the Train view, where x stops it.", severity="warning")
            return
        # the app checks again, on the run's files as they are then (RunLock)
        self.post_message(StartTraining(run=snap.run))

    def action_compare_batches(self) -> None:
        self.post_message(StartSweep([f"batch_size={','.join(map(str, BATCH_SIZES))}"],
                                     f"batch_size = {', '.join(map(str, BATCH_SIZES))}"))

    def action_compare_regularization(self) -> None:
        # each architecture with its preset's model options (space.apply), not the current ones
        self.post_message(StartSweep([f"arch={','.join(REGULARIZATION)}"],
                                     " vs ".join(REGULARIZATION)))

    def action_toggle_metric(self) -> None:
        self.metric = "loss" if self.metric == "accuracy" else "accuracy"
        self.plot()

    def action_refresh_runs(self) -> None:
        self.post_message(ReadRuns())

