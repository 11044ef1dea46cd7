"""Native writes to fd 2 go to the log; Python's stderr (and Textual) keep the terminal."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_divert_stderr_splits_native_and_python_output(tmp_path):
    log = tmp_path / "tf.log"
    script = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        from cifar_tui.quiet import divert_stderr
        terminal = divert_stderr(Path({str(log)!r}))
        os.write(2, b"native chatter from C++\\n")
        print("python error text", file=sys.stderr, flush=True)
        assert sys.__stderr__ is terminal
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert "native chatter" in log.read_text()
    assert "native chatter" not in res.stderr
    assert "python error text" in res.stderr
