"""What a person sees at 80x24, pane by pane (pytest-textual-snapshot; --snapshot-update to
accept a deliberate change after looking at the SVG report)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from cifar_tui.app import CifarApp
from cifar_tui.evaluation import evaluate_probs
from cifar_tui.runs import Run

SIZE = (80, 24)


def fixed_run(root, tiny) -> Run:
    """A finished run with a fixed id, so the screens are the same on every machine."""
    path = root / "20260101-000000-cnn-dropout"
    path.mkdir(parents=True)
    run = Run(path)
    run.write_config({"arch": "cnn-dropout", "batch_size": 32, "epochs": 4,
                      "optimizer": "sgd", "learning_rate": 0.01, "normalize": True})
    history = [{"epoch": e, "accuracy": 0.3 + 0.12 * e, "val_accuracy": v, "loss": 2 - 0.3 * e,
                "val_loss": 2.1 - 0.2 * e, "seconds": 44.0, "images_per_sec": 1000.0,
                "learning_rate": 0.01} for e, v in zip(range(1, 5), (0.35, 0.48, 0.55, 0.52))]
    run.write_history(history)
    run.update_state(status="finished", epochs_done=4, created="2026-01-01 00:00:00",
                     best_val_accuracy=0.55)
    labels = tiny.y_test
    probs = np.full((len(labels), 10), 0.02, dtype=np.float32)
    pred = labels.copy()
    pred[::3] = (pred[::3] + 2) % 10
    probs[np.arange(len(labels)), pred] = 0.82
    run.save_predictions(probs, labels)
    run.write_metrics(evaluate_probs(probs, labels).to_dict())
    return run


@pytest.fixture
def app(tmp_path, tiny) -> CifarApp:
    fixed_run(tmp_path / "runs", tiny)
    return CifarApp(runs_root=tmp_path / "runs", loader=lambda source: tiny)


def go(*keys: str, wait_text: str | None = None):
    async def run_before(pilot) -> None:
        app = pilot.app
        while app.dataset is None:
            await pilot.pause(0.05)
        await pilot.press(*keys)
        if wait_text:
            from conftest import static_text
            from textual.widgets import Static

            for _ in range(600):
                if wait_text in static_text(app.query_one("#param-table", Static)):
                    break
                await asyncio.sleep(0.05)
        await pilot.pause(0.2)

    return run_before


def test_data_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("1"))


def test_data_pane_raw_pixels(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("1", "n"))


def test_model_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("2", wait_text="890,410"))


def test_results_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("4"))


def test_predict_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("5", "m"))


def test_runs_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=go("6"))
