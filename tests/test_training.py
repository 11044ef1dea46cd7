from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import image_members, make_arrays, png_bytes, write_batches, write_tree

from cifar_tui.cli import main
from cifar_tui.config import TrainConfig
from cifar_tui.data import Cifar10
from cifar_tui.evaluation import (
    detect_overfitting,
    evaluate_probs,
    expected_calibration_error,
    most_confused_pairs,
)
from cifar_tui.events import BatchProgress, EpochEnd, Failed, Finished, Started, describe
from cifar_tui.models import SpecError
from cifar_tui.pipeline import ArrayBatches
from cifar_tui.runs import Run, RunStore, StorageError, atomic_write_text
from cifar_tui.trainer import evaluate_run, load_run_model, train

SMALL = "C8-P-C16-P-F-FC32"


def cfg(**kw) -> TrainConfig:
    base = {"spec": SMALL, "optimizer": "adam", "learning_rate": 3e-3, "batch_size": 16,
            "epochs": 2, "val_split": 0.2, "patience": 0}
    return TrainConfig.for_arch("custom", **{**base, **kw})


@pytest.fixture(scope="module")
def learnable():
    """40 images per class: enough for a tiny CNN to learn the colour code in 3 epochs."""
    return Cifar10(*make_arrays(40, 5), source="generated")


# The tests that read ``finished`` run in one pytest-xdist worker (--dist loadgroup), so its
# training runs once, not once per worker.
READS_FINISHED = pytest.mark.xdist_group("test_training-finished")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, learnable):
    store = RunStore(tmp_path_factory.mktemp("store"))
    events: list = []
    run = train(cfg(epochs=3), data=learnable, store=store, listener=events.append)
    return run, events


@READS_FINISHED
def test_run_files_history_and_events(finished):
    run, events = finished
    assert run.status == "finished" and run.epochs_done == 3
    for name in ("config.json", "state.json", "history.csv", run.model_path.name,
                 run.checkpoint_path.name, "metrics.json", "predictions.npz"):
        assert (run.path / name).exists(), name
    hist = run.history()
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert {"accuracy", "val_accuracy", "loss", "val_loss", "seconds"} <= set(hist[0])
    kinds = [type(e) for e in events]
    assert kinds[0] is Started and kinds[-1] is Finished
    assert kinds.count(EpochEnd) == 3 and BatchProgress in kinds
    progress = [e for e in events if isinstance(e, BatchProgress)]
    assert progress[-1].step == progress[-1].steps
    started = events[0]
    assert started.train_size == 320 and started.val_size == 80  # 20% stratified
    # recorded for every view's "on how many images"
    assert (run.state["train_images"], run.state["val_images"]) == (320, 80)
    assert run.image_counts == (320, 80)
    assert run.summary()["val_images"] == 80 and run.summary()["test_images"] == 50
    # compile time apart from training time: every epoch's in history.csv (JAX: exact, from its
    # compile events; TensorFlow: estimated from the first calls; PyTorch: eager, none)
    eager = keras.backend.backend() == "torch"
    assert started.compiles is not eager
    assert all(h["compile_seconds"] >= 0 for h in hist)
    if keras.backend.backend() == "jax":
        assert hist[0]["compile_seconds"] > 0
    if eager:
        assert run.compile_seconds == 0.0
    assert events[-1].compile_seconds == run.compile_seconds
    assert run.compile_seconds == pytest.approx(sum(h["compile_seconds"] for h in hist))


@READS_FINISHED
def test_tiny_model_learns_and_evaluation_is_stored(finished):
    run, events = finished
    ev = events[-1].evaluation
    assert ev is not None and ev.n == 50
    assert ev.accuracy > 0.5  # colour-coded classes: far above chance (0.1) after 3 epochs
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["accuracy"] == ev.accuracy
    probs, labels = run.predictions()
    assert probs.shape == (50, 10) and np.allclose(probs.sum(1), 1, atol=1e-4)


