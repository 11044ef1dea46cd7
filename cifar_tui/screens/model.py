"""Model pane: architecture picker, hyperparameter form, and the parameter table."""

from __future__ import annotations

from collections.abc import Iterator

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.lazy import Lazy
from textual.widgets import Input, Label, Select, Static, Switch, TabPane

from ..config import ARCH_FIELDS, ARCHS, OPTIMIZERS, SCHEDULES, TrainConfig, arch_info
from ..widgets import MaximizableScroll

# (field, label, kind) in form order; kind: "input" text, "switch", or a tuple of choices.
FIELDS = [
    ("spec", "custom spec", "input"),
    ("weights", "weights", "input"),
    ("optimizer", "optimizer", OPTIMIZERS),
    ("learning_rate", "learning rate", "input"),
    ("schedule", "lr schedule", SCHEDULES),
    ("batch_size", "batch size", "input"),
    ("epochs", "epochs", "input"),
    ("patience", "patience (0 off)", "input"),
    ("val_split", "validation split", "input"),
    ("dropout", "dropout", "input"),
    ("batch_norm", "batch norm", "switch"),
    ("augment_flip", "augment: flip", "switch"),
    ("augment_crop", "augment: crop", "switch"),
    ("label_smoothing", "label smoothing", "input"),
    ("subset", "images/class (blank all)", "input"),
]
OPTIONAL = ("spec", "weights", "dropout", "batch_norm")  # shown only where the arch takes them
NUMBERS = {"learning_rate": float, "batch_size": int, "epochs": int, "patience": int,
           "val_split": float, "dropout": float, "label_smoothing": float, "subset": int}


