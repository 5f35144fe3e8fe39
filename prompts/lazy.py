"""Package exports that load on first use, so importing a package does not import torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, names: dict[str, str], namespace: dict[str, Any]) -> Callable:
    """A module `__getattr__` that imports `names[name]` (a module path) on first access.

    The value is stored in `namespace` (the package's globals), so later lookups are plain.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        namespace[name] = value
        return value

    return __getattr__
