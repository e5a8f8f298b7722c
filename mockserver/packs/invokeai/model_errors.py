"""The model manager's errors: `ModelError`, an answer the handlers turn into an HTTP error, and
`_Failure`, an install or download job's failure as InvokeAI names it."""

from __future__ import annotations


class ModelError(Exception):
    """An answer the handlers turn into an HTTP error: `status` and `detail`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Failure(Exception):
    """A job's failure, named after the exception InvokeAI raises in that case."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
