"""The headless CLI as scripts see it: every command's --json against the documented schema,
errors as JSON, --version, the progress display, training and wall time apart (issue 35)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from conftest import image_members, make_arrays, png_bytes, write_targz

from cifar_tui.cli import main
from cifar_tui.jsonout import EVENTS, SCHEMA, check, dumps

README = Path(__file__).resolve().parent.parent / "README.md"


def _objects(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run trained headless with --json; (runs folder, archive, JSON lines)."""
    import contextlib

    root = tmp_path_factory.mktemp("cli")
    mp = pytest.MonkeyPatch()
    mp.setenv("CIFAR_TUI_CACHE", str(root / "cache"))
    archive = write_targz(root / "imgs.tar.gz", image_members(make_arrays(4, 2)))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train", "cnn", "--data", str(archive), "--runs", str(root / "runs"),
                     "--epochs", "2", "--batch-size", "8", "--lr", "0.15", "--json"])
    mp.undo()
    assert code == 0
    return root / "runs", archive, _objects(out.getvalue())


def test_train_json_lines_follow_the_schema_and_time_training_apart(trained):
    _, _, lines = trained
    assert [o["event"] for o in lines] == ["started", "epoch", "epoch", "finished"]
    for o in lines:
        assert check(o) == [], o
    end = lines[-1]
    # training (model.fit) and wall (data, build, evaluation too) are told apart
    assert 0 < end["train_seconds"] < end["wall_seconds"]
    # the first steps' compile, part of the training time (TensorFlow: estimated; None when
    # the first epoch has a single call)
    assert end["compile_seconds"] is None or 0 <= end["compile_seconds"] < end["train_seconds"]
    assert end["test_images"] == 20


def _run_json(capsys, *argv: str) -> list[dict]:
    capsys.readouterr()
    code = main([*argv, "--json"])
    objs = _objects(capsys.readouterr().out)
    assert objs, argv
    for o in objs:
        assert check(o) == [], (argv, check(o), o)
    return [{**o, "exit": code} for o in objs]


def test_every_commands_json_follows_the_schema(trained, capsys, tmp_path, monkeypatch):
    runs, archive, _ = trained
    monkeypatch.setenv("CIFAR_TUI_CACHE", str(tmp_path / "cache"))
    r = ["--runs", str(runs)]
    listed = _run_json(capsys, "runs", *r)[0]
    run = listed["runs"][0]
    assert run["run"] and run["arch"] == "cnn" and run["epochs_done"] == 2 == run["epochs"]
    assert run["learning_rate"] == 0.15  # no float noise (0.15000000596046448)
    assert run["train_seconds"] > 0
    cmp = _run_json(capsys, "runs", "--compare", *r)[0]  # no ids: every run
    assert cmp["runs"][0]["run"] == run["run"] and "best_val_accuracy" in cmp["runs"][0]
    assert cmp["shared"]["momentum"] == "unused"  # plain SGD never used it
    ev = _run_json(capsys, "eval", run["run"], "--data", str(archive), *r)[0]
    assert ev["run"] == run["run"] and ev["weights_epoch"] in (1, 2)
    assert ev["test_images"] == 20
    _run_json(capsys, "data", "--data", str(archive))
    _run_json(capsys, "params", "dense")
    img = tmp_path / "x.png"
    img.write_bytes(png_bytes(make_arrays(1, 1)[0][0]))
    pred = _run_json(capsys, "predict", run["run"], str(img), *r)[0]
    assert pred["predictions"][0]["image"] == str(img)
    rep = _run_json(capsys, "report", run["run"], "--out", str(tmp_path / "rep"),
                    "--data", str(archive), *r)[0]
    assert Path(rep["html"]).exists()
    watched = _run_json(capsys, "watch", run["run"], *r)
    assert watched[-1]["event"] == "finished"


def test_errors_are_json_under_json(capsys, tmp_path):
    for argv, code in ((["eval", "nosuch", "--runs", str(tmp_path)], 1),
                       (["runs", "--compare", "--runs", str(tmp_path)], 1)):
        objs = _run_json(capsys, *argv)
        assert objs[0]["exit"] == code == objs[0]["exit_code"] and objs[0]["error"]
    with pytest.raises(SystemExit) as exc:  # a usage error, argparse's own
        main(["eval", "--json"])
    assert exc.value.code == 2
    obj = json.loads(capsys.readouterr().out)
    assert check(obj) == [] and "required" in obj["error"]


