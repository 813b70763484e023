"""The one base of the errors that are the user's to fix.

Every such error says in one line what is wrong and how to fix it; the
command line prints it as ``pesweep: error: ...`` (exit status 2), never as a
traceback. Anything else that escapes is a bug, and shows its traceback.
"""

from __future__ import annotations


class PesweepError(ValueError):
    """A problem with the user's input, files, stores or options (not a bug of pesweep)."""


class CheckpointNotFound(PesweepError, FileNotFoundError):
    """A checkpoint, model version or tracking store that is not where the user said."""


class CheckpointError(PesweepError):
    """A file that is no checkpoint pesweep loads: unreadable, or refused by a weights-only load."""


class UnsafeCheckpoint(CheckpointError):
    """A file a weights-only load refuses: it holds pickled objects that could run code."""
