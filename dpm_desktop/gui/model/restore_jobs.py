"""The restorations and batches of the open photo, in the background: one job at a time, of either
kind (krita-ai-diffusion's ``JobQueue``, reduced to what one photo needs). A result is put into the
document only if it was computed for the photo open now; the time a fill took is kept, per model and
device, to say how long the next one will take (and in the settings, for the next session)."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QImage

from dpm_desktop.core.inpaint import estimate_cost
from dpm_desktop.core.progress import CancelToken

from ..workers.batch import BatchPlan, run_batch
from ..workers.jobs import JobInput, run_job
from ..workers.rate_probe import Rates, fill_rates, probe_rates
from ..workers.runner import JobRunner
from .document import Document
from .result import PendingResult
from .settings import AppSettings
from .task import TaskParams

_GUESS, _PATCH = "guess", "patch"  # the CPU rates' keys in the saved rates; network rates are "model\tdevice"


@dataclass(frozen=True)
class Expectation:
    """What the fill the task panel would run now will cost."""

    calls: int  # network calls, all candidates together
    seconds: float | None  # at the rate an earlier fill measured on this model and device; None before any


class RestoreJobs(QObject):
    runningChanged = Signal(bool)  # a restoration started or ended (its thread too)
    progress = Signal(object)  # StepInfo
    preview = Signal(QImage)  # the chain's current estimate, small
    placed = Signal(QImage, QRect)  # a fill's current estimate in place (image pixels)
    ended = Signal()  # the restoration ended, whatever the outcome; sent before the outcome
    finished = Signal(object)  # PendingResult, now the document's result
    failed = Signal(str, str)  # message, details
    cancelled = Signal()
    dropped = Signal(str)  # a result not offered: why, in a line
    batchRunningChanged = Signal(bool)
    batchProgress = Signal(object)  # StepInfo
    batchFinished = Signal(object)  # BatchReport
    batchFailed = Signal(str, str)
    batchCancelled = Signal()
    rateMeasured = Signal()  # a warm-up measured a model's speed: the expected time can show
    _probed = Signal(object, object)  # (model, device), Rates or None; from the probe's thread

    def __init__(self, doc: Document, parent: QObject | None = None, settings: AppSettings | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.settings = settings
        self.runner = JobRunner(self)
        self.batch_runner = JobRunner(self)
        saved = settings.fill_rates if settings is not None else {}
        # seconds per megapixel-call, by (model, device)
        self.rates: dict[tuple[str | None, str], float] = {
            (model or None, device): v for k, v in saved.items() if k.count("\t") == 1
            for model, device in [k.split("\t")]}
        self.guess_rate: float | None = saved.get(_GUESS)  # seconds per hole pixel of the spectral first guess (CPU)
        # seconds per hole pixel that patches render (CPU, per candidate)
        self.patch_rate: float | None = saved.get(_PATCH)
        self._probing: set[tuple[str | None, str]] = set()  # warm-ups started (ended or cancelled: not repeated)
        self._probe_token = CancelToken()  # a real job cancels the warm-up: they would share the cores
        self._probe_thread: threading.Thread | None = None
        self._closed = False  # shut down: no more probes
        self._probed.connect(self._on_probed)
        r = self.runner
        for outcome in (r.finished, r.failed, r.cancelled):
            outcome.connect(lambda *_: self.ended.emit())  # connected first: sent before the outcome
        r.finished.connect(self._on_finished)
        r.failed.connect(self.failed)
        r.cancelled.connect(self.cancelled)
        r.progress.connect(self.progress)
        r.preview.connect(self.preview)
        r.placed.connect(self.placed)
        r.runningChanged.connect(self.runningChanged)
        b = self.batch_runner
        b.progress.connect(self.batchProgress)
        b.finished.connect(self.batchFinished)
        b.failed.connect(self.batchFailed)
        b.cancelled.connect(self.batchCancelled)
        b.runningChanged.connect(self.batchRunningChanged)

    @property
    def is_running(self) -> bool:
        """A restoration runs (Cancel applies to it)."""
        return self.runner.is_running

    @property
    def busy(self) -> bool:
        return self.runner.is_running or self.batch_runner.is_running

    def settle(self) -> bool:
        """True when neither kind of job runs (one that has delivered its result is waited for)."""
        return self.runner.settle() and self.batch_runner.settle()

    def start(self, job: JobInput) -> bool:
        """Restore in the background; False when nothing started (a job runs, or shutting down)."""
        if not self.settle():
            return False
        self._probe_token.cancel()
        return self.runner.start(lambda reporter: run_job(job, reporter), context=job)

    def start_batch(self, plan: BatchPlan) -> bool:
        if not self.settle():
            return False
        self._probe_token.cancel()
        return self.batch_runner.start(lambda reporter: run_batch(plan, reporter), context=plan)

    def cancel(self) -> bool:
        """Cancel the running restoration; False when none runs."""
        if not self.runner.is_running:
            return False
        self.runner.cancel()
        return True

    def cancel_batch(self) -> None:
        self.batch_runner.cancel()

    def expectation(self, params: TaskParams) -> Expectation | None:
        """The cost of the fill ``params`` would run on the open photo's mask; None unless it is an
        inpainting with something painted."""
        if params.task != "inpaint" or not self.doc.has_image:
            return None
        cov = self.doc.coverage()
        if not cov.any():
            return None
        cost = estimate_cost(cov > 0, **params.inpaint_settings())
        rate = self.rates.get((params.model, params.device))
        mp_calls = cost.megapixel_calls * params.candidates
        seconds = rate * mp_calls if rate else None
        if seconds is not None and cost.guess_pixels:
            seconds = seconds + self.guess_rate * cost.guess_pixels if self.guess_rate else None
        if seconds is not None and cost.patch_pixels:
            patch_px = cost.patch_pixels * params.candidates
            seconds = seconds + self.patch_rate * patch_px if self.patch_rate else None
        return Expectation(cost.calls * params.candidates, seconds)

    def warm_up(self, params: TaskParams) -> None:
        """Before a model's first fill on this machine: load it and time a fill of a synthetic photo in
        a background thread (workers.rate_probe), so that the cost shown before Run carries a time.
        Once per model and device (a probe that a Run cancelled is not repeated: the fill measures),
        one probe at a time, never beside a running job; the user's own fills' measurements replace
        the probe's."""
        key = (params.model, params.device)
        known = key in self.rates and self.guess_rate is not None and self.patch_rate is not None
        probing = self._probe_thread is not None and self._probe_thread.is_alive()
        if (params.task != "inpaint" or known or key in self._probing or probing or self._closed or self.busy
                or not self.doc.has_image):
            return
        self._probing.add(key)
        channels = self.doc.channels
        token = self._probe_token = CancelToken()

        def probe() -> None:
            try:
                rates: Rates | None = probe_rates(key[0], key[1], channels, token)
            except Exception:  # cancelled; or a model that fails here fails again on Run, with its message
                rates = None
            with contextlib.suppress(RuntimeError):  # the window closed meanwhile
                self._probed.emit(key, rates)  # queued to the GUI thread

        self._probe_thread = threading.Thread(target=probe, name="dpm-rate-probe", daemon=True)
        self._probe_thread.start()

    def _on_probed(self, key: tuple[str | None, str], rates: Rates | None) -> None:
        if rates is None:
            return
        # What a fill of the user's own measured (one may have ended meanwhile) counts over the probe's.
        self._take(key, rates, replace=False)
        self.rateMeasured.emit()

    def _on_finished(self, result: PendingResult) -> None:
        job: JobInput | None = self.runner.context
        if job is None or job.generation != self.doc.generation:
            return  # computed for an image that is no longer open
        if job.pixels is not self.doc.pixels:  # every edit makes a new array: the photo changed meanwhile
            self.dropped.emit("The result was dropped: the photo changed while it ran (run it again)")
            return
        p = job.params
        if p.task == "inpaint" and job.coverage is not None:  # the time per megapixel-call, for the next estimates
            cost = estimate_cost(job.coverage > 0, **p.inpaint_settings())
            self._take((p.model, p.device), fill_rates(cost, result.elapsed_s, float(result.params.get("guess_s", 0.0)),
                                                       float(result.params.get("patch_s", 0.0)), p.candidates))
        self.doc.set_result(result)
        self.finished.emit(result)

    def _take(self, key: tuple[str | None, str], measured: Rates, *, replace: bool = True) -> None:
        """Keep what was measured (``replace`` False: only where nothing is known yet) and save it."""
        if measured.network and (replace or key not in self.rates):
            self.rates[key] = measured.network
        if measured.guess and (replace or self.guess_rate is None):
            self.guess_rate = measured.guess
        if measured.patch and (replace or self.patch_rate is None):
            self.patch_rate = measured.patch
        self._save_rates()

    def _save_rates(self) -> None:
        if self.settings is None:
            return
        saved = {f"{model or ''}\t{device}": v for (model, device), v in self.rates.items()}
        for key, v in ((_GUESS, self.guess_rate), (_PATCH, self.patch_rate)):
            if v is not None:
                saved[key] = v
        self.settings.fill_rates = saved

    def shutdown(self) -> None:
        self._closed = True
        self._probe_token.cancel()  # stopped at its next step, not left running into interpreter exit
        if self._probe_thread is not None:
            self._probe_thread.join(timeout=5)  # a model load (under a second) is the longest wait
        for runner in (self.runner, self.batch_runner):
            runner.shutdown()