@READS_FINISHED
def test_model_loads_with_safe_mode(finished):
    run, _ = finished
    assert load_run_model(run).output_shape == (None, 10)


def test_unsafe_model_file_is_refused(tmp_path):
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(outputs)))
    store = RunStore(tmp_path)
    run = store.create({"arch": "custom"})
    model.save(run.model_path)
    with pytest.raises(ValueError, match="(?i)safe_mode|unsafe|lambda"):
        load_run_model(run)


def test_stop_request_keeps_finished_epochs_then_resume(tmp_path, tiny):
    store = RunStore(tmp_path)
    stop = threading.Event()

    def listener(event):  # ask to stop right after epoch 1: honoured at epoch 2's first batch
        if isinstance(event, EpochEnd) and event.epoch == 1:
            stop.set()

    first: list = []

    def slow_listener(event):  # the first session takes a known second more
        if isinstance(event, Started):
            time.sleep(1.0)
        first.append(event)
        listener(event)

    run = train(cfg(epochs=4), data=tiny, store=store, listener=slow_listener, stop=stop)
    assert run.status == "stopped"
    assert [h["epoch"] for h in run.history()] == [1]
    assert run.checkpoint_path.exists() and not run.metrics
    before = run.train_seconds  # recorded in state.json with the stop
    assert before == first[-1].seconds and before >= 1.0
    steps = first[0].steps
    assert optimizer_steps(run.checkpoint_path) == steps  # epoch 1's, optimizer included

    # An interrupted run's evaluation says which epoch's weights it used.
    evaluate_run(run, tiny)
    assert run.weights_note() == "weights of epoch 1, best val"

    events: list = []
    t = time.perf_counter()
    run = train(run=run, data=tiny, store=store, listener=events.append, evaluate=False)
    resumed = time.perf_counter() - t
    assert events[0].initial_epoch == 1
    assert run.status == "finished"
    assert [h["epoch"] for h in run.history()] == [1, 2, 3, 4]
    # Resumed from the checkpoint's optimizer: its step count goes on from epoch 1's.
    assert optimizer_steps(run.checkpoint_path) == 4 * steps
    # The reported training time is both sessions', not the resumed part's alone.
    total = events[-1].seconds
    assert total == run.train_seconds == run.state["train_seconds"]
    assert resumed < total <= before + resumed + 0.01
    assert describe(events[-1]).startswith(f"finished after 4 epochs in {total:.1f} s")
    # The stored evaluation is still epoch 1's, and says so.
    assert run.weights_note() == ("weights of epoch 1, best val; evaluated after 1 of the 4 "
                                  "epochs now done")
    evaluate_run(run, tiny)
    assert run.metrics["n"] == 20
    best_epoch = int(run.model_path.name[6:10])  # model-NNNN.keras
    assert run.metrics["weights_epoch"] == best_epoch
    assert run.weights_note() == f"weights of epoch {best_epoch}, best val"


def optimizer_steps(path: Path) -> int:
    """The optimizer's step count saved in a checkpoint (any backend)."""
    model = keras.saving.load_model(path, safe_mode=True)
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def test_early_stopping_on_val_accuracy(tmp_path, tiny):
    # A learning rate this small cannot move val accuracy, so patience 1 stops after epoch 2.
    run = train(cfg(epochs=6, patience=1, learning_rate=1e-12, optimizer="sgd"), data=tiny,
                store=RunStore(tmp_path))
    assert run.status == "early-stopped"
    assert run.epochs_done == 2


def test_a_run_records_its_presets_model_options_not_null(tmp_path, tiny):
    """Issue 34 item 9: g runs stored dropout and batch norm as null ("-" in h, the report)."""
    config = TrainConfig.for_arch("cnn-dropout-bn", epochs=1, dropout=None, batch_norm=None)
    run = train(config, data=tiny, store=RunStore(tmp_path), evaluate=False)
    assert (run.config["dropout"], run.config["batch_norm"]) == (0.25, True)


