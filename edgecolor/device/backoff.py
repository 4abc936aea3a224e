"""``Backoff``: pauses that double while something stays broken (a scanner that is off, a
full output folder, a failing Edge TPU), so it is asked less and less often and still
found again within the longest pause."""

from __future__ import annotations


class Backoff:
    """Pauses that double from ``first`` up to ``longest`` seconds, until :meth:`reset`."""

    def __init__(self, first: float, longest: float):
        self.first = first
        self.longest = max(longest, first)
        self._next = first

    def pause(self) -> float:
        """The pause to make now; the next one is twice as long (at most ``longest``)."""
        pause = self._next
        self._next = min(self._next * 2, self.longest)
        return pause

    def reset(self) -> None:
        """It works again: the next pause is ``first``."""
        self._next = self.first
