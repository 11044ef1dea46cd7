"""The trainer's progress callback, on a fake clock: the live figures it streams."""

from __future__ import annotations

import pytest

from cifar_tui import callbacks
from cifar_tui.events import BatchProgress
from cifar_tui.runs import RunStore


@pytest.mark.parametrize("train_size, batch_size", [(900, 128), (1000, 128), (50, 16)])
def test_live_images_per_second_counts_the_real_batch_size(tmp_path, monkeypatch, train_size,
                                                            batch_size):
    """img/s = images seen / seconds, with the configured batch size: not one re-derived from
    the step count (``ceil(900 / 8)`` = 113 for batch 128 read 12 % low)."""
    clock = [100.0]
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: clock[0])
    steps = train_size // batch_size  # the trainer drops the short last batch
    run = RunStore(tmp_path).create({"arch": "custom"})
    events: list = []
    cb = callbacks.RunCallback(run, events.append, None, epochs=1, steps=steps,
                               train_size=train_size, batch_size=batch_size, early=None,
                               has_val=False, throttle_s=0.0)
    cb.on_epoch_begin(0)
    for step in range(1, steps + 1):
        clock[0] += 0.5  # each batch takes half a second
        cb.on_train_batch_end(step - 1, {"loss": 1.0, "accuracy": 0.5})
    progress = [e for e in events if isinstance(e, BatchProgress)]
    assert [p.step for p in progress] == list(range(1, steps + 1))
    for p in progress:
        assert p.images_per_sec == pytest.approx(batch_size / 0.5)
        assert p.eta_s == pytest.approx((steps - p.step) * 0.5)


@pytest.mark.parametrize("train_size, batch_size, trained", [
    (50_000, 1024, 48 * 1024),  # fast: 48 steps of 1024 train 49,152 images, not 50,000
    (900, 128, 896), (50, 16, 48),
    (10, 16, 10),  # fewer images than one batch: one short batch of all of them
])
def test_history_images_per_second_counts_the_images_trained(tmp_path, monkeypatch, train_size,
                                                             batch_size, trained):
    """An epoch's img/s in the history = images trained / training seconds. The trainer drops
    the short last batch, so that is steps x batch size, not every train image (which read
    about 4 % high for ``fast``'s 50,000 images in batches of 1024)."""
    import numpy as np

    from cifar_tui.events import EpochEnd
    from cifar_tui.pipeline import ArrayBatches

    clock = [100.0]
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(callbacks, "current_lr", lambda model: 0.01)
    steps = ArrayBatches(np.zeros((train_size, 1), np.uint8), np.zeros(train_size), batch_size,
                         drop_remainder=True).num_batches  # what the trainer steps through
    run = RunStore(tmp_path).create({"arch": "custom"})
    monkeypatch.setattr(run, "commit_epoch", lambda model, history, **kw: None)  # no model
    events: list = []
    cb = callbacks.RunCallback(run, events.append, None, epochs=1, steps=steps,
                               train_size=train_size, batch_size=batch_size, early=None,
                               has_val=False, throttle_s=0.0)
    cb.on_epoch_begin(0)
    for step in range(steps):
        clock[0] += 0.5
        cb.on_train_batch_end(step, {"loss": 1.0, "accuracy": 0.5})
    clock[0] += 3.0  # validation: not training time
    cb.on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5})
    (end,) = [e for e in events if isinstance(e, EpochEnd)]
    assert end.metrics["images_per_sec"] == pytest.approx(round(trained / (steps * 0.5), 1))
    assert end.metrics["seconds"] == pytest.approx(steps * 0.5 + 3.0)
