"""The Lightning side of :mod:`hpo.runtime.interrupts`: a signal during training waits for a batch's end.

Kept apart so that the command line, which handles :class:`Interrupted`,
starts without importing Lightning.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from hpo.runtime.interrupts import HANDLED_SIGNALS, Interrupted


class DeferInterrupts(Callback):
    """During training, a signal is held until the current batch (SIGUSR1: epoch) ends, then raised.

    A signal raised at any bytecode can land inside a store's write (an MLflow
    metric logged at the end of an epoch), leaving its transaction open and
    the store locked for the cleanup that follows. Between batches no write is
    under way, so that is where :class:`Interrupted` is raised; the latency is
    one batch. The handlers are set in ``on_train_start``, after Lightning's
    own (whose SIGTERM handler would end the process with exit status 0 and
    the trial still RUNNING), and the previous ones are back when training ends.
    SIGUSR1 is held until the next epoch starts, after the epoch's ``last.ckpt``
    is written (Lightning runs checkpoint callbacks last at the end of an epoch).
    """

    def __init__(self, signals: tuple[int, ...] = HANDLED_SIGNALS) -> None:
        self.signals = signals
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _hold(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def _raise_if_received(self) -> None:
        if self.received is not None:
            signum, self.received = self.received, None
            self._restore()
            raise Interrupted(signum)

    def _restore(self) -> None:
        for number, old in self._previous.items():
            signal.signal(number, old)
        self._previous = {}

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._hold) for number in self.signals}

    def _raise_unless_held_to_epoch_end(self) -> None:
        if self.received != signal.SIGUSR1:
            self._raise_if_received()

    def on_train_batch_end(self, *args: Any) -> None:
        self._raise_unless_held_to_epoch_end()

    def on_validation_batch_end(self, *args: Any) -> None:
        self._raise_unless_held_to_epoch_end()

    def on_train_epoch_start(self, *args: Any) -> None:
        self._raise_if_received()

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore()
        self._raise_if_received()  # one that arrived after the last batch

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        self._restore()
