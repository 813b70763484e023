"""Errors that are the user's to fix; the CLI prints them as one line, never a traceback."""

from __future__ import annotations

from lightning_modules.data import DataError
from lightning_modules.training import ConfigError


class StudyError(ValueError):
    """A study that cannot be created, resumed or joined (conflicting set-up, dead storage)."""


class SpaceError(ValueError):
    """A search space file that is malformed or does not fit the model."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    DataError,
    ConfigError,
    StudyError,
    SpaceError,
    FileNotFoundError,
)
