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
