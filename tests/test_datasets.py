"""Any image-folder data set and CIFAR-100, from tiny generated files (issue 33)."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from conftest import write_targz, write_tree, write_zip

from cifar_tui import CLASSES
from cifar_tui.data import DataError, check_matches, load_data


def image_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (32, 32),
                mode: str = "RGB", fmt: str = "PNG") -> bytes:
    """One image of a flat ``colour`` in PIL ``mode`` (L, RGBA, CMYK, P, I;16...)."""
    from PIL import Image

    im = Image.new("RGB", size, colour)
    if mode == "I;16":
        grey = np.asarray(im.convert("L"), np.uint16) * 257
        im = Image.fromarray(grey)  # uint16: mode I;16
    elif mode != "RGB":
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def colour_of(k: int, n: int) -> tuple[int, int, int]:
    hue = np.linspace(0, 255, n, endpoint=False, dtype=int)[k]
    return int(hue), int(255 - hue), int((hue * 7) % 256)


def folder_members(names: list[str], per_class: int = 3, test_per_class: int = 1,
                   split: bool = True, **image: object) -> dict[str, bytes]:
    members = {}
    for k, name in enumerate(names):
        img = image_bytes(colour_of(k, len(names)), **image)
        for i in range(per_class):
            members[f"{'train/' if split else ''}{name}/{i:03d}.png"] = img
        for i in range(test_per_class if split else 0):
            members[f"test/{name}/{i:03d}.png"] = img
    return members


SHAPES = ["circle", "square", "triangle"]


def test_three_classes_named_by_their_folders(tmp_path):
    ds = load_data(write_tree(tmp_path / "shapes", folder_members(SHAPES)))
    assert ds.class_names == ("circle", "square", "triangle") and ds.num_classes == 3
    assert ds.name == "shapes"
    assert ds.x_train.shape == (9, 32, 32, 3) and ds.x_test.shape == (3, 32, 32, 3)
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ds.spec() == {"name": "shapes", "classes": list(SHAPES), "image_size": 32}
    s = ds.summary()
    assert s["train_counts"] == {"circle": 3, "square": 3, "triangle": 3}


def test_two_classes_in_a_zip_and_three_cifar_names(tmp_path):
    ds = load_data(write_zip(tmp_path / "d.zip", folder_members(["no", "yes"])))
    assert ds.class_names == ("no", "yes") and ds.name == "d"
    # three of CIFAR-10's names alone were refused before: now they are a 3-class data set
    ds = load_data(write_targz(tmp_path / "c.tar.gz", folder_members(["cat", "dog", "frog"])))
    assert ds.class_names == ("cat", "dog", "frog")


def test_a_hundred_classes(tmp_path):
    names = [f"class{k:03d}" for k in range(100)]
    ds = load_data(write_targz(tmp_path / "h.tar.gz", folder_members(names, 2, 1)))
    assert ds.num_classes == 100 and len(ds.y_test) == 100 and ds.y_train.max() == 99


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16", "LA", "1"])
def test_every_image_mode_becomes_rgb(tmp_path, mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    members = {f"{split}/{c}/0.{fmt.lower()}": image_bytes((200, 200, 200), (20, 30), mode, fmt)
               for split in ("train", "test") for c in ("a", "b")}
    ds = load_data(write_tree(tmp_path / mode.replace(";", ""), members))
    assert ds.x_train.shape == (2, 32, 32, 3) and ds.x_train.dtype == np.uint8
    # light grey stays light grey (CMYK's JPEG and 1-bit dithering move it a little)
    assert abs(float(ds.x_train.mean()) - 200) < 60, ds.x_train.mean()
    assert not ds.skipped


def test_odd_sizes_resized_to_the_chosen_size(tmp_path):
    members = folder_members(["a", "b"], size=(7, 45))
    members["train/a/big.png"] = image_bytes((10, 20, 30), (300, 200))
    ds = load_data(write_tree(tmp_path / "odd", members), image_size=24)
    assert ds.image_size == 24 and ds.x_train.shape == (7, 24, 24, 3)
    assert ds.spec()["image_size"] == 24
    with pytest.raises(DataError, match=r"image size 8 is out of range.*--image-size"):
        load_data(tmp_path / "odd", image_size=8)


def test_class_folders_alone_hold_out_a_test_share(tmp_path):
    members = folder_members(["ash", "elm", "oak"], per_class=10, split=False)
    first = load_data(write_tree(tmp_path / "leaves", members), test_fraction=0.2)
    assert first.class_names == ("ash", "elm", "oak")
    assert np.bincount(first.y_test).tolist() == [2, 2, 2]
    assert np.bincount(first.y_train).tolist() == [8, 8, 8]
    again = load_data(tmp_path / "leaves", test_fraction=0.2, use_cache=False)
    assert np.array_equal(first.x_test, again.x_test)  # the same held-out images every time
    assert np.bincount(load_data(tmp_path / "leaves", test_fraction=0.5).y_test).tolist() \
        == [5, 5, 5]


def test_unreadable_files_are_skipped_and_counted(tmp_path):
    members = folder_members(SHAPES)
    members["train/square/bad.png"] = b"\x89PNG\r\n\x1a\n truncated"
    members["test/circle/empty.jpg"] = b""
    ds = load_data(write_tree(tmp_path / "s", members))
    assert sorted(ds.skipped) == ["test/circle/empty.jpg", "train/square/bad.png"]
    assert len(ds.y_train) == 9


def test_a_class_with_no_readable_images_is_named(tmp_path):
    members = folder_members(SHAPES)
    (tmp_path / "s" / "train" / "hexagon").mkdir(parents=True)
    (tmp_path / "s" / "test" / "hexagon").mkdir(parents=True)
    with pytest.raises(DataError, match=r"train/hexagon/ has no readable images"):
        load_data(write_tree(tmp_path / "s", members))
    members = folder_members(SHAPES)
    members["train/square/000.png"] = b"junk"
    members["train/square/001.png"] = b"junk"
    members["train/square/002.png"] = b"junk"
    with pytest.raises(DataError, match=r"train/square/ has no readable images \(3 unreadable"):
        load_data(write_tree(tmp_path / "t", members))


def test_test_class_missing_from_train(tmp_path):
    members = folder_members(SHAPES)
    members["test/star/0.png"] = image_bytes((1, 2, 3))
    with pytest.raises(DataError, match=r"test/star/ has no train/star/.*Add train images"):
        load_data(write_tree(tmp_path / "s", members))


def test_class_counts(tmp_path):
    with pytest.raises(DataError, match=r"found 1 class folder \(only\).*2 to 1,000"):
        load_data(write_tree(tmp_path / "one", folder_members(["only"])))


def test_too_many_classes_is_refused(tmp_path):
    from cifar_tui import data

    members = folder_members([f"c{k:02d}" for k in range(12)], 1, 1)
    old = data.MAX_CLASSES
    data.MAX_CLASSES = 10
    try:
        with pytest.raises(DataError, match=r"found 12 class folders.*2 to 10 classes"):
            load_data(write_tree(tmp_path / "m", members))
    finally:
        data.MAX_CLASSES = old


def test_images_outside_class_folders_are_ignored(tmp_path):
    members = folder_members(SHAPES)
    members["train/stray.png"] = image_bytes((0, 0, 0))
    members["__MACOSX/train/circle/._000.png"] = b"resource fork"
    ds = load_data(write_tree(tmp_path / "s", members))
    assert ds.class_names == tuple(SHAPES) and len(ds.y_train) == 9 and not ds.skipped


def test_a_run_refuses_data_with_other_classes(tmp_path):
    three = load_data(write_tree(tmp_path / "s", folder_members(SHAPES)))
    check_matches(three.spec(), three, "run x")  # its own data: fine
    other = load_data(write_tree(tmp_path / "o", folder_members(["a", "b", "c"])))
    with pytest.raises(DataError, match=r"run x was trained on s \(3 classes: circle.*other "
                                        r"classes.*--data PATH"):
        check_matches(three.spec(), other, "run x")
    with pytest.raises(DataError, match=r"takes 32x32 images.*--image-size 32"):
        check_matches(three.spec(), load_data(tmp_path / "s", image_size=16), "run x")
    # runs recorded before data sets were: CIFAR-10 at 32x32
    with pytest.raises(DataError, match=r"trained on CIFAR-10 \(10 classes"):
        check_matches(None, three, "run old")


# -- CIFAR-100 -------------------------------------------------------------------------------

FINE = [f"fine{k}" for k in range(100)]
COARSE = [f"coarse{k}" for k in range(20)]


def cifar100_members(n_train: int = 200, n_test: int = 100) -> tuple[dict[str, bytes], dict]:
    """The official cifar-100-python layout: protocol-2 pickles with bytes keys, channel-planar
    rows, fine and coarse labels, and ``meta`` with both name lists."""
    rng = np.random.default_rng(0)
    truth = {}
    members = {}
    for name, n in (("train", n_train), ("test", n_test)):
        fine = np.arange(n) % 100
        coarse = fine // 5
        x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        truth[name] = (x, fine, coarse)
        batch = {b"filenames": [f"{i}.png".encode() for i in range(n)],
                 b"batch_label": f"{name} batch".encode(),
                 b"fine_labels": [int(v) for v in fine],
                 b"coarse_labels": [int(v) for v in coarse],
                 b"data": x.transpose(0, 3, 1, 2).reshape(n, -1)}
        members[f"cifar-100-python/{name}"] = pickle.dumps(batch, protocol=2)
    meta = {b"fine_label_names": [n.encode() for n in FINE],
            b"coarse_label_names": [n.encode() for n in COARSE]}
    members["cifar-100-python/meta"] = pickle.dumps(meta, protocol=2)
    return members, truth


def test_cifar100_official_archive_fine_and_coarse(tmp_path):
    members, truth = cifar100_members()
    path = write_targz(tmp_path / "cifar-100-python.tar.gz", members)
    fine = load_data(path)
    assert fine.name == "CIFAR-100" and fine.class_names == tuple(FINE)
    assert np.array_equal(fine.x_train, truth["train"][0])
    assert np.array_equal(fine.y_test, truth["test"][1])
    coarse = load_data(path, labels="coarse")
    assert coarse.class_names == tuple(COARSE) and coarse.name == "CIFAR-100 (coarse)"
    assert np.array_equal(coarse.y_train, truth["train"][2])
    # and extracted
    folder = write_tree(tmp_path / "x", members)
    assert load_data(folder / "cifar-100-python").class_names == tuple(FINE)
    assert load_data(folder, labels="coarse").num_classes == 20


def test_cifar100_goes_through_the_restricted_unpickler(tmp_path):
    members, _ = cifar100_members(10, 10)

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    members["cifar-100-python/meta"] = pickle.dumps({b"fine_label_names": Boom()}, protocol=2)
    from cifar_tui.data import UnsafePickleError

    with pytest.raises(UnsafePickleError, match=r"meta.*refused to load .*print"):
        load_data(write_targz(tmp_path / "evil.tar.gz", members))


def test_cifar100_from_keras_download(tmp_path, monkeypatch):
    import keras

    members, _ = cifar100_members(100, 100)
    target = write_tree(tmp_path / "keras" / "cifar-100-python-target", members)
    asked = {}

    def get_file(**kw):
        asked.update(kw)
        return str(target)

    monkeypatch.setattr(keras.utils, "get_file", get_file)
    ds = load_data("cifar100", labels="coarse")
    assert ds.num_classes == 20 and asked["fname"] == "cifar-100-python-target"
    assert asked["origin"].endswith("cifar-100-python.tar.gz")


def test_cifar100_missing_meta(tmp_path):
    members, _ = cifar100_members(10, 10)
    del members["cifar-100-python/meta"]
    with pytest.raises(DataError, match=r"missing meta.*train, test and meta"):
        load_data(write_targz(tmp_path / "c.tar.gz", members))


def test_cifar10_keeps_its_ten_names(tiny):
    assert tiny.class_names == CLASSES and tiny.num_classes == 10 and tiny.image_size == 32


# -- models, training, evaluation, prediction and reports at K classes -----------------------


def test_models_take_classes_and_size_from_the_data(capsys):
    import json

    from cifar_tui.cli import main
    from cifar_tui.models import build_model
    from cifar_tui.params import param_table

    for arch in ("cnn", "fast", "resnet9", "dense"):
        model = build_model(arch, num_classes=100, image_size=48)
        assert tuple(model.input_shape[1:]) == (48, 48, 3)
        assert model.output_shape[-1] == 100, arch
    head = param_table(build_model("cnn", num_classes=100)).rows[-1]
    assert head.formula == "(512+1)*100" and head.count == 512 * 100 + 100
    assert main(["params", "cnn", "--classes", "100", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[-1]["count"] == 51_300
    # the course preset keeps its exact count on CIFAR-10
    assert param_table(build_model("cnn")).total == 890_410
    assert main(["params", "cnn", "--classes", "1"]) == 1
    assert "2 to 1,000 classes" in capsys.readouterr().err


def learnable_folder(tmp_path, names=SHAPES, per_class=24, test_per_class=6, size=(20, 20)):
    """Flat colours per class with noise, as odd-sized greyscale-or-colour PNGs."""
    from PIL import Image

    rng = np.random.default_rng(1)
    members = {}
    for k, name in enumerate(names):
        for split, n in (("train", per_class), ("test", test_per_class)):
            for i in range(n):
                base = np.array(colour_of(k, len(names)))
                px = np.clip(base + rng.integers(-20, 21, size=(*size[::-1], 3)), 0, 255)
                buf = io.BytesIO()
                Image.fromarray(px.astype(np.uint8)).save(buf, format="PNG")
                members[f"{split}/{name}/{i:03d}.png"] = buf.getvalue()
    return write_tree(tmp_path / "own", members)


def test_own_folder_trains_evaluates_predicts_reports_from_the_cli(tmp_path, capsys):
    import json

    from cifar_tui.cli import main
    from cifar_tui.runs import RunStore

    data = learnable_folder(tmp_path)
    runs = tmp_path / "runs"
    code = main(["train", "custom", "--spec", "C8-P-C16-P-F-FC32", "--epochs", "3",
                 "--batch-size", "8", "--optimizer", "adam", "--lr", "0.003", "--val-split",
                 "0.2", "--patience", "0", "--data", str(data), "--image-size", "24",
                 "--runs", str(runs)])
    out = capsys.readouterr().out
    assert code == 0 and "test accuracy" in out, out
    run = RunStore(runs).list()[0]
    assert run.config["dataset"] == {"name": "own", "classes": SHAPES, "image_size": 24}
    assert run.config["image_size"] == 24
    assert run.summary()["dataset"] == "own" and run.summary()["classes"] == 3
    m = run.metrics
    assert len(m["confusion"]) == 3 and [c["class"] for c in m["per_class"]] == SHAPES
    assert m["accuracy"] > 0.5  # flat colours: learnable in 3 epochs

    assert main(["eval", run.id, "--runs", str(runs), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_images"] == 18
    photo = tmp_path / "photo.png"
    photo.write_bytes(image_bytes(colour_of(1, 3), (300, 200)))
    assert main(["predict", run.id, str(photo), "--runs", str(runs), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)["predictions"][0]
    assert set(pred["probabilities"]) == set(SHAPES)

    # another data set's classes: refused with the reason, nothing overwritten
    other = write_tree(tmp_path / "other", folder_members(["a", "b", "c"], size=(24, 24)))
    assert main(["eval", run.id, "--runs", str(runs), "--data", str(other),
                 "--image-size", "24"]) == 1
    err = capsys.readouterr().err
    assert "was trained on own (3 classes: circle, square, triangle)" in err
    assert run.metrics["per_class"][0]["class"] == "circle"

    # the exported model is the run's: 3 outputs, 24x24 inputs (its loader: test_codegen)
    assert main(["code", run.id, "--runs", str(runs)]) == 0
    script = capsys.readouterr().out
    assert "shape=(24, 24, 3)" in script and "layers.Dense(3," in script

    assert main(["report", run.id, "--runs", str(runs), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "on own: 3 classes, 24x24 images" in md and "triangle" in md
    assert (tmp_path / "rep" / "figures").is_dir() or list((tmp_path / "rep").rglob("*.png"))


def test_evaluation_at_a_hundred_classes():
    from cifar_tui.evaluation import evaluate_probs
    from cifar_tui.runs import metrics_problem

    rng = np.random.default_rng(0)
    labels = np.arange(300) % 100
    probs = rng.random((300, 100)).astype(np.float32)
    probs /= probs.sum(axis=1, keepdims=True)
    ev = evaluate_probs(probs, labels, FINE).to_dict()
    assert len(ev["per_class"]) == 100 and ev["per_class"][7]["class"] == "fine7"
    assert len(ev["confused_pairs"]) == 20
    assert metrics_problem(ev, FINE) is None
    assert metrics_problem(ev, CLASSES) == "metrics.json: confusion is not a 10x10 table of counts"
    with pytest.raises(ValueError, match="predicts 100 classes, the data set has 10"):
        evaluate_probs(probs, labels, CLASSES)


def test_cli_data_flags(tmp_path, capsys):
    import json

    from cifar_tui.cli import main

    members, _ = cifar100_members(100, 100)
    path = write_targz(tmp_path / "cifar-100-python.tar.gz", members)
    assert main(["data", "--data", str(path), "--labels", "coarse", "--image-size", "24",
                 "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "CIFAR-100 (coarse)" and len(info["classes"]) == 20
    assert info["x_train"] == [100, 24, 24, 3]
    # given before the subcommand too; an unknown label set is refused by the parser
    assert main(["--labels", "fine", "data", "--data", str(path)]) == 0
    assert "CIFAR-100: 100 classes, 32x32 images" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["data", "--data", str(path), "--labels", "medium"])
    assert "invalid choice: 'medium'" in capsys.readouterr().err


# -- renderables at K classes ----------------------------------------------------------------


def plain(renderable) -> str:
    from rich.console import Console

    console = Console(width=100, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_class_counts_show_the_imbalance():
    from cifar_tui.widgets import class_counts_table

    text = plain(class_counts_table({"ash": 40, "elm": 8}, {"ash": 10, "elm": 2}))
    assert "imbalanced: the largest class has 5.0x the train images of the smallest" in text
    assert "imbalanced" not in plain(class_counts_table({"a": 5, "b": 5}, {"a": 1, "b": 1}))


def test_heatmap_zooms_on_the_most_confused_block_past_twelve_classes():
    from cifar_tui.render import confusion_heatmap, most_confused_block

    cm = np.eye(100, dtype=int) * 5
    cm[40, 41], cm[41, 40], cm[7, 93], cm[93, 12] = 9, 4, 6, 3
    block = most_confused_block(cm)
    assert block[:4] == [40, 41, 7, 93] and 12 in block and len(block) == 8
    text = plain(confusion_heatmap(cm, classes=FINE))
    assert "Most confused 8 of 100 classes" in text and "1 fine40" in text
    assert "fine55" not in text  # not confused with anything: not in the block
    assert "Confusion matrix (rows" in plain(confusion_heatmap(np.eye(10, dtype=int)))


def test_per_class_table_sorts():
    from cifar_tui.render import PER_CLASS_SORTS, per_class_table

    rows = [{"class": n, "recall": r, "precision": 0.5, "f1": r, "support": s}
            for n, r, s in (("ash", 0.9, 3), ("elm", 0.2, 1), ("oak", 0.5, 2))]
    order = [plain(per_class_table(rows, i)).split().index for i in range(len(PER_CLASS_SORTS))]
    names = [sorted(("ash", "elm", "oak"), key=f) for f in order]
    assert names[0] == ["ash", "elm", "oak"]  # as the data set has them
    assert names[1] == ["elm", "oak", "ash"]  # worst accuracy first
    assert names[2] == ["ash", "oak", "elm"]


def test_probability_bars_show_the_top_five_of_many_classes():
    from cifar_tui.render import probability_bars

    p = np.full(100, 0.5 / 95)
    p[[3, 50, 60, 70, 80]] = [0.2, 0.1, 0.08, 0.07, 0.05]
    text = plain(probability_bars(p, true_label=99, classes=FINE))
    assert "top 5 of 100 classes" in text
    shown = [n for n in FINE if f"{n} " in text or f"{n}\n" in text]
    assert set(shown) == {"fine3", "fine50", "fine60", "fine70", "fine80", "fine99"}
    three = plain(probability_bars(np.array([0.2, 0.5, 0.3]), 0, classes=SHAPES))
    assert "top 5" not in three and all(n in three for n in SHAPES)


def test_big_images_are_shown_at_most_32_pixels_wide():
    from cifar_tui.panes.predict import _for_screen

    for side, shown in ((24, 24), (32, 32), (48, 24), (64, 32), (100, 25)):
        assert _for_screen(np.zeros((side, side, 3), np.uint8)).shape[:2] == (shown, shown)


async def test_model_pane_counts_the_data_sets_head():
    from conftest import static_text
    from textual.widgets import Static

    from cifar_tui.app import CifarApp
    from cifar_tui.data import Dataset

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    y = np.array([0, 1, 2, 0, 1, 2])
    ds = Dataset(x, y, x, y, source="generated", class_names=tuple(SHAPES), name="shapes")
    app = CifarApp(loader=lambda source, stop=None: ds)
    async with app.run_test(size=(80, 24)) as pilot:
        while app.dataset is None:
            await pilot.pause(0.05)
        await pilot.press("2")
        for _ in range(1200):
            text = static_text(app.query_one("#param-table", Static))
            if "(512+1)*3" in text:
                break
            await pilot.pause(0.05)
        assert "(512+1)*3" in text and "886,819" in text  # 890,410 - (512+1)*10 + (512+1)*3


@pytest.mark.parametrize("names", [
    ["truck", "ship", "horse", "frog", "dog", "deer", "cat", "bird", "automobile", "airplane"],
    ["Zebra", "class2", "apple", "class10", "éclair", "_misc"],
])
def test_class_folders_are_numbered_in_sorted_order_as_keras_numbers_them(names, tmp_path):
    """Labels follow the folder names sorted by code point whatever order the folders were made
    in (issue 33): the order of Keras's image_dataset_from_directory, and for CIFAR-10's folders
    its canonical labels, airplane 0 ... truck 9."""
    tree = write_tree(tmp_path / "tree", folder_members(names))
    ds = load_data(tree, use_cache=False)
    assert ds.class_names == tuple(sorted(names))
    if set(names) == set(CLASSES):
        assert ds.class_names == CLASSES and ds.name == "CIFAR-10"
    for label, name in enumerate(ds.class_names):  # each label's images are its folder's
        want = colour_of(names.index(name), len(names))
        assert (ds.x_train[ds.y_train == label][:, 0, 0] == want).all()
        assert (ds.x_test[ds.y_test == label][:, 0, 0] == want).all()
    import keras

    keras_names = keras.utils.image_dataset_from_directory(
        tree / "train", image_size=(32, 32), batch_size=4, verbose=False).class_names
    assert tuple(keras_names) == ds.class_names


def test_an_archive_made_inside_the_data_folder_loads(tmp_path):
    """`cd leaves && tar czf ../leaves.tar.gz .` names every member ./train/...: each image
    read as in a hidden folder and skipped, and the error said train/circle/ had no images."""
    import tarfile

    tree = write_tree(tmp_path / "shapes", folder_members(SHAPES))
    with tarfile.open(tmp_path / "shapes.tar.gz", "w:gz") as tf:
        tf.add(tree, arcname=".")
    assert tarfile.open(tmp_path / "shapes.tar.gz").getnames()[1].startswith("./")
    ds = load_data(tmp_path / "shapes.tar.gz", use_cache=False)
    want = load_data(tree, use_cache=False)
    assert ds.class_names == tuple(SHAPES) and not ds.skipped
    np.testing.assert_array_equal(ds.x_train, want.x_train)
    np.testing.assert_array_equal(ds.y_test, want.y_test)
