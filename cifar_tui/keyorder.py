"""Keys acted on one at a time, in the order they were read, whatever arrives in one read.

Textual's App forwards each key it reads to the widget focused at that moment, at once, and a key
that moves focus (tab, esc, a pane's digit) acts only when it has bubbled up through every
container to the App, a message queue each. Keys read in one go (tmux send-keys, several keys in
one SSH packet, a laggy link) were all forwarded before the first had acted: ``2 Tab Tab 1 2 3``
sent the digits to the Model pane itself, and when they reached the App the tabs had focused a
field, which owns the digits, so the App dropped them. Here a key is forwarded only once the one
before it has been acted on: a marker message follows each key along the same queues, and the
App forwards the next key when the marker reaches it (or the key was the App's own at once).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from textual import events, on
from textual.app import App
from textual.message import Message
from textual.timer import Timer


@dataclass
class KeyActedOn(Message):
    """Posted right behind a forwarded key to the widget that got it; it bubbles up the same
    path, so when the App has it every handler on that path has had the key."""

    number: int


class InOrderKeysApp(App):
    """An App whose keys act one after another, each on the focus the key before it left."""

    # A key whose marker is lost (its widget removed before the marker got there) holds the
    # ones after it back no longer than this.
    KEY_GIVE_UP_S = 0.5

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._keys_waiting: deque[events.Key] = deque()
        self._key_in_flight = False
        self._keys_sent = 0  # the marker of the key in flight has this number
        self._key_timer: Timer | None = None

    def accept_key(self, event: events.Key) -> bool:
        """Whether ``event`` may act now; a subclass drops keys here (a too-small screen)."""
        return True

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._keys_waiting.append(event)
            if not self._key_in_flight:
                await self._next_key()
            return
        await super().on_event(event)

    async def _next_key(self) -> None:
        while self._keys_waiting:
            event = self._keys_waiting.popleft()
            if not self.accept_key(event):
                continue
            await super().on_event(event)  # priority bindings, else forwarded to the focus
            if not event.is_forwarded:
                continue  # acted on already (a priority binding)
            target = self.focused or self.screen  # where Textual forwarded it, a moment ago
            self._keys_sent += 1
            marker = KeyActedOn(self._keys_sent)
            marker._sender = None  # bubble all the way to the App
            self._key_in_flight = True
            target.post_message(marker)
            self._key_timer = self.set_timer(self.KEY_GIVE_UP_S, self._key_given_up)
            return

    def _release(self) -> None:
        self._key_in_flight = False
        if self._key_timer is not None:
            self._key_timer.stop()
            self._key_timer = None

    @on(KeyActedOn)
    async def _key_acted_on(self, message: KeyActedOn) -> None:
        message.stop()
        if message.number != self._keys_sent or not self._key_in_flight:
            return  # the marker of a key given up on
        self._release()
        await self._next_key()

    async def _key_given_up(self) -> None:
        self._release()
        await self._next_key()
