"""The installed rdrf version, written into export datasheets, manifests and reports."""

from __future__ import annotations

from importlib import metadata


def tool_version() -> str:
    try:
        return metadata.version("rdrf")
    except metadata.PackageNotFoundError:
        return "unknown"
