"""``napari-unet train``'s report of a run: a progress bar, validation lines, a JSON-lines log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from napari_unet.cli._args import progress_bar


def _jsonable(event) -> dict:
    from dataclasses import asdict

    d = {"event": type(event).__name__}
    for k, v in asdict(event).items():
        d[k] = str(v) if isinstance(v, Path) else v
    return d


#: What validation scores, printed when a run validates (docs/training.md).
VALIDATION_NOTE = (
    "validation scores each image at its own scale, its light as recorded; "
    "`napari-unet evaluate MODEL --object-size none --background keep --images VAL "
    "--labels VAL_LABELS` scores separate validation images the same way (evaluate's "
    "defaults rescale and flatten, and may score them otherwise)"
)


class _Log:
    """The JSON-lines log, opened at the first event (appended: a resumed run adds to it).

    A run refused before any work (its device, its steps) writes none: before, an empty file.
    """

    def __init__(self, path: Path) -> None:
        self.path, self.file = path, None

    def write(self, text: str) -> None:
        if self.file is None:
            self.file = open(self.path, "a", encoding="utf-8")
        self.file.write(text)
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class _Reporter:
    """Prints a run's events: a progress bar, validation lines and a JSON-lines log."""

    def __init__(self, log, quiet: bool) -> None:
        self.log, self.quiet, self.bar = log, quiet, None
        self.start, self.evaluated = 0, None  # the run's first step, the last one evaluated

    def __call__(self, ev) -> None:
        from napari_unet.core.training.events import (
            Checkpoint,
            Evaluation,
            Preview,
            TrainStarted,
            TrainStep,
        )

        if not isinstance(ev, Preview):
            self.log.write(json.dumps(_jsonable(ev)) + "\n")
        if isinstance(ev, TrainStarted):
            print(
                f"training on {ev.device}: {ev.n_pairs} image(s) ({ev.n_cells} cells), "
                f"{ev.n_val} for validation ({ev.n_val_cells} cells), "
                f"crops {ev.input_size}->{ev.output_size} px, steps "
                f"{ev.start_step}->{ev.total_steps}",
                file=sys.stderr,
            )
            print(f"learning rate {ev.lr:g} ({ev.lr_reason})", file=sys.stderr)
            if ev.n_val:
                print(VALIDATION_NOTE, file=sys.stderr)
            self.start = ev.start_step
            self.bar = progress_bar("train", "step", total=ev.total_steps, initial=ev.start_step,
                                    disable=True if self.quiet else None,
                                    dynamic_ncols=True)  # fmt: skip
            # None: hidden when stderr is no terminal, as every command's bar (before: drawn
            # into a redirected stderr, unless --quiet)
        elif isinstance(ev, TrainStep) and self.bar is not None:
            self.bar.update(ev.step - self.bar.n)
            self.bar.set_postfix(
                loss=f"{ev.loss:.4f}", lr=f"{ev.lr:.2g}", img_s=f"{ev.images_per_s:.1f}"
            )
        elif isinstance(ev, Evaluation):
            m, self.evaluated = ev.metrics, ev.step
            self._write(
                f"step {ev.step}: val_loss {m['val_loss']:.4f}  pixel_iou {m['pixel_iou']:.3f}  "
                f"ap50 {m['ap50']:.3f} (own scale, light as recorded)"
            )
        elif isinstance(ev, Checkpoint) and ev.kind == "best":
            self._write(self._best(ev))

    def _best(self, ev) -> str:
        """The line of a best model written: this evaluation's, or an earlier step's."""
        if ev.step == self.evaluated:
            return f"best so far -> {ev.path}"
        if 0 < ev.step <= self.start:  # the part resumed: no later step beat it
            return f"carried best of step {ev.step} (no step since beat it) -> {ev.path}"
        start = "the start model (step 0)" if ev.step == 0 else f"step {ev.step}"
        return f"best so far: still {start} -> {ev.path}"

    def _write(self, text: str) -> None:
        (self.bar.write if self.bar is not None else print)(text)
