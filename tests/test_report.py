"""The report command: files, figure sizes, what the markdown names, and bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import make_arrays, write_batches
from PIL import Image

from cifar_tui import figures
from cifar_tui.cli import main
from cifar_tui.config import TrainConfig
from cifar_tui.data import Cifar10
from cifar_tui.evaluation import worst_of_pair
from cifar_tui.report import write_report
from cifar_tui.runs import RunStore
from cifar_tui.trainer import train

SMALL = "C8-P-C16-P-F-FC32"


def _cfg(**kw) -> TrainConfig:
    base = {"spec": SMALL, "optimizer": "adam", "learning_rate": 3e-3, "batch_size": 16,
            "epochs": 2, "val_split": 0.2, "patience": 0}
    return TrainConfig.for_arch("custom", **{**base, **kw})


@pytest.fixture(scope="module")
def data() -> Cifar10:
    return Cifar10(*make_arrays(20, 4), source="generated")


# The tests that read ``store`` run in one pytest-xdist worker (--dist loadgroup), so its two
# trainings run once, not once per worker.
READS_STORE = pytest.mark.xdist_group("test_report-store")


@pytest.fixture(scope="module")
def store(tmp_path_factory, data) -> RunStore:
    store = RunStore(tmp_path_factory.mktemp("store"))
    train(_cfg(), data=data, store=store)
    train(_cfg(batch_size=32, epochs=3), data=data, store=store)
    return store


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.load()  # decodes the whole file, not just the header
        assert im.format == "PNG"
        return im.size


@READS_STORE
def test_single_run_report_files_figures_and_markdown(tmp_path, store, data):
    run = store.list()[0]
    report = write_report([run], tmp_path / "rep", data)
    md = report.markdown.read_text()
    assert report.markdown.exists() and report.html.exists()
    names = {p.name: p for p in report.figures}
    assert set(names) == {"history.png", "gallery.png", "confusion.png", "per_class.png",
                          "confused_pairs.png", "predictions.png"}
    n_pairs = len(run.metrics["confused_pairs"])
    expected = {"history.png": figures.pixel_size("history"),
                "gallery.png": figures.gallery_pixel_size(10),  # issue 35: task 5's gallery
                "confusion.png": figures.pixel_size("confusion"),
                "per_class.png": figures.pixel_size("per_class"),
                "confused_pairs.png": figures.pixel_size("confused_pairs", max(1, n_pairs)),
                # 12 images, 4 a row: every class at least once
                "predictions.png": figures.pixel_size("predictions", 3)}
    for name, path in names.items():
        assert path.is_file() and path.is_relative_to(tmp_path / "rep")
        assert _png_size(path) == expected[name], name
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(linked) == sorted(p.relative_to(tmp_path / "rep").as_posix()
                                    for p in report.figures)
    for text in ("# CIFAR-10 report", "## Data",
                 "CIFAR-10: 10 classes, 32x32 RGB images, 200 training images (20 a class;",
                 "and 40 test images", "the first 8 training images of each class",
                 "Test accuracy", "Timings", "s/epoch", "images/s", "Layers and parameters",
                 "equals Keras's count_params()", "model.summary()", "Configuration",
                 "| learning_rate | 0.003 |", "| cat |",
                 # issue 35: the numbers per epoch, training and wall time apart, the software,
                 # and no value shown for a setting the optimizer never used (adam: momentum)
                 "**Per epoch**", "| epoch | loss | accuracy | val loss | val accuracy |",
                 "training s", "wall s", "Software: Keras 3", "| momentum | unused |"):
        assert text in md, text
    assert len(re.findall(r"^\| [12] \| \d\.\d{4} \|", md, re.M)) == 2  # one row an epoch
    assert "CPU only" in md or "x " in md  # the hardware the run trained on
    # the compile apart from the training time: the timings row has both
    timing_row = md[md.index("| of it compiling |"):].splitlines()[2]
    compiling = run.compile_seconds
    assert f"| {compiling:.1f} |" in timing_row if compiling is not None \
        else "| not measured |" in timing_row
    page = report.html.read_text()
    assert page.count("data:image/png;base64,") == len(report.figures)
    assert "<img src=\"figures" not in page  # self-contained: nothing to fetch


@READS_STORE
def test_several_runs_are_overlaid_and_each_gets_a_section(tmp_path, store, data):
    runs = store.list()
    report = write_report(runs, tmp_path / "rep", data)
    md = report.markdown.read_text()
    for run in runs:
        assert f"## Run {run.id}" in md
        assert f"{run.id} train" in md or run.id in md
    assert sum(p.name == "history.png" for p in report.figures) == 1
    assert len([p for p in report.figures if p.name == "confusion.png"]) == len(runs)


@READS_STORE
def test_missing_data_skips_only_the_image_figures(tmp_path, store):
    run = store.list()[0]  # its config has no data path; point it somewhere absent
    cfg = dict(run.config, data=str(tmp_path / "gone"))
    run.write_config(cfg)
    try:
        report = write_report([run], tmp_path / "rep")
    finally:
        run.write_config(dict(cfg, data=None))
    md = report.markdown.read_text()
    assert "Test images not shown" in md and "--data" in md and "no gallery: could not" in md
    assert {p.name for p in report.figures} == {"history.png", "confusion.png", "per_class.png"}


@READS_STORE
def test_other_test_images_are_not_passed_off_as_the_runs(tmp_path, store):
    other = Cifar10(*make_arrays(20, 3, seed=1), source="other")
    report = write_report([store.list()[0]], tmp_path / "rep", other)
    assert "holds other test images" in report.markdown.read_text()


@pytest.mark.parametrize("k", [3, 120])
def test_the_report_shows_a_gallery_of_every_class_at_k_classes(k, tmp_path, monkeypatch):
    """Task 5's gallery, the first 8 training images of each class (issue 35), for a person's
    3 classes and past a figure's 100 (a second figure): every class's row is its images."""
    import matplotlib.axes

    from cifar_tui.data import Dataset
    from cifar_tui.evaluation import evaluate_probs
    from cifar_tui.runs import Run

    rng = np.random.default_rng(k)
    y = np.repeat(np.arange(k), 9)
    x = rng.integers(0, 256, (len(y), 16, 16, 3), dtype=np.uint8)
    names = ("circle", "square", "triangle") if k == 3 else tuple(f"c{i:03d}" for i in range(k))
    ds = Dataset(x, y, x[::3], y[::3], source="generated", class_names=names,
                 name="shapes" if k == 3 else "parts")
    run = Run(tmp_path / "runs" / "r1")
    run.path.mkdir(parents=True)
    run.write_config({**_cfg(epochs=1).to_dict(), "dataset": ds.spec()})
    run.write_history([{"epoch": 1, "accuracy": 0.5, "val_accuracy": 0.4, "loss": 1.0,
                        "val_loss": 1.1, "seconds": 1.0, "images_per_sec": 100.0}])
    run.update_state(status="finished", epochs_done=1)
    probs = np.full((len(ds.y_test), k), 1 / k, np.float32)
    run.save_predictions(probs, ds.y_test)
    run.write_metrics(evaluate_probs(probs, ds.y_test, names).to_dict())
    drawn = []
    real_imshow = matplotlib.axes.Axes.imshow
    monkeypatch.setattr(matplotlib.axes.Axes, "imshow",
                        lambda ax, a, *args, **kw: (drawn.append(np.array(a)),
                                                    real_imshow(ax, a, *args, **kw))[1])
    report = write_report([run], tmp_path / "rep", ds)
    md = report.markdown.read_text()
    galleries = sorted(p for p in report.figures if p.name.startswith("gallery"))
    assert [p.name for p in galleries] == (["gallery.png"] if k == 3
                                           else ["gallery-2.png", "gallery.png"])
    assert _png_size(galleries[-1]) == figures.gallery_pixel_size(min(k, 100))
    assert f"# {ds.name} report" in md and f"{ds.name}: {k} classes, 16x16 RGB images" in md
    if k > 100:
        assert "classes 101-120" in md and _png_size(galleries[0]) == \
            figures.gallery_pixel_size(20)
    # the mosaics: row r of a column is class r's first 8 training images, left to right
    step = 16 + 1
    rows_seen = []
    for mosaic in (m for m in drawn if m.ndim == 3 and m.shape[1] == 8 * step):
        for r in range(mosaic.shape[0] // step):
            tile = mosaic[r * step:r * step + 16, :16]
            match = np.flatnonzero((x == tile).all(axis=(1, 2, 3)))
            if len(match):
                c = int(y[match[0]])
                rows_seen.append(c)
                for j in range(8):
                    np.testing.assert_array_equal(
                        mosaic[r * step:r * step + 16, j * step:j * step + 16],
                        x[np.flatnonzero(y == c)[j]])
    assert sorted(rows_seen) == list(range(k))


def test_worst_of_pair_orders_by_wrong_probability():
    probs = np.full((5, 10), 0.01)
    labels = np.array([3, 3, 3, 5, 3])
    probs[0, 5], probs[1, 5], probs[2, 3], probs[4, 5] = 0.6, 0.9, 0.9, 0.7
    assert worst_of_pair(probs, labels, 3, 5).tolist() == [1, 4, 0]


def test_cli_report_and_bad_out(tmp_path, arrays, capsys):
    data = write_batches(tmp_path / "b", arrays)
    runs = tmp_path / "runs"
    assert main(["train", "custom", "--spec", SMALL, "--epochs", "1", "--batch-size", "16",
                 "--data", str(data), "--runs", str(runs)]) == 0
    run_id = RunStore(runs).list()[0].id
    capsys.readouterr()
    assert main(["report", run_id, "--runs", str(runs), "--out", str(tmp_path / "r")]) == 0
    assert "report.md" in capsys.readouterr().out
    assert (tmp_path / "r" / "figures" / run_id / "predictions.png").is_file()
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["report", run_id, "--runs", str(runs), "--out", str(afile)]) == 1
    assert "is a file" in capsys.readouterr().err
    assert main(["report", "nosuchrun", "--runs", str(runs), "--out", str(tmp_path / "r")]) == 1


def test_the_prediction_grid_covers_every_class_and_names_the_guess(monkeypatch, tmp_path):
    import numpy as np

    labels = np.repeat(np.arange(10), 3)
    probs = np.eye(10, dtype=np.float32)[(labels + 1) % 10]  # every guess wrong
    picks = figures.prediction_picks(probs, labels)
    assert set(labels[picks]) == set(range(10))
    titles = []
    import matplotlib.axes

    real = matplotlib.axes.Axes.set_title
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title",
                        lambda self, t, **kw: (titles.append(t), real(self, t, **kw))[1])
    images = np.zeros((len(picks), 32, 32, 3), np.uint8)
    figures.predictions_figure(images, probs[picks], labels[picks], tmp_path / "p.png")
    assert "airplane\nguess: automobile" in titles
