"""The person at the tripod, and the one promise made to them: Ctrl-C never loses a shot.

From the moment the shutter is fired until the shot is catalogued, Ctrl-C is held back and honoured
right after ("finishing the shot in progress").
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Protocol


class Operator(Protocol):
    """The person at the tripod (a terminal, or nobody in non-interactive runs)."""

    interactive: bool

    def say(self, message: str) -> None: ...

    def ready(self, prompt: str) -> bool:
        """Show `prompt`, wait for Enter; False when the operator wants to stop (q)."""
        ...

    def quit_requested(self) -> bool:
        """Non-blocking: has the operator asked to stop (while a remote shot is awaited)?"""
        ...


@contextmanager
def shot_in_progress(say: Callable[[str], None]) -> Iterator[None]:
    """Hold Ctrl-C back while a shot is being fired, downloaded and stored; honour it right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hit: list[bool] = []

    def hold(_sig, _frame):
        if not hit:
            say("interrupt received: finishing the shot in progress, then stopping")
        hit.append(True)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if hit:
        raise KeyboardInterrupt
