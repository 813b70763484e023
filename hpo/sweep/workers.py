"""``pesweep sweep --workers K``: K worker processes on one study on this machine.

Each worker is a :func:`hpo.sweep.runner.run_sweep` of its own (a spawned process),
joined through the study's storage like workers on other machines are: no
queue of ours. Each gets ``cores / K`` torch threads (torch's default, all
cores in every process, is 2.2x slower when two processes share two cores)
and, with ``--devices``, one GPU by ``CUDA_VISIBLE_DEVICES`` (round robin:
``--devices 0 --workers 2`` puts two workers on one GPU). ``--n-trials`` is
shared out among the workers; ``--study-trials`` holds for all of them.

The parent draws one progress bar for the study and passes SIGINT and SIGUSR1
on to the workers (they run in sessions of their own, so a terminal's Ctrl-C
reaches them once, through it), and SIGTERM too unless it runs inside a Slurm
job, where Slurm signals every process of the job itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path

import optuna

from hpo.runtime.console import configure_logging
from hpo.runtime.environment import environment
from hpo.runtime.errors import StudyError
from hpo.runtime.interrupts import Interrupted, interrupts_raise
from hpo.sweep.options import SweepOptions, finished_trials, validate_options
from lightning_modules.errors import PesweepError

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def available_cores() -> int:
    """The cores this process may run on (its affinity: a Slurm allocation, a taskset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def parse_devices(text: str | None) -> tuple[str, ...]:
    """``--devices 0,1`` as a tuple of CUDA device ids; a one-line error for anything else."""
    if text is None:
        return ()
    devices = tuple(part.strip() for part in text.split(","))
    if not devices or not all(part.isdigit() for part in devices):
        raise StudyError(f"--devices takes GPU numbers separated by commas (0,1), got {text!r}")
    count = gpu_count()
    absent = [device for device in devices if int(device) >= count]
    if absent:
        found = f"{count} CUDA GPU{'s' if count != 1 else ''}" if count else "no CUDA GPU"
        raise StudyError(
            f"--devices {text}: this machine has {found}, so GPU {', '.join(absent)} does not "
            f"exist; drop --devices to train on the CPU (--workers K for several CPU workers)"
        )
    return devices


def gpu_count() -> int:
    """CUDA GPUs on this machine: the NVIDIA driver's list, else torch's count (torch imported)."""
    listed = Path("/proc/driver/nvidia/gpus")
    if listed.is_dir():
        return sum(1 for _ in listed.iterdir())
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def trial_shares(n_trials: int | None, workers: int) -> list[int | None]:
    """``n_trials`` shared out as evenly as can be (None: every worker runs until stopped)."""
    if n_trials is None:
        return [None] * workers
    return [n_trials // workers + (1 if i < n_trials % workers else 0) for i in range(workers)]


def end_with_parent(parent: int) -> None:
    """SIGTERM to this process when ``parent`` dies, even by ``kill -9`` (no orphaned workers).

    Linux delivers it at once (``PR_SET_PDEATHSIG``); elsewhere a thread looks
    every two seconds. SIGTERM ends the running trial as a preempted one (it is retried).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        watched_by_kernel = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) == 0
    except (OSError, AttributeError):  # not Linux
        watched_by_kernel = False
    if os.getppid() != parent:  # it died before the kernel watched it
        os.kill(os.getpid(), signal.SIGTERM)
    if watched_by_kernel:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(2.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker(options: SweepOptions, index: int, threads: int, verbose: bool, parent: int) -> None:
    """The body of one worker process (spawned: nothing is inherited but ``options``)."""
    os.setsid()  # the parent alone receives the terminal's signals and passes them on
    end_with_parent(parent)
    configure_logging(verbose, prefix=f"[worker {index}] ")
    import torch

    torch.set_num_threads(threads)
    from hpo.sweep.runner import run_sweep

    try:
        with interrupts_raise():
            run_sweep(options)
    except Interrupted as interruption:
        raise SystemExit(interruption.exit_code) from None
    except PesweepError as error:
        logging.getLogger(__name__).error("pesweep: error: %s", str(error).splitlines()[0])
        raise SystemExit(2) from None


def run_workers(
    options: SweepOptions, workers: int, devices: Sequence[str] = (), verbose: bool = False
) -> int:
    """Run ``workers`` processes on the study of ``options``; returns the exit status.

    0 when every worker ended cleanly; else the first non-zero status (an
    interruption's own status when the parent was interrupted).
    """
    validate_options(options)
    if workers < 1:
        raise StudyError(f"--workers must be a positive whole number, got {workers}")
    shares = trial_shares(options.n_trials, workers)
    count = sum(1 for share in shares if share != 0)
    threads = max(1, available_cores() // count)
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    for index, share in enumerate(shares[:count]):
        worker_options = dataclasses.replace(
            options, n_trials=share, show_progress_bar=False, trial_progress_bar=False
        )
        variables = {"OMP_NUM_THREADS": str(threads)}
        if devices:
            variables["CUDA_VISIBLE_DEVICES"] = devices[index % len(devices)]
        process = context.Process(
            target=_worker,
            args=(worker_options, index, threads, verbose, os.getpid()),
            name=f"pesweep-worker-{index}",
        )
        with environment(variables):
            process.start()
        processes.append(process)
    logger.info(
        "%d workers on study %r, %d torch threads each%s",
        count,
        options.study_name,
        threads,
        f", GPUs {','.join(devices)}" if devices else "",
    )
    try:
        _watch(options, processes)
    except Interrupted as interruption:
        _forward(processes, interruption.signum)
        for worker in processes:
            worker.join()
        return interruption.exit_code
    codes = [worker.exitcode or 0 for worker in processes]
    return next((code for code in codes if code != 0), 0)


def _forward(processes: Sequence[BaseProcess], signum: int) -> None:
    if signum == signal.SIGTERM and os.environ.get("SLURM_JOB_ID"):
        return  # Slurm has signalled every process of the job already
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signum)


def _watch(options: SweepOptions, processes: Sequence[BaseProcess]) -> None:
    """Wait for the workers, with one progress bar over the study's finished trials."""
    counter = _FinishedTrials(options)
    bar = None
    start_count = 0
    while any(process.is_alive() for process in processes):
        finished = counter()
        if finished is not None and options.show_progress_bar:
            if bar is None:
                from tqdm import tqdm

                start_count = finished
                total = options.n_trials
                if options.study_trials is not None:
                    total = max(0, options.study_trials - finished)
                bar = tqdm(total=total, desc=f"study {options.study_name}", unit="trial")
            if bar.n != finished - start_count:
                bar.n = finished - start_count
                bar.refresh()
        time.sleep(POLL_SECONDS)
    if bar is not None:
        bar.n = (counter() or start_count) - start_count
        bar.close()


class _FinishedTrials:
    """Complete and pruned trials of the study, or None before a worker has created it."""

    def __init__(self, options: SweepOptions) -> None:
        self.options = options
        self.study: optuna.Study | None = None

    def __call__(self) -> int | None:
        from hpo.study.setup import connect_storage, storage_exists

        if self.study is None:
            if not storage_exists(self.options.storage):
                return None
            try:
                self.study = optuna.load_study(
                    study_name=self.options.study_name,
                    storage=connect_storage(self.options.storage),
                )
            except (KeyError, StudyError):
                return None
        return finished_trials(self.study)