class ModelPane(TabPane):
    """Focus rests on the pane so single keys work; tab enters the form, esc leaves it."""

    BINDINGS = [Binding("p", "refresh_params", "Params"),
                Binding("f", "maximize_table", "Full table"),
                Binding("escape", "leave_form", "Leave field", show=False)]
    can_focus = True

    def compose(self) -> ComposeResult:
        # Built with the cnn preset's values and mounted lazily (after the first frame): this
        # form is most of the app's widgets.
        self._table_wanted = False  # built on first show: TensorFlow loads only when needed
        values, allowed = self._defaults("cnn")
        rows = []
        for name, label, kind in FIELDS:
            value = values.get(name)
            if kind == "input":
                field = Input("" if value is None else str(value), id=f"f-{name}", compact=True)
            elif kind == "switch":
                field = Switch(bool(value), id=f"f-{name}")
            else:
                field = Select([(c, c) for c in kind], value=value, allow_blank=False,
                               id=f"f-{name}", compact=True)
            row = Horizontal(Label(label), field, classes="field", id=f"row-{name}")
            row.display = name not in OPTIONAL or name in allowed
            rows.append(row)
        form = VerticalScroll(
            Label("architecture"),
            Select([(a, a) for a in ARCHS], value="cnn", allow_blank=False, id="arch",
                   compact=True),
            Static(arch_info("cnn").description, id="arch-description"),
            *rows, id="model-form")
        form.can_focus = False  # tab goes straight to the first field; focus scrolls the form
        table = MaximizableScroll(Static("Parameter table: building...", id="param-table"),
                                  id="param-box")
        yield Lazy(Horizontal(form, table))

    def on_show(self) -> None:
        if not self._table_wanted:
            self._table_wanted = True
            self.call_after_refresh(self.action_refresh_params)

    def _defaults(self, arch: str) -> tuple[dict, set]:
        info = arch_info(arch)
        cfg = TrainConfig.for_arch(arch, subset=self.app.subset)
        return {"dropout": 0.0, **cfg.to_dict(), **info.options}, ARCH_FIELDS[arch]

    # -- form <-> config -------------------------------------------------------------------
    def fill(self, arch: str) -> None:
        """Load the preset's defaults into the form."""
        values, allowed = self._defaults(arch)
        self.query_one("#arch-description", Static).update(arch_info(arch).description)
        for name, _, kind in FIELDS:
            widget = self.query_one(f"#f-{name}")
            value = values.get(name)
            if kind == "input":
                widget.value = "" if value is None else str(value)
            elif kind == "switch":
                widget.value = bool(value)
            else:
                widget.value = value
            if name in OPTIONAL:
                self.query_one(f"#row-{name}").display = name in allowed
        if self._table_wanted:
            self.action_refresh_params()

    def current_config(self) -> TrainConfig:
        """The form as a TrainConfig; raises ValueError naming the bad field."""
        if not self.query("#arch"):  # the lazy form is not mounted yet: the defaults
            return TrainConfig.for_arch("cnn", subset=self.app.subset,
                                        normalize=self.app.normalize, data=self.app.data_source)
        arch = self.query_one("#arch", Select).value
        allowed = ARCH_FIELDS[arch]
        values: dict = {}
        for name, label, kind in FIELDS:
            if name in OPTIONAL and name not in allowed:
                continue
            widget = self.query_one(f"#f-{name}")
            raw = widget.value
            if kind == "input":
                raw = raw.strip()
                if name in NUMBERS:
                    if raw == "":
                        if name in ("subset", "dropout"):  # blank: all images / preset's own
                            continue
                        raise ValueError(f"{label}: enter a number")
                    try:
                        raw = NUMBERS[name](raw)
                    except ValueError:
                        kind_name = "a whole number" if NUMBERS[name] is int else "a number"
                        raise ValueError(f"{label}: {raw!r} is not {kind_name}") from None
                elif raw == "":
                    continue
            values[name] = raw
        cfg = TrainConfig.for_arch(arch, normalize=self.app.normalize,
                                   data=self.app.data_source, **values)
        if arch in ("dense", "dense-bn", "cnn", "cnn-dropout", "cnn-dropout-bn"):
            cfg.batch_norm = values.get("batch_norm", False)
        cfg.validate()
        return cfg

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "arch":
            self.fill(str(event.value))

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Model: refresh parameter table", "Rebuild the model and count",
                            self.action_refresh_params)
        yield SystemCommand("Model: full-screen parameter table", "Toggle (f)",
                            self.action_maximize_table)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in ("f-spec", "f-dropout") and self._table_wanted:
            self.action_refresh_params()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id == "f-batch_norm" and self._table_wanted:
            self.action_refresh_params()

    def action_leave_form(self) -> None:
        self.focus()

    def action_maximize_table(self) -> None:
        self.query_one("#param-box", MaximizableScroll).toggle_maximized()

    # -- parameter table -------------------------------------------------------------------
    def action_refresh_params(self) -> None:
        try:
            cfg = self.current_config()
        except ValueError as exc:
            self.query_one("#param-table", Static).update(f"[red]{exc}[/]")
            return
        options = cfg.model_options()
        if cfg.arch == "transfer":
            options["weights"] = ""  # counts do not depend on the weights: no download
        self.query_one("#param-table", Static).update(f"Building {cfg.arch}...")
        self.build_table(cfg.arch, options)

    @work(thread=True, exclusive=True, group="params", exit_on_error=False)
    def build_table(self, arch: str, options: dict) -> None:
        from rich.console import Console
        from textual.worker import get_current_worker

        from ..models import build_model  # imports TensorFlow, in this worker thread
        from ..params import param_table
        from ..render import param_table_renderable

        try:
            renderable = param_table_renderable(param_table(build_model(arch, **options)))
        except Exception as exc:  # a bad spec: show it where the user is looking
            from rich.text import Text

            renderable = Text(str(exc), style="red")
        # Natural width, scrolled sideways when narrow, rather than squeezed into ellipses.
        width = Console(width=400).measure(renderable).maximum
        if not get_current_worker().is_cancelled:  # a newer edit has started its own build
            self.app.call_from_thread(self._show_table, renderable, width)

    def _show_table(self, renderable: object, width: int) -> None:
        table = self.query_one("#param-table", Static)
        table.styles.width = max(width, 20)
        table.update(renderable)
