"""Errors that speak to the user: the ``ovseg`` command prints them without a traceback."""


class OvsegUserError(Exception):
    """Bad input from the user (a name, a path, a file); the message says what and how to fix it."""


class UnknownNameError(OvsegUserError, ValueError):
    """A name (dataset, protocol, template set, ...) that is not in its table."""
