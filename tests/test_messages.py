"""Every message with fields is a dataclass: a lost ``@dataclass`` (a merge can drop one) leaves
Message's own ``__init__``, and posting the message crashes the app (``w`` did)."""

from __future__ import annotations

import dataclasses
import inspect

from textual.message import Message

from cifar_tui import keyorder, messages
from cifar_tui.panes import study


def _messages() -> list[type[Message]]:
    found = []
    for module in (messages, keyorder, study):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Message) and cls.__module__ == module.__name__:
                found.append(cls)
    return found


def test_every_message_with_fields_takes_them() -> None:
    classes = _messages()
    assert len(classes) >= 10, classes
    for cls in classes:
        fields = [n for n in inspect.get_annotations(cls) if not n.startswith("_")]
        if not fields:
            continue
        assert dataclasses.is_dataclass(cls) and "__init__" in cls.__dict__, cls
        assert list(inspect.signature(cls).parameters)[:len(fields)] == fields, cls
