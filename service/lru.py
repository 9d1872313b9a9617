"""A small thread-safe LRU cache for values that never go stale under their key.

The API keeps loaded models (by model id) and computed decision boundaries (by job, weights and
resolution) in one each per app. Their keys name immutable things, so entries need no expiry,
only a bound on how many are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class LRUCache:
    """The ``capacity`` most recently used values, by any hashable key; safe to share between threads."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"an LRU cache holds at least one value, not {capacity}")
        self.capacity = capacity
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        # Even a get reorders the dict, so reads need the lock as much as writes.
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        """The value under ``key`` (now the most recently used), or None when it is not kept."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` under ``key``, dropping the least recently used values past capacity."""
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.capacity:
                self._values.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