def test_the_readme_documents_every_field_of_the_schema():
    text = README.read_text()
    section = text[text.index("## JSON output"):]
    section = section[:section.index("\n## ", 5)]
    assert "schema_version" in section and f"`{SCHEMA['runs']}`" not in section
    names = {k for fields in [*SCHEMA.values(), *EVENTS.values()] for k in fields}

    def nested(fields: dict) -> set:
        out = set()
        for v in fields.values():
            if isinstance(v, list):
                out |= set(v[0]) | nested(v[0])
        return out

    names |= {k for fields in SCHEMA.values() for k in nested(fields)}
    missing = sorted(n for n in names - {"..."} if not re.search(rf"\b{n}\b", section))
    assert not missing, f"README's JSON section lacks {missing}"
    for command in [*SCHEMA, "train", "watch"]:
        assert f"`{command}`" in section


def test_floats_lose_float32_noise_and_nan_is_null():
    import numpy as np

    obj = json.loads(dumps("runs", {"runs": [], "x": float(np.float32(0.15)),
                                     "y": float("nan")}))
    assert obj["x"] == 0.15 and obj["y"] is None


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert re.match(r"cifar-tui \d+\.\d+\.\d+, Keras 3", capsys.readouterr().out)


def test_help_describes_every_argument(capsys):
    """--json and the positional arguments had no help text."""
    for command in ("runs", "eval", "predict", "train", "watch", "params", "data", "report"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        lines = out.split("options:")[-1] + out.split("positional arguments:")[-1]
        for line in lines.splitlines():
            m = re.match(r"^  (\S+.*?)$", line)
            if m and not line.startswith("   ") and "  " not in m.group(1).strip():
                # an option alone on its line: its help is on the next line
                continue
        assert "--json" not in out or re.search(r"--json\s+(print|JSON)", out), command
        if command in ("eval", "predict", "watch"):
            assert re.search(r"run\s+a run id", out), command


def test_a_terminal_gets_a_progress_bar_a_pipe_plain_lines(capsys):
    from cifar_tui.cli_progress import LinePrinter, ProgressPrinter, printer
    from cifar_tui.events import BatchProgress, EpochEnd, Started

    assert type(printer("train", False)) is LinePrinter  # pytest's stdout is no terminal
    out = io.StringIO()
    bar = ProgressPrinter(out=out)
    bar.console.force_terminal = True
    bar(Started("r", {"arch": "cnn", "batch_size": 8}, 0, 2, 10, 80, 8, 100))
    for step in (1, 5, 10):
        bar(BatchProgress("r", 1, 2, step, 10, 2.0, 0.2, 100.0, 1.0))
    assert bar.progress.tasks[0].completed == 10 and bar.progress.tasks[0].total == 10
    metrics = {"loss": 2.0, "accuracy": 0.2, "seconds": 1.0, "images_per_sec": 80.0}
    bar(EpochEnd("r", 1, 2, metrics, [metrics], None, True))
    assert bar.progress.tasks[0].completed == 0 and "2/2" in bar.progress.tasks[0].description
    bar.close()
    assert "epoch 1/2  loss 2.0000" in out.getvalue()  # the epoch's line stays


def test_the_runs_table_shows_the_arch(trained, capsys):
    runs, _, _ = trained
    capsys.readouterr()
    assert main(["runs", "--runs", str(runs)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["id", "arch"] and " cnn " in out


def test_a_missing_optional_package_is_a_known_problem_with_its_install_line(capsys,
                                                                              monkeypatch):
    """`report` without matplotlib exited 70 "unexpected error ... Please report it"."""
    import sys

    from cifar_tui.cli import run_command

    def needs_matplotlib() -> int:
        monkeypatch.setitem(sys.modules, "matplotlib", None)
        import matplotlib  # noqa: F401

        return 0

    assert run_command("report", needs_matplotlib) == 1
    err = capsys.readouterr().err
    assert "pip install matplotlib" in err and "unexpected" not in err


@pytest.mark.parametrize("content", [None, b"not an archive at all"])
def test_a_bad_data_source_creates_no_run(tmp_path, capsys, content):
    """A bad --data created a failed run, which the TUI then opened as the current run."""
    from cifar_tui.runs import RunStore

    bad = tmp_path / "bad.tar.gz"
    if content is not None:
        bad.write_bytes(content)
    runs = tmp_path / "runs"
    assert main(["train", "cnn", "--data", str(bad), "--runs", str(runs), "--epochs", "1"]) == 1
    assert str(bad) in capsys.readouterr().err
    assert RunStore(runs).list() == []


def test_watch_of_a_finished_run_says_only_what_it_knows(trained, capsys):
    """It printed "cnn, 0 params, 0 train / 0 val images, 0 steps of 32"."""
    runs, _, _ = trained
    run_id = json.loads(_capture(capsys, ["runs", "--runs", str(runs), "--json"]))["runs"][0]
    out = _capture(capsys, ["watch", run_id["run"], "--runs", str(runs)])
    first_event = out.splitlines()[1]
    assert "0 params" not in first_event and "0 steps" not in first_event
    assert "30 train / 10 val images" in first_event
    assert "finished after 2 epochs" in out


def _capture(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out
