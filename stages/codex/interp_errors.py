"""The one error type of the reference interpreter and its array kernels."""

from __future__ import annotations


class InterpreterError(ValueError):
    """An input the interpreter cannot evaluate (shape mismatch, unsupported operand, bad argument).

    ``op`` names the operator or function that refused; the message starts with it.
    The checker normally prevents these, so reaching one means the AST was not checked.
    """

    def __init__(self, op: str, message: str) -> None:
        super().__init__(f"{op}: {message}")
        self.op = op
