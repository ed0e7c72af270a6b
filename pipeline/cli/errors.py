"""Exit codes and the one error a command raises for a user mistake."""

from __future__ import annotations

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class UsageError(Exception):
    """A setting or input the user gave that cannot work: `main` prints `error: <message>` (one line, no
    traceback) and exits with EXIT_BAD_INPUT (2), the status argparse gives a bad command line."""


# The API's keyword -> the command line's flag, where the two differ (the rest: --name-with-dashes).
FLAGS = {"B": "--bootstrap", "learning_rate": "--lr", "max_retries": "--request-retries", "run_id": "run", "sources": "RUN_DIR",
         "chat_template_from": "--chat-template-from"}


def setting_line(err) -> str:
    """An analysis.data.checks.SettingError as the one line `mvpbench` prints: `--flag value: rule`."""
    flag = FLAGS.get(err.option, "--" + err.option.replace("_", "-"))
    return f"{flag} {err.value}: {err.rule}"