def test_augmentation_schedule_and_label_smoothing_run(tmp_path, tiny):
    run = train(cfg(epochs=2, augment_flip=True, augment_crop=True, schedule="warmup-cosine",
                    label_smoothing=0.1, optimizer="nesterov", learning_rate=0.05),
                data=tiny, store=RunStore(tmp_path), evaluate=False)
    hist = run.history()
    assert hist[1]["learning_rate"] < 0.05  # the schedule is applied
    assert run.status == "finished" and not run.metrics


def test_batches_are_uint8_one_hot_and_reshuffled_per_epoch_by_seed(tiny):
    ds = ArrayBatches(tiny.x_train, tiny.y_train, 8)
    x, y = ds[0]
    assert x.dtype == np.uint8 and x.shape == (8, 32, 32, 3)
    assert y.shape == (8, 10) and np.allclose(y.sum(1), 1)
    assert np.array_equal(y.argmax(1), tiny.y_train[:8])  # no shuffle: in order
    assert len(ds) == -(-len(tiny.x_train) // 8) and len(ds[len(ds) - 1][0]) <= 8

    def epoch_labels(ds: ArrayBatches) -> np.ndarray:
        return np.concatenate([ds[i][1].argmax(1) for i in range(len(ds))])

    a = ArrayBatches(tiny.x_train, tiny.y_train, 8, shuffle=True, seed=3)
    first = epoch_labels(a)
    assert sorted(first) == sorted(tiny.y_train) and not np.array_equal(first, tiny.y_train)
    a.on_epoch_end()
    second = epoch_labels(a)
    assert not np.array_equal(first, second)  # a new order each epoch
    resumed = ArrayBatches(tiny.x_train, tiny.y_train, 8, shuffle=True, seed=3, epoch=1)
    assert np.array_equal(epoch_labels(resumed), second)  # a resumed run sees the same order


def test_scaling_and_augmentation_live_in_the_model():
    from cifar_tui.models import InputStage, build_model

    x = np.full((64, 32, 32, 3), 200, np.uint8)
    x[:, :, :16] = 10  # left half dark: a flip or a shift changes the image
    scaled = build_model("cnn", stage=InputStage(scale=1 / 255))
    raw = build_model("cnn", stage=InputStage(scale=1.0))
    assert scaled.inputs[0].dtype == "uint8"

    def seen(model: keras.Model, training: bool = False) -> np.ndarray:
        probe = keras.Model(model.inputs[0], model.get_layer("conv1").input)
        return keras.ops.convert_to_numpy(probe(x, training=training))

    assert seen(scaled).max() == pytest.approx(200 / 255)
    assert seen(raw).max() == pytest.approx(200.0)
    aug = build_model("cnn", stage=InputStage(flip=True, pixels=4, seed=1))
    assert np.allclose(seen(aug), x / 255)  # inference: untouched
    out = seen(aug, training=True)
    assert not all(np.allclose(out[0], o) for o in out[1:])  # per-image random views
    padded = np.pad(x[0] / 255, ((4, 4), (4, 4), (0, 0)), mode="reflect")
    views = [v[dy:dy + 32, dx:dx + 32] for v in (padded, padded[:, ::-1])
             for dy in range(9) for dx in range(9)]
    assert all(any(np.allclose(o, v) for v in views) for o in out)  # each a flip/shift


def test_failure_is_recorded(tmp_path, tiny):
    events: list = []
    with pytest.raises(SpecError):
        train(cfg(spec="C8-FC3"), data=tiny, store=RunStore(tmp_path), listener=events.append)
    run = RunStore(tmp_path).list()[0]
    assert run.status == "failed" and "flat input" in run.state["error"]
    assert isinstance(events[-1], Failed)


def test_config_validation():
    with pytest.raises(ValueError, match="batch size"):
        cfg(batch_size=0).validate()
    with pytest.raises(ValueError, match="validation split"):
        cfg(val_split=1.5).validate()
    c = TrainConfig.for_arch("cnn-dropout", batch_size=64)
    assert (c.batch_size, c.optimizer, c.patience, c.val_split) == (64, "sgd", 2, 0.1)
    assert TrainConfig.from_dict({**c.to_dict(), "unknown": 1}) == c


def test_full_disk_loses_nothing(tmp_path):
    target = tmp_path / "history.csv"
    atomic_write_text(target, "old")

    import cifar_tui.runs as runs

    def full(p: Path) -> None:
        p.write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(StorageError, match="disk is full"):
        runs._atomic(target, full)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]


