"""The sweep machinery's own user errors (all :class:`~lightning_modules.errors.PesweepError`)."""

from __future__ import annotations

from lightning_modules.errors import PesweepError


class StudyError(PesweepError):
    """A study that cannot be created, resumed or joined (conflicting set-up, dead storage)."""


class PromotionError(PesweepError):
    """A promotion or model look-up that was refused; nothing in the registry changed."""
