"""Why the intake refuses a request.

::

    Rejected            -> an HTTP error answer (status, metric reason, detail)
    └── Invalid         -> 422, with one ``{"field", "message"}`` per bad field
"""
from __future__ import annotations

from typing import Any


class Rejected(Exception):
    """A refused request: ``status`` for the client, ``reason`` for the metric, ``detail`` for humans."""

    def __init__(self, status: int, reason: str, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON answer."""
        return {"detail": self.detail}


class Invalid(Rejected):
    """A payload that does not validate: 422 naming each bad field."""

    def __init__(self, errors: list[dict[str, Any]], *, accepted: list[str] | None = None) -> None:
        self.errors = errors
        self.accepted = accepted
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(422, "invalid", summary)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail, "errors": self.errors}
        if self.accepted is not None:
            body["ids"] = self.accepted  # the valid events of the same list, pushed all the same
        return body


def split_reason(reason: str, prefix: str = "") -> list[dict[str, Any]]:
    """``InvalidEvent``'s ``"field: problem; field: problem"`` as one dict per field."""
    out: list[dict[str, Any]] = []
    for clause in reason.split("; "):
        field, sep, message = clause.partition(": ")
        if not sep:
            field, message = "event", clause
        out.append({"field": prefix + field, "message": message})
    return out