def test_run_store_lookup_and_interrupted_status(tmp_path):
    store = RunStore(tmp_path)
    run = store.create({"arch": "cnn", "epochs": 3})
    assert store.get(run.id).path == run.path
    assert store.get(run.id[-10:]).path == run.path
    with pytest.raises(LookupError, match="no run"):
        store.get("zzz")
    run.update_state(status="running", pid=2**22 + 12345, host=__import__("socket").gethostname())
    assert run.status == "interrupted"


# -- evaluation ------------------------------------------------------------------------------


def test_evaluation_metrics_on_known_predictions():
    labels = np.array([0, 0, 1, 1, 3, 3, 3, 3])
    pred = np.array([0, 1, 1, 1, 5, 5, 5, 3])
    probs = np.full((8, 10), 0.01)
    probs[np.arange(8), pred] = 0.91
    ev = evaluate_probs(probs, labels)
    assert ev.accuracy == pytest.approx(4 / 8)
    assert ev.confusion[3][5] == 3 and ev.confusion[0][1] == 1
    assert ev.confused_pairs[0] == {"true": "cat", "predicted": "dog", "count": 3, "rate": 0.75}
    assert ev.per_class[3]["recall"] == pytest.approx(0.25)
    assert ev.ece == pytest.approx(0.91 - 0.5)


def test_ece_zero_when_calibrated_and_pairs_skip_zeros():
    probs = np.array([[1.0] + [0.0] * 9] * 4)
    assert expected_calibration_error(probs, np.zeros(4, int)) == 0.0
    cm = np.eye(10, dtype=int) * 5
    cm[2, 4] = 1
    assert most_confused_pairs(cm) == [{"true": "bird", "predicted": "deer", "count": 1,
                                        "rate": 1 / 6}]


def test_detect_overfitting_needs_a_sustained_trend_not_a_one_epoch_dip():
    h = [{"epoch": 1, "accuracy": 0.5, "val_accuracy": 0.5},
         {"epoch": 2, "accuracy": 0.6, "val_accuracy": 0.55}]
    assert detect_overfitting(h) is None
    h.append({"epoch": 3, "accuracy": 0.7, "val_accuracy": 0.52})
    assert detect_overfitting(h) is None  # one dip (the 0.295 -> 0.220) is noise
    h.append({"epoch": 4, "accuracy": 0.8, "val_accuracy": 0.50})
    warning = detect_overfitting(h)
    assert "Overfitting trend" in warning and "epoch 4" in warning and "0.550 -> 0.500" in warning
    h.append({"epoch": 5, "accuracy": 0.85, "val_accuracy": 0.56})
    assert detect_overfitting(h) is None  # recovered
    by_loss = [{"epoch": e, "loss": 1 - e / 10, "val_loss": 1 + e / 10} for e in (1, 2, 3)]
    assert "val loss 1.100 -> 1.300" in detect_overfitting(by_loss)


