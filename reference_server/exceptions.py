"""Errors the reference server reports as one line and an exit code, never a traceback.

ServerError
├── SettingsError    a bad option, environment variable or backend URL (exit 2)
└── StartupError     the server or one of its backends could not start or be reached (exit 2)

The server has its own errors so that it depends on nothing of the harness but `harness.spec`;
the harness turns them into its own `UsageError` / `TargetError` at its one seam
(`harness.bundled_server`).
"""

from __future__ import annotations

__all__ = ["MissingDependency", "ServerError", "SettingsError", "StartupError"]


class ServerError(Exception):
    exit_code = 2


class SettingsError(ServerError):
    exit_code = 2


class StartupError(ServerError):
    exit_code = 2


class MissingDependency(SettingsError):
    """A backend was asked for whose package is not installed: name the extra that has it."""

    def __init__(self, what: str, module: str, extra: str) -> None:
        super().__init__(
            f"{what} needs the {module!r} package, which is not installed: "
            f"pip install 'crm-realtime-harness[{extra}]'"
        )
        self.module = module
        self.extra = extra
