"""Import hygiene (as Harlequin checks it): the UI and the CLI's parser, the headless commands
that only read files, and the app up to its first frame and its data load import no ML framework.
Each check runs in a fresh interpreter, so what another test imported cannot hide an import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import write_batches

HEAVY = ("tensorflow", "keras", "jax", "torch")
UI = ("textual", "plotext")

PRELUDE = """
import json, sys
def loaded(names):
    return sorted({m.split(".")[0] for m in sys.modules} & set(names))
"""


def run_script(body: str, tmp_path) -> dict:  # noqa: ANN001
    """Run ``body`` in a new interpreter; it prints one JSON line last, returned here."""
    env = {**os.environ, "CIFAR_TUI_RUNS": str(tmp_path / "runs"),
           "CIFAR_TUI_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_app_module_and_cli_parser_import_no_framework(tmp_path):
    seen = run_script(f"""
        from cifar_tui.cli import _parser
        _parser().parse_args(["train", "cnn", "--epochs", "2", "--lr", "0.1"])
        parser = loaded({HEAVY!r})
        import cifar_tui.app  # noqa: F401
        print(json.dumps({{"parser": parser, "app": loaded({HEAVY!r})}}))
    """, tmp_path)
    assert seen == {"parser": [], "app": []}


@pytest.mark.parametrize("argv, code", [
    (["runs"], 0),
    (["runs", "--json"], 0),
    (["--help"], 0),
    (["train", "--help"], 0),
    (["watch", "no-such-run"], 1),
    # A bad value is refused before the training stack loads (seconds of TensorFlow import).
    (["train", "cnn", "--lr", "99"], 1),
    (["train", "cnn", "--epochs", "0"], 1),
    (["train", "cnn", "--epochs", "two"], 2),
])
def test_headless_commands_that_read_files_import_no_framework_and_no_ui(tmp_path, argv, code):
    seen = run_script(f"""
        from cifar_tui.cli import main
        try:
            rc = main({argv!r})
        except SystemExit as exc:  # --help, and argparse's own usage errors
            rc = exc.code
        print(json.dumps({{"rc": rc, "loaded": loaded({HEAVY + UI!r})}}))
    """, tmp_path)
    assert seen == {"rc": code, "loaded": []}


def test_app_reaches_its_first_frame_and_loads_data_without_a_framework(tmp_path, arrays):
    data = write_batches(tmp_path / "batches", arrays)
    seen = run_script(f"""
        import asyncio
        from cifar_tui.app import CifarApp

        async def main():
            app = CifarApp(data_source={str(data)!r})
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                first = loaded({HEAVY!r})
                await app.workers.wait_for_complete()  # the data load
                await pilot.pause()
                assert app.dataset is not None, app.data_error
                return first, loaded({HEAVY!r})

        first, loaded_data = asyncio.run(main())
        print(json.dumps({{"first": first, "data": loaded_data}}))
    """, tmp_path)
    assert seen == {"first": [], "data": []}
