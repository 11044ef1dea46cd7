"""The Model form through Pilot at 80x24: focus order after every mode switch, keys that
belong to the field, validation as typed, and architecture switches that keep the user's values."""

from __future__ import annotations

from functools import partial

import pytest
from conftest import static_text
from test_app import FakeTrainer, make_app
from textual.widgets import Input, Select, Static, TabbedContent

SIZE = (80, 24)
# The visible fields of the cnn form, in order (TrainConfig's order, minus hidden options).
CNN_FIELDS = ["arch", "f-dropout", "f-batch_norm", "f-optimizer", "f-learning_rate",
              "f-schedule", "f-momentum", "f-weight_decay", "f-batch_size", "f-epochs"]


async def tab_ids(pilot, n: int, key: str = "tab") -> list[str]:
    ids = []
    for _ in range(n):
        await pilot.press(key)
        ids.append(pilot.app.focused.id)
    return ids


async def open_form(pilot) -> None:
    await pilot.press("2")
    await pilot.pause()  # the form is mounted lazily, after the first frame


async def read_in_one_go(pilot, data: str) -> None:
    """The bytes a terminal sends, read by the app in one go (tmux send-keys, an SSH packet):
    Textual's own parser turns them into the key events the app gets."""
    from textual._xterm_parser import XTermParser

    app = pilot.app
    for event in XTermParser().feed(data):
        app.post_message(event)
    await pilot.pause()
    # the app acts on the keys one after another (keyorder.py): until the last has acted
    while getattr(app, "_keys_waiting", None) or getattr(app, "_key_in_flight", False):
        await pilot.pause()


async def type_learning_rate(pilot, value: str) -> None:
    """Open the form and replace the learning rate with ``value``, as typed."""
    await open_form(pilot)
    await tab_ids(pilot, CNN_FIELDS.index("f-learning_rate") + 1)
    await pilot.press("ctrl+u", *value)
    await pilot.pause()


