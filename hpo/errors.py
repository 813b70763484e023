"""Errors that are the user's to fix; the CLI prints them as one line, never a traceback."""

from __future__ import annotations

from dashboards.ui import UIError
from hpo.outputs import OutputError
from hpo.stores import StoreError
from lightning_modules.data import DataError
from lightning_modules.nn_ascii import ExportError
from lightning_modules.training import ConfigError
from search_spaces.space import SpaceError


class StudyError(ValueError):
    """A study that cannot be created, resumed or joined (conflicting set-up, dead storage)."""


class PromotionError(ValueError):
    """A promotion or model look-up that was refused; nothing in the registry changed."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    UIError,
    DataError,
    ConfigError,
    StudyError,
    SpaceError,
    PromotionError,
    ExportError,
    OutputError,
    StoreError,
    FileNotFoundError,
)
