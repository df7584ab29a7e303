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