@pytest.mark.slow
async def test_tab_walks_the_visible_fields_after_every_mode_switch(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(pilot)
        assert await tab_ids(pilot, len(CNN_FIELDS)) == CNN_FIELDS
        await pilot.press("escape", "f")  # full-screen table and back
        assert app.screen.maximized is not None
        await pilot.press("f")
        assert app.screen.maximized is None
        assert await tab_ids(pilot, 3) == CNN_FIELDS[:3]
        assert await tab_ids(pilot, 2, "shift+tab") == CNN_FIELDS[1::-1]
        await pilot.press("escape", "4", "2")  # another pane and back
        assert await tab_ids(pilot, 2) == CNN_FIELDS[:2]
        await pilot.press("escape")
        assert await tab_ids(pilot, 1, "shift+tab") == ["f-test_subset"]  # wraps to the last
        # The batch-size box is where the 64 went astray: it lands there now.
        await pilot.press("escape")
        await tab_ids(pilot, CNN_FIELDS.index("f-batch_size") + 1)
        await pilot.press("ctrl+u", "6", "4")
        await pilot.pause()
        assert app.config.batch_size == 64 and app.config.learning_rate == 0.01


async def test_keys_typed_in_any_field_stay_in_the_field(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(pilot)
        await pilot.press("tab")
        assert app.focused.id == "arch"
        await pilot.press(*"C16-P-GAP", "s", "q")  # on the architecture picker: nothing acts
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "model"
        assert not app.training and app.is_running
        await pilot.press("tab", "tab")  # the batch-norm checkbox: digits and p do nothing
        await pilot.press("3", "p", "f")
        assert app.query_one(TabbedContent).active == "model"
        assert app.screen.maximized is None
        footer = [b.binding.description for b in app.screen.active_bindings.values()
                  if b.binding.show]
        assert "Leave field" in footer and {"Start", "Stop", "Quit"} <= set(footer)


async def test_the_focused_field_is_marked_without_colour(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(pilot)
        await tab_ids(pilot, 4)
        label = app.focused.parent.query_one("Label")
        assert app.focused.id == "f-optimizer"
        assert label.styles.text_style.reverse and label.styles.text_style.bold
        other = app.query_one("#f-epochs").parent.query_one("Label")
        assert not other.styles.text_style.reverse


async def test_values_are_checked_as_typed_with_the_reason_by_the_field(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await type_learning_rate(pilot, "64")
        error = app.query_one("#err-learning_rate", Static)
        assert error.display and "would diverge" in static_text(error)
        assert app.config is None
        await pilot.press("escape", "s")  # refused: nothing starts, the reason is given
        await pilot.pause()
        assert not app.training and not list(app.store.list())
        await pilot.press("tab")
        await tab_ids(pilot, CNN_FIELDS.index("f-learning_rate"))
        await pilot.press("ctrl+u", *"0.05")
        await pilot.pause()
        assert not app.query_one("#err-learning_rate", Static).display
        assert app.config.learning_rate == 0.05


async def test_changing_the_architecture_keeps_the_users_values_and_says_so(tmp_path, tiny):
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(pilot)
        app.query_one("#f-epochs", Input).value = "3"
        app.query_one("#f-optimizer", Select).value = "adam"
        app.query_one("#f-dropout", Input).value = "0.1"
        await pilot.pause()
        app.query_one("#arch", Select).value = "cnn-dropout-bn"
        await pilot.pause()
        cfg = app.config
        assert (cfg.epochs, cfg.optimizer) == (3, "adam")  # kept
        assert (cfg.dropout, cfg.batch_norm) == (0.25, True)  # what the preset is
        note = [n.message for n in app._notifications][-1]
        assert "kept your" in note and "epochs 3" in note and "optimizer adam" in note
        assert "dropout 0.25" in note
        app.query_one("#arch", Select).value = "resnet9"
        await pilot.pause()
        assert app.config.epochs == 3 and app.config.batch_size == 512  # untouched: preset's


async def test_an_architecture_change_says_so_when_only_a_model_option_was_set(tmp_path, tiny):
    """The note was shown only while the user had set a field the new preset keeps: a dropout the
    user typed was replaced by the preset's without a word."""
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(pilot)
        app.query_one("#arch", Select).value = "cnn-dropout"
        await pilot.pause()
        assert not app._notifications  # nothing of the user's was touched: nothing to say
        app.query_one("#f-dropout", Input).value = "0.1"
        await pilot.pause()
        app.query_one("#arch", Select).value = "cnn-dropout-bn"
        await pilot.pause()
        assert app.config.dropout == 0.25
        notes = [n.message for n in app._notifications]
        assert notes and "the preset set dropout 0.25" in notes[-1], notes


async def test_a_model_that_does_not_build_is_refused_with_no_run_left(tmp_path, tiny):
    trainer = FakeTrainer(tiny, epochs=1)
    app = make_app(tmp_path, tiny, trainer)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(pilot)
        app.query_one("#arch", Select).value = "custom"
        await pilot.pause()
        app.query_one("#f-spec", Input).value = ""
        await pilot.pause()
        assert "enter the layers" in static_text(app.query_one("#err-spec", Static))
        app.query_one("#f-spec", Input).value = "C32-FC64"  # dense on a 4-d tensor
        await app.workers.wait_for_complete()  # the parameter table's build
        await pilot.pause()
        assert "needs a flat input" in static_text(app.query_one("#err-spec", Static))
        await pilot.press("s")
        await app.workers.wait_for_complete()
        assert not trainer.calls and app.store.list() == []  # no failed 0/10 run left behind
        app.query_one("#f-spec", Input).value = "C8-P-F-FC16"
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.query_one("#err-spec", Static).display
        await pilot.press("s")
        await app.workers.wait_for_complete()
        assert len(trainer.calls) == 1


def test_backend_errors_are_shown_as_one_plain_sentence():
    from cifar_tui.widgets import plain_error

    raw = ("{{function_node __wrapped__StatelessRandomUniformV2_device_/job:localhost/replica:0/"
           "task:0/device:CPU:0}} OOM when allocating tensor with shape[3072,99999999] and type "
           "float on /job:localhost/replica:0/task:0/device:CPU:0 by allocator cpu "
           "[Op:StatelessRandomUniformV2] name:")
    assert plain_error(RuntimeError(raw)) == (
        "out of memory: one weight tensor alone is 3072x99999999; use fewer units or layers")
    assert plain_error(ValueError("{{node x}} bad thing\nTraceback ...")) == "bad thing"


async def test_a_build_that_ends_after_the_form_broke_keeps_the_error_shown(tmp_path, tiny,
                                                                           monkeypatch):
    """The table build started on opening the pane must not hide a later error when it ends."""
    import threading

    import cifar_tui.models as models

    release, real = threading.Event(), models.build_model

    def slow_build(*args, **kwargs):
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(models, "build_model", slow_build)
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await type_learning_rate(pilot, "64")
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Fix the form first: learning rate" in static_text(
            app.query_one("#param-table", Static))


async def test_keys_read_in_one_burst_act_in_the_order_typed(tmp_path, tiny):
    """tmux send-keys C-u 5 0 (or SSH sending several keys in one packet) reaches the app in one
    read. Textual typed the 5 and 0 at once but cleared the field with ctrl+u only after that key
    had bubbled up to the app, so the field ended empty; backspace and the arrows likewise."""
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(pilot)
        await tab_ids(pilot, CNN_FIELDS.index("f-learning_rate") + 1)
        field = app.focused
        assert field.id == "f-learning_rate" and field.value == "0.01"

        async def burst(data: str) -> str:
            await read_in_one_go(pilot, data)
            return field.value

        assert await burst("\x1550") == "50"  # ctrl+u 5 0
        assert await burst("\x15" "0.05") == "0.05"
        assert await burst("\x7f\x7f" "3") == "0.3"  # backspace backspace 3
        assert await burst("\x1b[D" "1") == "0.13"  # left 1
        assert app.config.learning_rate == 0.13 and app.focused is field
        await pilot.press("escape")
        await burst("\t" * (CNN_FIELDS.index("f-batch_size") + 1))  # tabs in one read
        assert app.focused.id == "f-batch_size"  # each tab moved on from the one before


async def test_keys_read_with_a_tab_go_to_the_field_the_tab_moves_to(tmp_path, tiny):
    """Keys read in one go with a tab (tmux send-keys, SSH packets) were forwarded to the field
    that had focus when they arrived, before the tab had bubbled up to the pane and moved focus:
    ``Tab C-u 6 4`` in the weight decay cleared it and typed 64 there, then moved on."""
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(pilot)
        await tab_ids(pilot, CNN_FIELDS.index("f-weight_decay") + 1)
        decay = app.focused
        assert decay.id == "f-weight_decay"
        before = decay.value
        burst = partial(read_in_one_go, pilot)

        await burst("\t\x1564")  # tab, ctrl+u, 6, 4
        batch = app.query_one("#f-batch_size")
        assert app.focused is batch and batch.value == "64" and decay.value == before
        await burst("\t\x153\x1b[Z\x1b[Z\x15" "0.002")  # epochs 3, back two, weight decay
        assert app.query_one("#f-epochs").value == "3" and batch.value == "64"
        assert app.focused is decay and decay.value == "0.002"
        await burst("\x1b[Z" * 3 + "\x15" "0.02")  # to the learning rate past a drop-down list
        assert app.focused.id == "f-learning_rate" and app.focused.value == "0.02"
        assert (app.config.batch_size, app.config.epochs, app.config.weight_decay,
                app.config.learning_rate) == (64, 3, 0.002, 0.02)


async def test_esc_and_a_digit_read_together_leave_the_field_for_that_pane(tmp_path, tiny):
    """Esc then 3, typed over a slow SSH link or while the app is busy for a moment, can reach
    it in one read: ESC 3 is also how a terminal sends Alt+3, and Textual reads it as the "£"
    that Option+3 types on a Mac. The field kept the focus, the pane stayed, and "£" went to
    the field as typed (a user saw pane 2's keys where they had asked for pane 3)."""
    from textual.screen import ModalScreen

    from cifar_tui.app import PANES
    from cifar_tui.widgets import typing_in_field

    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        tabs = app.query_one(TabbedContent)
        burst = partial(read_in_one_go, pilot)

        for digit, pane in enumerate(PANES, start=1):
            await open_form(pilot)
            await tab_ids(pilot, CNN_FIELDS.index("f-learning_rate") + 1)
            field = app.focused
            await burst(f"\x1b{digit}")
            assert tabs.active == pane, digit
            assert field.value == "0.01" and not typing_in_field(app)
        # The Predict pane's free-text path field: Esc 2 leaves it for the Model pane.
        await pilot.press("5", "o", *"a.png")
        path = app.query_one("#pred-path", Input)
        assert app.focused is path
        await burst("\x1b2")
        assert tabs.active == "model" and path.value == "a.png" and not typing_in_field(app)
        # A terminal that reports modifiers (kitty's keyboard protocol) sends alt+4 as such.
        await pilot.press("alt+4")
        assert tabs.active == "results"
        # Over a dialog the keys are the dialog's: no pane changes beneath it.
        await app.push_screen(ModalScreen())
        await burst("\x1b3")
        assert app.screen.is_modal and tabs.active == "results"


async def test_fasts_lr_and_weight_decay_follow_its_batch_size_and_momentum(tmp_path, tiny):
    """airbench's rates are per 1024 images: at batch 512 the learning rate is halved, at
    momentum 0.9 both are retuned, as the form shows; a rate typed by hand is kept."""
    app = make_app(tmp_path, tiny)
    async with app.run_test(size=SIZE) as pilot:
        await open_form(pilot)
        app.query_one("#arch", Select).value = "fast"
        await pilot.pause()
        lr, wd = app.query_one("#f-learning_rate", Input), app.query_one("#f-weight_decay", Input)
        assert (lr.value, wd.value) == ("1.5", "0.0089")
        app.query_one("#f-batch_size", Input).value = "512"
        await pilot.pause()
        assert (lr.value, wd.value) == ("0.75", "0.0089")
        assert (app.config.learning_rate, app.config.weight_decay) == (0.75, 0.0089)
        app.query_one("#f-momentum", Input).value = "0.9"
        await pilot.pause()
        assert (lr.value, wd.value) == ("0.52", "0.013")
        lr.value = "0.3"  # the user's own rate stays; the decay still follows
        await pilot.pause()
        app.query_one("#f-momentum", Input).value = "0.85"
        await pilot.pause()
        assert (lr.value, wd.value) == ("0.3", "0.0089")
        assert (app.config.learning_rate, app.config.weight_decay) == (0.3, 0.0089)
