"""Just enough Kubernetes protobuf to read the request bodies kubectl's typed commands send.

kubectl's generator commands (`kubectl create namespace mapping`) go through client-go's typed clients, which
send `application/vnd.kubernetes.protobuf` bodies and do not fall back to JSON on a 415. Responses are not
a problem (they accept JSON too), so only decoding is needed, and only for the built-in kinds we serve that
such commands create: Namespace. Anything else in protobuf is answered with 415, as before.

Wire format: the magic `k8s\\0`, then a `runtime.Unknown` {typeMeta{apiVersion, kind}, raw} whose `raw` is the
object's own message (k8s.io/api/core/v1/generated.proto, apimachinery's generated.proto for ObjectMeta).
"""

from __future__ import annotations

import datetime
from typing import Any

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, Any]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    out: list[tuple[int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((number, value))
    return out


def _str(value: bytes) -> str:
    return value.decode("utf-8")


def _time(value: bytes) -> str:
    parts = dict(fields(value))
    when = datetime.datetime.fromtimestamp(parts.get(1, 0), datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _map_entry(value: bytes) -> tuple[str, str]:
    parts = dict(fields(value))
    return _str(parts.get(1, b"")), _str(parts.get(2, b""))


_OWNER_FIELDS = {1: ("kind", _str), 3: ("name", _str), 4: ("uid", _str), 5: ("apiVersion", _str)}
_OWNER_FLAGS = {6: "controller", 7: "blockOwnerDeletion"}


def _owner(value: bytes) -> dict[str, Any]:
    owner: dict[str, Any] = {}
    for number, raw in fields(value):
        if number in _OWNER_FIELDS:
            key, conv = _OWNER_FIELDS[number]
            owner[key] = conv(raw)
        elif number in _OWNER_FLAGS:
            owner[_OWNER_FLAGS[number]] = bool(raw)
    return owner


_META_STRINGS = {1: "name", 2: "generateName", 3: "namespace", 4: "selfLink", 5: "uid", 6: "resourceVersion"}


def object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for number, raw in fields(data):
        if number in _META_STRINGS:
            meta[_META_STRINGS[number]] = _str(raw)
        elif number == 7:
            meta["generation"] = raw
        elif number == 8:
            meta["creationTimestamp"] = _time(raw)
        elif number == 9:
            meta["deletionTimestamp"] = _time(raw)
        elif number == 10:
            meta["deletionGracePeriodSeconds"] = raw
        elif number in (11, 12):
            key, value = _map_entry(raw)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = value
        elif number == 13:
            meta.setdefault("ownerReferences", []).append(_owner(raw))
        elif number == 14:
            meta.setdefault("finalizers", []).append(_str(raw))
    return meta


def _namespace(data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace"}
    for number, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            finalizers = [_str(v) for n, v in fields(raw) if n == 1]
            obj["spec"] = {"finalizers": finalizers} if finalizers else {}
        elif number == 3:
            phase = [_str(v) for n, v in fields(raw) if n == 1]
            obj["status"] = {"phase": phase[0]} if phase else {}
    return obj


DECODERS = {("v1", "Namespace"): _namespace}


def decode(body: bytes) -> dict[str, Any]:
    """Decode an enveloped object; raises `ProtobufError` for kinds we cannot read."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    unknown = dict(fields(body[len(MAGIC) :]))
    type_meta = dict(fields(unknown.get(1, b"")))
    api_version, kind = _str(type_meta.get(1, b"")), _str(type_meta.get(2, b""))
    decoder = DECODERS.get((api_version, kind))
    if decoder is None:
        raise ProtobufError(f"protobuf bodies of {api_version}/{kind} are not supported by the emulator")
    return decoder(unknown.get(2, b""))
