"""A graceful stop: SIGTERM or SIGINT during training finishes the current step, saves it, and exits.

Long runs are stopped on purpose (a working session ends, a shared machine is needed) far more often than
they crash. Without this, a stop loses every step since the last `save_every` checkpoint. With it, the run
writes a complete checkpoint of the step it was on (the same atomic save as any other) and returns; rerunning
the same command resumes from that step and ends in the weights of an uninterrupted run. A second signal
while the save is running is ignored until the checkpoint is in place.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class GracefulStop(TrainerCallback):
    """Installs handlers for SIGTERM/SIGINT at train begin and restores the previous ones at train end."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, object] = {}

    def _request(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is None:
            logger.warning(
                "%s received: saving this step's checkpoint, then stopping", signal.Signals(signum).name
            )
        self.requested = signum

    def on_train_begin(self, args, state, control, **kwargs):
        for signum in STOP_SIGNALS:
            try:
                self._previous[signum] = signal.signal(signum, self._request)
            except ValueError:  # not the main thread (e.g. a test runner's worker): no handler, no stop
                pass

    def on_step_end(self, args, state, control, **kwargs):
        if self.requested is not None:
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
