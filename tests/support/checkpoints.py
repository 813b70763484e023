"""A planted checkpoint: a pickle that runs a command when loaded (what weights-only reading refuses)."""

from __future__ import annotations

import os
from pathlib import Path


class Planted:
    """A pickled object that runs a command when unpickled (what a planted checkpoint holds)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))
