"""Model pane: the form generated from TrainConfig's fields, and the parameter table.

Every edit is parsed and validated at once (``form.config_from_form``); the reason a value is
refused shows under its field, and the pane posts ``ConfigChanged`` so the app always knows the
config that ``s`` would train.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from ..config import DEFAULT_ARCH, TrainConfig, arch_info
from ..form import (
    FORM,
    MODEL_OPTIONS,
    FormError,
    config_from_form,
    derived_values,
    display,
    preset_values,
    visible,
)
from ..messages import BuildModel, ConfigChanged, ExportCode
from ..widgets import (
    FieldCheckbox,
    FieldSelect,
    InOrderInput,
    Lazy,
    MaximizableScroll,
    Pane,
    plain_error,
    typing_in_field,
)


def _describe(name: str, value: Any) -> str:
    label = next(f.label for f in FORM if f.name == name)
    if isinstance(value, bool):
        return f"{label} {'on' if value else 'off'}"
    return f"{label} {value if value not in (None, '') else '(blank)'}"


# Keras's model.summary() is laid out this wide: all of it in view full-screen (f) at 80
# columns, less the scrollbar.
SUMMARY_WIDTH = 78


class ModelPane(Pane):
    """Focus rests on the pane so single keys work; tab enters the form, esc leaves it."""

    BINDINGS = [Binding("tab", "next_field(1)", "Next field", show=False),
                Binding("shift+tab", "next_field(-1)", "Previous field", show=False),
                Binding("p", "refresh_params", "Params"),
                Binding("f", "maximize_table", "Full table"),
                Binding("v", "cycle_view", "View")]
    can_focus = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_set: set[str] = set()  # fields the user changed: kept across arch switches
        self.config: TrainConfig | None = None
        self.error: str | None = None  # why the form describes no config
        self._table_wanted = False  # built on first show: TensorFlow loads only when needed
        self._model_key: tuple | None = None  # what the parameter table shows
        # The right side: the formula table, Keras's own model.summary(), or the Keras code
        # that `cifar-tui code` exports for this config.
        self.view = "table"
        self._views: dict[str, tuple[object, int]] = {}  # view -> (renderable, width)
        self._code_key: str | None = None
        # What the pane itself put in each widget: a Changed event with this value (as widgets
        # send when mounted or set by code) is not the user's doing.
        self._shown: dict[str, Any] = {}
        self._build_error: tuple[tuple, str] | None = None  # (model key, why it did not build)

    # -- the pane's widgets, by id ------------------------------------------------------------
    @property
    def arch_description(self) -> Static:
        return self.query_one("#arch-description", Static)

    @property
    def form_box(self) -> VerticalScroll:
        return self.query_one("#model-form", VerticalScroll)

    @property
    def param_box(self) -> MaximizableScroll:
        return self.query_one("#param-box", MaximizableScroll)

    @property
    def param_table(self) -> Static:
        return self.query_one("#param-table", Static)

    def compose(self) -> ComposeResult:
        # Built with the cnn preset's values and mounted lazily (after the first frame): this
        # form is most of the app's widgets.
        values = preset_values(DEFAULT_ARCH, self.app.subset)
        rows: list[Widget] = []
        for f in FORM:
            value = values.get(f.name)
            self._shown[f.name] = bool(value) if f.kind == "switch" else (
                display(value) if f.kind == "text" else value)
            wid = "arch" if f.name == "arch" else f"f-{f.name}"
            if f.kind == "switch":
                # A checkbox that says on/off: readable in 16 colours and without colour.
                widget: Widget = FieldCheckbox("on" if value else "off", bool(value), id=wid,
                                          compact=True)
            elif f.kind == "choice":
                widget = FieldSelect([(c, c) for c in f.choices], value=value, allow_blank=False,
                                id=wid, compact=True)
            else:
                widget = InOrderInput(display(value), id=wid, compact=True)
            widget.tooltip = f.help
            row = Vertical(Horizontal(Label(f.label), widget, classes="field"),
                           Static("", id=f"err-{f.name}", classes="field-error"),
                           id=f"row-{f.name}", classes="field-row")
            row.display = visible(f.name, DEFAULT_ARCH)
            rows.append(row)
            if f.name == "arch":
                rows.append(Static(arch_info(DEFAULT_ARCH).description, id="arch-description"))
        form = VerticalScroll(*rows, id="model-form")
        form.can_focus = False  # tab goes straight to the first field; focus scrolls the form
        table = MaximizableScroll(Static("Parameter table: building...", id="param-table"),
                                  id="param-box")
        yield Lazy(Horizontal(form, table))

    def on_mount(self) -> None:
        # another data set has another head (classes) and input (size): another table
        self.watch(self.app, "dataset", lambda _: self._table_wanted and self.refresh_params(),
                   init=False)
        # the app builds the model and writes its script in its workers (BuildModel, ExportCode)
        self.watch(self.app, "model_built", self.show_built, init=False)
        self.watch(self.app, "model_code", self.show_code, init=False)

    def on_show(self) -> None:
        if not self._table_wanted:
            self._table_wanted = True
            self.call_after_refresh(self.refresh_params)

    # -- form <-> config -------------------------------------------------------------------
    @property
    def form_mounted(self) -> bool:
        """Whether the form is there yet (it mounts after the first frame)."""
        return bool(self.query("#arch"))

    def _widget(self, name: str) -> Input | Select | Checkbox:
        """The widget of form field ``name``."""
        return self.query_one("#arch" if name == "arch" else f"#f-{name}")  # type: ignore

    def _row(self, name: str) -> Vertical:
        """Form field ``name``'s row: its label, widget and error line."""
        return self.query_one(f"#row-{name}", Vertical)

    def _error_line(self, name: str) -> Static:
        """Where the reason a value of field ``name`` is refused shows."""
        return self.query_one(f"#err-{name}", Static)

    def values(self) -> dict[str, Any]:
        """The raw values of the form, by field name."""
        return {f.name: self._widget(f.name).value for f in FORM}

    def _set(self, name: str, value: Any) -> None:
        widget = self._widget(name)
        new = display(value) if isinstance(widget, Input) else value
        if isinstance(widget, Checkbox):
            new = bool(value)
            widget.label = "on" if new else "off"
        self._shown[name] = new
        if widget.value != new:
            with widget.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
                widget.value = new

    def switch_arch(self, arch: str) -> str | None:
        """Load ``arch``'s preset, keeping what the user set, except the model options (dropout,
        batch norm, ...): they are what the architecture is, so the preset sets them.

        Returns what happened to the user's values, for the user: which were kept and which the
        preset replaced; None when the user had set none.
        """
        preset = preset_values(arch, self.app.subset)
        before = self.values()
        kept, replaced = [], []
        for f in FORM:
            if f.name == "arch":
                continue
            self._row(f.name).display = visible(f.name, arch)
            if f.name in MODEL_OPTIONS:  # part of what the architecture is
                self._set(f.name, preset.get(f.name))
                if f.name in self.user_set and display(preset.get(f.name)) != before[f.name] \
                        and visible(f.name, arch):
                    replaced.append(_describe(f.name, preset.get(f.name)))
                self.user_set.discard(f.name)
            elif f.name in self.user_set:
                kept.append(_describe(f.name, before[f.name]))
            else:
                self._set(f.name, preset.get(f.name))
        self.arch_description.update(arch_info(arch).description)
        parts = []
        if kept:
            parts.append("kept your " + ", ".join(kept))
        if replaced:
            parts.append("the preset set " + ", ".join(replaced))
        return f"{arch}: " + "; ".join(parts) if parts else None

    def _retune(self) -> None:
        """Derived settings follow what they derive from (fast's learning rate and weight decay
        its batch size and momentum), unless the user typed them."""
        for name, value in derived_values(self.values(), self.user_set).items():
            self._set(name, value)

    def validate_form(self) -> TrainConfig | None:
        """Parse and check the form; show each reason under its field; tell the app."""
        if not self.form_mounted:
            return None
        errors: dict[str, str] = {}
        warnings: dict[str, str] = {}
        config = None
        try:
            config = config_from_form(self.values())
        except FormError as exc:
            errors = exc.errors
        else:
            warnings = config.warnings()
            if self._build_error is not None and self._build_error[0] == self._key(config):
                # Keras could not build this model: training it would only fail.
                errors = {"spec" if visible("spec", config.arch) else "arch": self._build_error[1]}
                config = None
        for f in FORM:
            line = self._error_line(f.name)
            if f.name in errors:
                line.update(Text(f"\u2717 {errors[f.name]}", style="bold red"))
            elif f.name in warnings:
                line.update(Text(f"! {warnings[f.name]}", style="yellow"))
            else:
                line.update("")
            line.display = f.name in errors or f.name in warnings
        self.config, self.error = config, str(FormError(errors)) if errors else None
        self.post_message(ConfigChanged(config, self.error))
        return config

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _field_changed(self, event: Input.Changed | Checkbox.Changed | Select.Changed) -> None:
        widget = event.control
        if isinstance(widget, Checkbox):
            widget.label = "on" if event.value else "off"
        name = "arch" if widget.id == "arch" else (widget.id or "")[2:]
        if name not in self._shown:
            return  # not a field of the form
        if event.value == self._shown[name]:
            pass  # the pane's own doing (mount, preset)
        elif name == "arch":
            self._shown[name] = event.value
            note = self.switch_arch(str(event.value))
            if note is not None:  # the user's own values were kept or replaced: say which
                self.notify(note, title="Architecture changed")
            self._retune()
        else:
            self._shown[name] = event.value
            self.user_set.add(name)
            self._retune()
        self.validate_form()
        if self._table_wanted:
            self.refresh_params()

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Model: refresh parameter table", "Rebuild the model and count",
                            self.action_refresh_params)
        yield SystemCommand("Model: full-screen parameter table", "Toggle (f)",
                            self.action_maximize_table)
        yield SystemCommand("Model: formula table / model.summary() / Keras code",
                            "Switch what the right side shows (v)", self.action_cycle_view)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        in_field = typing_in_field(self.app)
        if action == "next_field":
            return self.screen.maximized is None and self.form_mounted
        if action in ("refresh_params", "maximize_table", "cycle_view") and in_field:
            return None  # the key goes into the field
        return True

    def fields(self) -> list[Widget]:
        """The form's visible fields, in order."""
        return [w for w in self.form_box.query("Input, Select, Checkbox")
if w.parent is not None and w.parent.parent.display]

    def action_next_field(self, step: int) -> None:
        """Tab and shift+tab walk the visible fields, whatever had focus before."""
        fields = self.fields()
        if not fields:
            return
        focused = self.app.focused
        current = next((i for i, w in enumerate(fields) if focused is not None
                        and w in focused.ancestors_with_self), None)
        if current is None:
            target = fields[0] if step > 0 else fields[-1]
        else:
            target = fields[(current + step) % len(fields)]
        # Now, not after the next refresh as Widget.focus does: a burst of tabs (read in one go)
        # ran every next_field before the first focus moved, so all of them landed on one field.
        self.screen.set_focus(target)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._mark_focused_row()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self._mark_focused_row()

    def _mark_focused_row(self) -> None:
        # A class, not :focus-within, so the row's label restyles with it.
        focused = self.app.focused
        for row in self.query(".field"):
            row.set_class(focused is not None and row in focused.ancestors, "-focused")

    def action_maximize_table(self) -> None:
        box = self.param_box
        box.toggle_maximized()
        if self.screen.maximized is None:
            self.focus()  # back to the pane: tab enters the form at its first field

    # -- parameter table -------------------------------------------------------------------
    def action_refresh_params(self) -> None:
        self.refresh_params(force=True)

    def refresh_params(self, force: bool = False) -> None:
        """Rebuild the parameter table if the model the form describes changed."""
        cfg = self.config if self.form_mounted else TrainConfig.for_arch(DEFAULT_ARCH)
        if self.form_mounted and cfg is None:
            cfg = self.validate_form()
        table = self.param_table
        if cfg is None:
            self._show_view()  # the error, in place of the table
            self._model_key = None
            return
        # the script depends on every setting, and on the data loaded (source, classes, size)
        code_key = repr((cfg, id(self.app.dataset)))
        if self.view == "code" and (force or code_key != self._code_key):
            self._code_key = code_key
            table.update(f"Writing the Keras code of {cfg.arch}...")
            self.post_message(ExportCode(cfg, code_key))
        key = self._key(cfg)
        if key == self._model_key and not force:
            return  # the model is unchanged (e.g. the learning rate was edited)
        self._model_key = key
        if self.view != "code":
            import sys

            first = "keras" not in sys.modules  # the first build imports Keras: seconds
            table.update(f"Building {cfg.arch}..." + (
                "\nLoading Keras and TensorFlow first (a few seconds, once)." if first else ""))
        self.post_message(BuildModel(key, SUMMARY_WIDTH))

    def _key(self, cfg: TrainConfig) -> tuple:
        """What the parameter table depends on: the architecture, its model options, and the
        data set's class count and image size (CIFAR-10's until the data has loaded)."""
        options = cfg.model_options(download=False)  # counts do not depend on the weights
        ds = self.app.dataset
        dims = (ds.num_classes, ds.image_size) if ds is not None else (10, cfg.image_size)
        return cfg.arch, tuple(sorted(options.items())), dims

    def action_cycle_view(self) -> None:
        views = ("table", "summary", "code")
        self.view = views[(views.index(self.view) + 1) % len(views)]
        names = {"table": "parameter table with formulas", "summary": "Keras's model.summary()",
                 "code": "Keras code (cifar-tui code)"}
        self.notify(f"Model: {names[self.view]} (v: next)", timeout=3)
        if self.view in self._views:
            self._show_view()
        self.refresh_params()

    def show_code(self, code: Any) -> None:
        """The script the app wrote (``tasks.ModelCode``), if it is of the config shown."""
        if code is None or code.key != self._code_key:
            return  # a newer edit has asked for its own
        if code.source is not None:
            from rich.syntax import Syntax

            renderable: object = Syntax(code.source, "python", theme="ansi_dark",
                                        word_wrap=False)
            width = max(len(line) for line in code.source.splitlines()) + 2
        else:  # e.g. fast: say plainly why it has no plain-Keras script
            renderable, width = Text(code.error or "", style="yellow"), 60
        self._set_view("code", renderable, width)

    def show_built(self, built: Any) -> None:
        """The model the app built (``tasks.ModelBuilt``), if it is the one the form describes."""
        if built is None or built.key != self._model_key:
            return  # a newer edit has asked for its own
        from rich.console import Console

        from ..render import param_table_renderable

        error = None if built.error is None else plain_error(built.error)
        if error is None:
            renderable: object = param_table_renderable(built.table)
            summary: object = Text(built.summary)
        else:
            renderable = summary = Text(error, style="red")
        # Natural width, scrolled sideways when narrow, rather than squeezed into ellipses.
        width = Console(width=400).measure(renderable).maximum
        self._built(built.key, error)
        self._set_view("summary", summary, SUMMARY_WIDTH)
        self._set_view("table", renderable, width)

    def _built(self, key: tuple, error: str | None) -> None:
        if (error is not None) != (self._build_error is not None and self._build_error[0] == key):
            self._build_error = (key, error) if error is not None else None
            self.validate_form()  # the reason shows under the field, and s refuses to start

    def _set_view(self, view: str, renderable: object, width: int) -> None:
        self._views[view] = (renderable, width)
        if view == self.view:
            self._show_view()

    def _show_view(self) -> None:
        table = self.param_table
        if self.error is not None:
            # A build started before the edit that broke the form must not hide why.
            table.styles.width = "100%"  # wrapped to the pane, not scrolled sideways
            table.update(Text("Fix the form first: " + self.error, style="red"))
            return
        renderable, width = self._views[self.view]
        table.styles.width = max(width, 20)
        table.update(renderable)
