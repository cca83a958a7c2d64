"""Errors that napari-unet reports to users as messages, not tracebacks."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input.

    The message says what was wrong and what is expected. The CLI prints it as one
    error line with a non-zero exit; widgets show it as a napari notification.
    """
