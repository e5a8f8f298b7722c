"""What went wrong with a request, independent of how an API words it.

Every validation step reports `Issue`s; an error dialect (see `dialects.py`) turns them into the
emulated API's own error body. Issue kinds are pydantic's error types, because FastAPI servers
(Chutes, InvokeAI) put those names on the wire and the other dialects can map from them.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

Location = tuple[t.Union[str, int], ...]


@dataclass(frozen=True, slots=True)
class Issue:
    kind: str  # "missing", "int_parsing", "string_too_short", "enum", ...
    loc: Location  # ("query", "limit"), ("body", "name"), ("body",)
    input: t.Any = None
    ctx: dict[str, t.Any] | None = None

    @property
    def param(self) -> str | None:
        """The parameter (or top-level body field) this issue is about, for one-line dialects."""
        names = [str(part) for part in self.loc[1:]]
        return ".".join(names) if names else None


class RequestInvalid(Exception):
    """Raised by validation or by a handler when the request breaks the API's rules."""

    def __init__(self, issues: t.Sequence[Issue]) -> None:
        super().__init__(issues)
        self.issues = list(issues)


@dataclass
class ApiError(Exception):
    """An error answer in the emulated API's dialect: `{"detail": message}`, `{"error": {...}}`.

    `fields` carry dialect-specific extras (OpenAI's `type`, `param`, `code`).
    """

    status: int
    message: str
    fields: dict[str, t.Any] = field(default_factory=dict)
    headers: dict[str, t.Any] = field(default_factory=dict)

    def __init__(self, status: int, message: str, *, headers: dict[str, t.Any] | None = None, **fields: t.Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields
        self.headers = headers or {}
