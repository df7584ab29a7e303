"""Errors that reach users.

Every error a user can cause (an unknown layer name, an expression that does not parse, a
variable that does not occur, a path that cannot be written) is a :class:`SymgradError`. The CLI
prints its message as one line on stderr and exits with status 2; nothing deeper than this module
decides how an error looks.
"""

from __future__ import annotations


class SymgradError(Exception):
    """A problem with the user's input, stated in one line."""


class DerivationError(SymgradError):
    """The engine could not derive or prove a result; nothing unproven is ever returned."""


def one_line(err: BaseException) -> str:
    """An exception as one line: its type and its message with whitespace runs made spaces."""
    message = " ".join(str(err).split())
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def unexpected(what: str, err: BaseException) -> DerivationError:
    """A failure inside SymPy or symgrad, as the one-line error a user sees; set
    ``SYMGRAD_DEBUG=1`` to get the traceback instead."""
    import os

    from symgrad.i18n import tr  # here: symgrad.i18n imports this module

    if os.environ.get("SYMGRAD_DEBUG"):
        raise err
    return DerivationError(
        tr("{what}: {error} (an internal failure; SYMGRAD_DEBUG=1 shows where)").format(
            what=what, error=one_line(err)
        )
    )
