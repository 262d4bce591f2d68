"""The one exception type every stage raises for a user-facing failure.

The CLI turns it into a red message and a non-zero exit; anything else is a bug and keeps its traceback.
"""


class RdrfError(Exception):
    """A failure the user can act on: the message names the file, shot or scene and what was expected."""

    exit_code: int = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class WorkspaceError(RdrfError):
    """A failure of the workspace itself - a missing, unreadable or read-only catalogue, a full disk -
    rather than of one scene or file: a command that goes on past a bad scene stops at this one."""
