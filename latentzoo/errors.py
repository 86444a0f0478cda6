"""Errors that the command line turns into one clear line on stderr.

``UserError`` (exit code 2) is raised for anything the user can fix: a bad path, a
malformed file, an unknown option, an impossible value. ``TrainingFailed`` (exit
code 1) is raised when a run stops for a reason found during training, such as a
loss that became NaN; its message names the step, the likely cause and the fix.
"""


class UserError(ValueError):
    """A problem with the user's input; the CLI prints it on one line and exits 2."""

    exit_code = 2


class TrainingFailed(Exception):
    """A run that had to stop (divergence); the CLI prints it on one line and exits 1."""

    exit_code = 1


def printable(text: str, limit: int = 300) -> str:
    """``text`` safe for a terminal: control characters (ESC, CSI, OSC, ...) escaped, at most ``limit`` characters."""
    out = "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in str(text))
    return out if len(out) <= limit else out[:limit] + "…"