def test_the_overfitting_warning_names_only_what_got_worse():
    """Issue 34 item 8: "validation got worse (val loss 1.583 -> 1.520, val acc 0.470 -> 0.447)"
    where val loss went 1.583, 1.520, 1.520."""
    h = [{"epoch": e, "accuracy": a, "loss": tl, "val_accuracy": va, "val_loss": vl}
         for e, a, tl, va, vl in [(1, 0.40, 1.70, 0.470, 1.583), (2, 0.45, 1.60, 0.455, 1.520),
                                  (3, 0.50, 1.50, 0.447, 1.520)]]
    warning = detect_overfitting(h)
    assert "val acc 0.470 -> 0.447" in warning and "val loss" not in warning, warning
    # each epoch widened the gap by another measure, and over the two neither got worse
    h[2].update(val_accuracy=0.480, val_loss=1.580)
    assert detect_overfitting(h) is None


# -- CLI -------------------------------------------------------------------------------------


def test_cli_train_runs_eval_predict(tmp_path, arrays, capsys):
    data = write_batches(tmp_path / "b", arrays)
    runs = tmp_path / "runs"
    code = main(["train", "custom", "--spec", SMALL, "--epochs", "1", "--batch-size", "16",
                 "--optimizer", "adam", "--lr", "0.003", "--data", str(data), "--runs", str(runs)])
    out = capsys.readouterr().out
    assert code == 0 and "epoch 1/1" in out and "test accuracy" in out
    assert main(["runs", "--runs", str(runs), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["runs"]
    assert listed[0]["status"] == "finished" and listed[0]["arch"] == "custom"
    run_id = listed[0]["run"]
    assert main(["eval", run_id, "--runs", str(runs), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_images"] == 20

    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(np.full((300, 451, 3), 200, np.uint8)))
    assert main(["predict", run_id, str(photo), "--runs", str(runs), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)["predictions"][0]
    assert abs(sum(pred["probabilities"].values()) - 1) < 1e-3

    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert main(["predict", run_id, str(text), "--runs", str(runs)]) == 1
    assert "not an image" in capsys.readouterr().err


SCRIPT_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
def test_killed_run_resumes_from_last_finished_epoch(tmp_path, arrays):
    data = write_tree(tmp_path / "imgs", image_members(arrays))
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "cifar_tui.cli", "--runs", str(runs), "--data", str(data)]
    proc = subprocess.Popen([*cmd, "train", "custom", "--spec", "C16-C16-P-C32-P-F-FC64",
                             "--epochs", "40", "--batch-size", "4", "--patience", "0",
                             "--no-eval"], env=SCRIPT_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    history = None
    while time.time() < deadline:
        found = list(runs.glob("*/history.csv"))
        if found and len(found[0].read_text().splitlines()) >= 3:  # header + 2 epochs
            history = found[0]
            break
        time.sleep(0.2)
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    assert history is not None, proc.stdout.read()
    run = Run(history.parent)
    done = run.epochs_done
    assert done >= 2 and run.status == "interrupted"
    cfg_path = run.path / "config.json"
    cfg_json = json.loads(cfg_path.read_text())
    cfg_json["epochs"] = done + 1  # finish quickly: one more epoch
    cfg_path.write_text(json.dumps(cfg_json))
    res = subprocess.run([*cmd, "train", "--resume", run.id], env=SCRIPT_ENV,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    assert f"resuming after epoch {done}" in res.stdout
    assert [h["epoch"] for h in run.history()] == list(range(1, done + 2))
    assert run.status == "finished"


@pytest.mark.slow
def test_sigterm_stops_cleanly(tmp_path, arrays):
    data = write_batches(tmp_path / "b", arrays)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cifar_tui.cli", "--runs", str(runs), "train", "custom",
         "--spec", SMALL, "--epochs", "500", "--batch-size", "4", "--patience", "0",
         "--data", str(data)], env=SCRIPT_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(runs.glob("*/history.csv")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)  # (a SIGHUP no longer stops it: test_live_tui)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    run = RunStore(runs).list()[0]
    assert run.status == "stopped" and run.epochs_done >= 1
    assert "SIGTERM" in err


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path, arrays):
    data = write_batches(tmp_path / "b", arrays)
    script = textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from cifar_tui.config import TrainConfig
        from cifar_tui.trainer import train
        from cifar_tui.runs import RunStore
        seen = []
        cfg = TrainConfig.for_arch("custom", spec="{SMALL}", epochs=1, batch_size=8,
                                   devices=["/cpu:0", "/cpu:1"], data="{data}")
        run = train(cfg, store=RunStore("{tmp_path / 'runs'}"), listener=seen.append)
        assert run.status == "finished", run.status
        print("replicas", seen[0].replicas, run.epochs_done)
    """)
    res = subprocess.run([sys.executable, "-c", script], env=SCRIPT_ENV, capture_output=True,
                         text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "replicas 2 1" in res.stdout


@pytest.mark.slow
def test_fast_recipe_lookahead_tta_and_warmup_linear_schedule(tmp_path, learnable):
    from cifar_tui.schedules import WarmupLinear

    sched = WarmupLinear(1.0, 100, 20)
    values = [float(sched(s)) for s in (0, 10, 20, 60, 100)]
    assert values == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])
    sched = WarmupLinear(1.0, 100, 20, start=0.2)  # airbench's triangle starts at 0.2
    assert [float(sched(s)) for s in (0, 10, 20)] == pytest.approx([0.2, 0.6, 1.0])
    cfg = TrainConfig.for_arch("fast", epochs=2, batch_size=64, val_split=0.2)
    assert (cfg.lookahead, cfg.tta, cfg.schedule, cfg.crop_pixels) == \
        (True, True, "warmup-linear", 2)
    events: list = []
    run = train(cfg, data=learnable, store=RunStore(tmp_path), listener=events.append)
    assert run.status == "finished" and run.metrics["n"] == 50
    # why XLA is on or off (TensorFlow on a CPU) is in the hardware line and the start line
    from cifar_tui import trainer

    why = trainer.jit_choice(cfg)[1]
    if why:
        assert run.state["hardware"].endswith(f"; {why}")
        assert next(e for e in events if isinstance(e, Started)).backend.endswith(f" ({why})")
    model = load_run_model(run)  # the schedule, ScaledBias and GELU reload under safe_mode
    gelus = [layer for layer in model.layers if type(layer).__name__ == "GELU"]
    assert len(gelus) == 7 and all(layer.form == "xla" for layer in gelus)
    assert model.optimizer._learning_rate.get_config()["start"] == 0.2
    assert model.optimizer._learning_rate.get_config()["end"] == 0.07
    offsets = [layer for layer in model.layers if type(layer).__name__ == "ScaledBias"]
    assert len(offsets) == 6 and all(layer.multiplier == 8.0 for layer in offsets)
    assert any(np.abs(layer.get_weights()[0]).sum() > 0 for layer in offsets)  # they learned
    whiten = model.get_layer("whiten").get_weights()[0]
    assert np.abs(whiten).sum() > 0  # filled from the data, then kept frozen
    # The pipeline mirrors on alternate epochs, so the model's own random flip is off.
    assert not model.get_layer("augment").flip and model.get_layer("augment").pixels == 2


class _SeenCompiled(keras.callbacks.Callback):
    """What a run's model is compiled with, and whether op determinism is on, as it trains."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[bool, bool]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        from tensorflow.python.framework import config as tf_config

        self.seen.append((bool(self.model.jit_compile), tf_config.is_op_determinism_enabled()))


def test_a_run_given_xla_gets_it_after_a_seeded_run_without(tmp_path, tiny):
    """Seeding turned TensorFlow's op determinism on for the whole process, and Keras turns XLA
    off while it is on: every seeded run lost the XLA that jit_choice picked for `fast` in
    float32 on a CPU without AVX-512 (seen on a Zen 3), and its hardware line lost the why.
    A run compiled with XLA turns determinism off; the next run without XLA turns it back on."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("op determinism and this fallback are TensorFlow's")
    spy = _SeenCompiled()
    for jit in ("off", "on", "off"):
        train(cfg(epochs=1, val_split=0, jit_compile=jit), data=tiny, store=RunStore(tmp_path),
              evaluate=False, callbacks=[spy])
    assert spy.seen == [(False, True), (True, False), (False, True)]


def test_the_finished_line_says_how_many_test_images_the_accuracy_is_on():
    """The CLI's last line and the Train pane's log (one ``describe``) gave a test accuracy
    without its image count, though ``--test-subset`` changes it."""
    from cifar_tui.events import Finished, describe

    labels = np.arange(200) % 10
    ev = evaluate_probs(np.eye(10, dtype=np.float32)[labels], labels)
    text = describe(Finished("r", "finished", 2, 0.5, ev, 3.0, "weights of epoch 2"))
    assert "test accuracy 1.0000 on 200 images" in text


def test_bfloat16_on_a_cpu_that_has_it_trains_resumes_and_is_recorded(tmp_path, tiny,
                                                                       monkeypatch):
    """On a CPU with AVX512-BF16, auto computes in bfloat16 (float32 weights); a run resumed
    where the CPU lacks it goes on in the bfloat16 it was built with, and says so."""
    from cifar_tui import trainer

    store = RunStore(tmp_path)
    stop = threading.Event()
    monkeypatch.setattr(trainer, "cpu_has_bf16", lambda: True)
    run = train(cfg(epochs=2), data=tiny, store=store, stop=stop,
                listener=lambda e: isinstance(e, EpochEnd) and stop.set())
    assert run.status == "stopped" and run.state["hardware"].endswith("; bfloat16 compute")
    assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards
    monkeypatch.setattr(trainer, "cpu_has_bf16", lambda: False)
    events: list = []
    run = train(run=run, data=tiny, store=store, listener=events.append)
    assert run.status == "finished" and run.state["hardware"].endswith("; bfloat16 compute")
    assert events[0].backend.endswith(" in bfloat16")  # the start line says so too
    model = load_run_model(run)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "bfloat16" for layer in convs)
    assert all(w.dtype == "float32" for layer in convs for w in layer.weights)
    assert model.layers[-1].compute_dtype == "float32"  # the softmax stays float32
    assert 0 <= run.metrics["accuracy"] <= 1
    # Without bfloat16 in the CPU a new run stays in float32, and the hardware line says nothing.
    run = train(cfg(epochs=1), data=tiny, store=store, evaluate=False, listener=events.append)
    started = [e for e in events if isinstance(e, Started)]
    assert "compute" not in run.state["hardware"] and "float16" not in started[-1].backend


def test_one_epoch_is_said_in_the_singular():
    """Issue 34 item 15: "stopped after 1 epochs"."""
    from cifar_tui.events import describe

    assert describe(Finished("r", "stopped", 1, None, None, 3.0)).startswith(
        "stopped after 1 epoch in 3.0 s")
    assert describe(Finished("r", "finished", 2, None, None, 3.0)).startswith(
        "finished after 2 epochs in")


def test_each_epoch_commits_its_wall_time_with_its_training_time(tmp_path, tiny):
    """A session killed after an epoch kept its training time but not its wall time, so the
    resumed run said "10.4 s of training (wall 8.2 s)": both are committed with the epoch."""
    from cifar_tui.events import EpochEnd
    from cifar_tui.runs import Run, RunStore

    committed: list[dict] = []

    def listener(event: object) -> None:
        if isinstance(event, EpochEnd):  # emitted right after the epoch's commit
            committed.append(Run(tmp_path / "runs" / event.run_id).state)

    train(cfg(epochs=2), data=tiny, store=RunStore(tmp_path / "runs"), listener=listener)
    assert len(committed) == 2
    for state in committed:
        assert state["wall_seconds"] >= state["train_seconds"] > 0, state
