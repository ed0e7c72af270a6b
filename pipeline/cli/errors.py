"""Exit codes and the one error a command raises for a user mistake."""

from __future__ import annotations

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class UsageError(Exception):
    """A setting or input the user gave that cannot work: `main` prints `error: <message>` (one line, no
    traceback) and exits with EXIT_BAD_INPUT (2), the status argparse gives a bad command line."""
