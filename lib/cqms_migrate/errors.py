"""One exception hierarchy. Every message says what failed, where, and what to do next.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``.
"""


class CqmsError(Exception):
    """Base of every error the runbook raises on purpose."""

    exit_code = 1

    def one_line(self) -> str:
        return " ".join(str(self).split())


class ParamsError(CqmsError):
    """The params file is missing, malformed, or has an unknown or mistyped key."""

    exit_code = 2


class ConfirmationRequired(CqmsError):
    """A prod (or other guarded) run was started without its explicit confirmation."""

    exit_code = 3


class EnvironmentRefused(CqmsError):
    """An operation meant for local/test databases was pointed at staging or prod."""

    exit_code = 3


class DatabaseUnreachable(CqmsError):
    """The database could not be reached with the configured URL."""

    exit_code = 4


class EmbeddedServerError(CqmsError):
    """The embedded PostgreSQL could not be initialised, started or stopped."""

    exit_code = 4


class UnsafeIdentifier(CqmsError):
    """A legacy identifier (table/column name) is outside what the runbook accepts."""

    exit_code = 5


class LegacyShapeError(CqmsError):
    """A legacy table is not shaped as the runbook expects (missing table/column, wrong type)."""

    exit_code = 5


class RunLocked(CqmsError):
    """Another operator holds the migration advisory lock."""

    exit_code = 6


class LockTimeoutExhausted(CqmsError):
    """A DDL statement could not get its lock within every retry attempt."""

    exit_code = 6


class StepError(CqmsError):
    """A step failed to deploy, verify or revert."""

    exit_code = 7


class CheckFailed(CqmsError):
    """A validation check found a problem; the phase must not go on."""

    exit_code = 8


class PhaseOrderError(CqmsError):
    """A phase was asked to run before a phase it depends on, or rolled back out of order."""

    exit_code = 9


class NotebookFailed(CqmsError):
    """A phase notebook raised; the executed notebook was still written. ``manifest``: the run's
    manifest as it stands (the CLI prints its summary)."""

    exit_code = 10

    def __init__(self, message: str, manifest: dict | None = None):
        super().__init__(message)
        self.manifest = manifest


class TrailTampered(CqmsError):
    """verify-trail found an output file or manifest that does not match its recorded hash.
    ``problems``: every problem found, the first of which is in the message."""

    exit_code = 11

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])
