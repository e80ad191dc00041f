"""The one exception QWave raises for inputs it cannot run; the stage turns it into a StageError."""

from __future__ import annotations


class QWaveError(ValueError):
    """An operator, shape, dtype or precision QWave cannot compile or run.

    ``code`` is a short machine-readable tag (``unsupported_op``, ``bad_shape``,
    ``bad_dtype``, ``bad_precision``, ``bad_input``) that becomes the StageError item's code.
    """

    def __init__(self, message: str, *, code: str = "unsupported", op: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.op = op
