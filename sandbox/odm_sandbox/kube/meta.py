"""ObjectMeta rules that every real apiserver enforces, whatever the resource.

These are the fields clients take for granted: names that are valid DNS subdomains (or labels, for
namespaces), `generateName` expanded with five random characters, labels that are valid label keys and
values, and the system-owned fields (uid, creationTimestamp, deletionTimestamp, generation) that a client
can never overwrite. The messages are the apiserver's (k8s.io/apimachinery/pkg/util/validation).
"""

from __future__ import annotations

import datetime
import random
import re
from typing import Any

from . import errors
from .errors import FieldError

# Characters the apiserver uses for generateName suffixes: no vowels (no words), no look-alike digits.
GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATE_LENGTH = 5

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
QUALIFIED_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

# Fields a client may not set or change: the server owns them.
SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


def now() -> str:
    """RFC 3339 with second precision, as metav1.Time serializes."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None


def generate_name(prefix: str, rng: random.Random) -> str:
    return prefix + "".join(rng.choice(GENERATE_ALPHABET) for _ in range(GENERATE_LENGTH))


def validate_name(name: Any, *, label: bool = False, path: str = "metadata.name") -> list[FieldError]:
    if not isinstance(name, str) or not name:
        return [errors.required(path, "name or generateName is required")]
    limit, pattern, msg = (63, _LABEL, LABEL_MSG) if label else (253, _SUBDOMAIN, SUBDOMAIN_MSG)
    errs = []
    if len(name) > limit:
        errs.append(errors.invalid(path, name, f"must be no more than {limit} characters"))
    if not pattern.match(name):
        errs.append(errors.invalid(path, name, msg))
    return errs


def validate_qualified_key(key: str, path: str) -> list[FieldError]:
    """Label and annotation keys: `[prefix/]name`, the prefix a DNS subdomain."""
    prefix, _, name = key.rpartition("/")
    errs = []
    if prefix:
        if len(prefix) > 253:
            errs.append(errors.invalid(path, key, "prefix part must be no more than 253 characters"))
        elif not _SUBDOMAIN.match(prefix):
            errs.append(errors.invalid(path, key, "prefix part " + SUBDOMAIN_MSG))
    if not name:
        errs.append(errors.invalid(path, key, "name part must be non-empty"))
    elif len(name) > 63:
        errs.append(errors.invalid(path, key, "name part must be no more than 63 characters"))
    elif not _QUALIFIED_NAME.match(name):
        errs.append(errors.invalid(path, key, QUALIFIED_NAME_MSG))
    return errs


def validate_meta(meta: dict[str, Any], *, label_name: bool = False) -> list[FieldError]:
    errs = validate_name(meta.get("name"), label=label_name)
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        errs.append(errors.invalid("metadata.labels", labels, "must be a map of strings"))
        labels = {}
    for key, value in labels.items():
        errs += validate_qualified_key(key, "metadata.labels")
        if not isinstance(value, str):
            errs.append(errors.invalid(f"metadata.labels.{key}", value, "must be a string"))
        elif len(value) > 63:
            errs.append(errors.invalid("metadata.labels", value, "must be no more than 63 characters"))
        elif not _LABEL_VALUE.match(value):
            errs.append(errors.invalid("metadata.labels", value, LABEL_VALUE_MSG))
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict):
        errs.append(errors.invalid("metadata.annotations", annotations, "must be a map of strings"))
        annotations = {}
    for key, value in annotations.items():
        errs += validate_qualified_key(key.lower(), "metadata.annotations")
        if not isinstance(value, str):
            errs.append(errors.invalid(f"metadata.annotations.{key}", value, "must be a string"))
    finalizers = meta.get("finalizers") or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        errs.append(errors.invalid("metadata.finalizers", finalizers, "must be a list of strings"))
    return errs


def validate_meta_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """What ValidateObjectMetaUpdate refuses: new finalizers on an object that is being deleted."""
    errs: list[FieldError] = []
    if old.get("deletionTimestamp"):
        added = sorted(set(new.get("finalizers") or []) - set(old.get("finalizers") or []))
        if added:
            shown = "[]string{" + ", ".join(f'"{f}"' for f in added) + "}"
            errs.append(
                errors.forbidden(
                    "metadata.finalizers",
                    f"no new finalizers can be added if the object is being deleted, found new finalizers {shown}",
                )
            )
    return errs


def keep_system_fields(new_meta: dict[str, Any], old_meta: dict[str, Any]) -> None:
    """Restore the server-owned fields of an update from the stored object, whatever the client sent."""
    for key in SYSTEM_FIELDS:
        if key in old_meta:
            new_meta[key] = old_meta[key]
        else:
            new_meta.pop(key, None)
    new_meta["name"] = old_meta["name"]
    if "namespace" in old_meta:
        new_meta["namespace"] = old_meta["namespace"]
    new_meta.pop("selfLink", None)
