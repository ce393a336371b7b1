"""Errors a user can act on. The CLI prints them as one line and exits with `exit_code`."""


class UserError(Exception):
    """Bad input from the user (recipe, override, URL, credentials): exit code 2, no traceback."""

    exit_code = 2


class JobNotFound(UserError):
    """No job record with that id."""
