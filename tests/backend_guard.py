"""Run last in the backend subset (tests/test_backends.py): the cases above really ran on the
backend asked for, with TensorFlow never imported. Not collected by a plain ``pytest``."""

from __future__ import annotations

import os
import sys


def test_ran_on_the_requested_backend_without_tensorflow() -> None:
    import keras

    assert keras.backend.backend() == os.environ["KERAS_BACKEND"]
    assert "tensorflow" not in sys.modules, "the core imported TensorFlow on another backend"
