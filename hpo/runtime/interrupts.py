"""Ctrl-C and a batch scheduler's signals as one exception that every layer can clean up after.

Lightning turns a ``KeyboardInterrupt`` inside ``trainer.fit`` into
``sys.exit(1)``, which skips Optuna's bookkeeping (the trial stays RUNNING)
and every handler above it. While :func:`interrupts_raise` is active, SIGINT,
SIGTERM and SIGUSR1 raise :class:`Interrupted` instead: Lightning re-raises it,
the objective ends the trial as FAIL and its MLflow run as KILLED, the sweep
ends the parent run KILLED, and the command line exits.

* SIGINT (Ctrl-C): the trial's reason is "interrupted"; exit status 130.
* SIGTERM (a scheduler's kill, the time limit): "preempted", so the trial is
  retried from its last finished epoch (:mod:`hpo.study.retries`); exit status 143.
* SIGUSR1 (Slurm's ``--signal=B:USR1@SECONDS`` before the time limit): the
  current epoch is finished and checkpointed first, then as SIGTERM, but the
  exit status is 0: the job ends cleanly and its retry resumes after that epoch.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
PREEMPTING_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)  # a scheduler takes the worker away


class Interrupted(BaseException):  # noqa: N818 (what happened, not an error of the code)
    """The process received SIGINT, SIGTERM or SIGUSR1 (see the module docstring).

    A ``BaseException``, like ``KeyboardInterrupt``: libraries that wrap every
    ``Exception`` (MLflow's stores do) let it through unchanged. Optuna does not
    end a trial for it, so the objective does (:mod:`hpo.sweep.objective`).
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.signal_name}")

    @property
    def preempted(self) -> bool:
        """Whether a scheduler took the worker away (the trial is retried), not a person."""
        return self.signum in PREEMPTING_SIGNALS

    @property
    def reason(self) -> str:
        """The trial's ``fail_reason``: "preempted" or "interrupted"."""
        return "preempted" if self.preempted else "interrupted"

    @property
    def exit_code(self) -> int:
        """0 for SIGUSR1 (a planned end of the job), else 128 + the signal number."""
        return 0 if self.signum == signal.SIGUSR1 else 128 + self.signum


@contextlib.contextmanager
def interrupts_raise(signals: tuple[int, ...] = HANDLED_SIGNALS) -> Iterator[None]:
    """Within the block, the given signals raise :class:`Interrupted` (once; a second one too).

    Outside the main thread (where Python cannot set handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {number: signal.signal(number, handler) for number in signals}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
