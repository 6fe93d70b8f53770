"""API errors rendered as the `Status` bodies a real kube-apiserver sends.

Clients branch on these bodies, not only on the HTTP code: kopf treats 422 as "retry the JSON patch later",
the kubernetes client raises `ApiException` with the body, and kubectl prints `message` verbatim
("Error from server (NotFound): odmjobs.odm-operator.io "x" not found"). So the reason, message and details
follow the apiserver's wording (k8s.io/apimachinery/pkg/api/errors and pkg/util/validation/field).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# HTTP code -> the StatusReason a real server uses for it (apimachinery/pkg/apis/meta/v1/types.go).
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class ApiError(Exception):
    """An error that the server answers with a `Status` body instead of an object."""

    code: int
    message: str
    reason: str = ""
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.reason:
            self.reason = REASONS.get(self.code, "Unknown")
        super().__init__(self.message)

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified(plural: str, group: str) -> str:
    """`odmjobs.odm-operator.io`, or `namespaces` for the core group: how the apiserver names a resource."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        f'{qualified(plural, group)} "{name}" not found',
        details=_details(name, group, plural),
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'{qualified(plural, group)} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        details=_details(name, group, plural),
    )


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    return ApiError(405, message)


def unsupported_media_type(accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def gone(message: str) -> ApiError:
    return ApiError(410, message, reason="Expired")


def internal(message: str) -> ApiError:
    return ApiError(500, f"Internal error occurred: {message}")


def _details(name: str, group: str, plural: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    return details


# --- field errors (k8s.io/apimachinery/pkg/util/validation/field) -------------------------------------------


@dataclass
class FieldError:
    """One entry of an `Invalid` Status: the path, the kind of failure, the offending value, the detail."""

    path: str
    type: str  # "Invalid value", "Required value", "Unsupported value", "Forbidden", "Too long", ...
    value: Any = None
    detail: str = ""
    show_value: bool = True
    reason: str = ""  # details.causes[].reason when it differs from the one the type implies

    # The cause reasons the apiserver puts in details.causes[].reason, keyed by the error type.
    CAUSES = {
        "Invalid value": "FieldValueInvalid",
        "Required value": "FieldValueRequired",
        "Unsupported value": "FieldValueNotSupported",
        "Forbidden": "FieldValueForbidden",
        "Too long": "FieldValueTooLong",
        "Too many": "FieldValueTooMany",
        "Duplicate value": "FieldValueDuplicate",
        "Not found": "FieldValueNotFound",
    }

    def body(self) -> str:
        """The message without the path, e.g. `Invalid value: 11: spec.x in body should be ...`."""
        text = f"{self.type}: {render_value(self.value)}" if self.show_value else self.type
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.path}: {self.body()}" if self.path else self.body()

    def cause(self) -> dict[str, Any]:
        reason = self.reason or self.CAUSES.get(self.type, "FieldValueInvalid")
        return {"reason": reason, "message": self.body(), "field": self.path}


def render_value(value: Any) -> str:
    """Format a bad value like Go's field.Error does: strings quoted, numbers bare, null for None."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, "Required value", detail=detail, show_value=False)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "Invalid value", value, detail)


def type_invalid(path: str, actual: str, detail: str) -> FieldError:
    return FieldError(path, "Invalid value", actual, detail, reason="FieldValueTypeInvalid")


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, "Forbidden", detail=detail, show_value=False)


def not_supported(path: str, value: Any, allowed: list[Any]) -> FieldError:
    quoted = ", ".join(json.dumps(v) if isinstance(v, str) else json.dumps(json.dumps(v)) for v in allowed)
    return FieldError(path, "Unsupported value", value, f"supported values: {quoted}")


def too_long(path: str, limit: int) -> FieldError:
    unit = "byte" if limit == 1 else "bytes"
    return FieldError(path, "Too long", detail=f"may not be more than {limit} {unit}", show_value=False)


def too_many(path: str, actual: int, limit: int) -> FieldError:
    return FieldError(
        path, "Too many", actual, f"must have at most {limit} {'item' if limit == 1 else 'items'}"
    )


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, "Duplicate value", value)


def invalid_object(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """The 422 a real server answers for a failed validation, listing every field error."""
    gk = f"{kind}.{group}" if group else kind
    joined = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    return ApiError(
        422,
        f'{gk} "{name}" is invalid: {joined}',
        details={
            "name": name,
            **({"group": group} if group else {}),
            "kind": kind,
            "causes": [e.cause() for e in errors],
        },
    )
