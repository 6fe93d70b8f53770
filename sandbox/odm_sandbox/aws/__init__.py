"""The AWS half of the local stack: moto plus a simulated ECS agent that runs ODM jobs with ODM's semantics.

Never imported by the operator itself; the operator reaches it only through ``AWS_ENDPOINT_URL``. Importing
this package is cheap; moto is loaded when ``AwsSandbox`` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sandbox import AwsSandbox as AwsSandbox
    from .timings import Timings as Timings

__all__ = ["AwsSandbox", "Timings"]


def __getattr__(name: str) -> Any:
    if name == "AwsSandbox":
        from .sandbox import AwsSandbox

        return AwsSandbox
    if name == "Timings":
        from .timings import Timings

        return Timings
    raise AttributeError(name)
