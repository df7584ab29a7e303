"""argparse's own words, marked for symgrad's catalogue (see ``cli.translated_argparse``).

argparse prints these through ``gettext`` in its module; the CLI points that at
:func:`symgrad.i18n.tr` while it runs, so that ``symgrad --lang ja derive --help`` says
``使い方:`` and an unknown option is refused in Japanese. The list is the user-facing messages
of Python 3.10–3.13's argparse (a message a version adds stays English until it is listed);
``%``-placeholders are argparse's and a translation keeps them.
"""

from __future__ import annotations

from symgrad.i18n import N_, Nn_

MESSAGES = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("the following arguments are required: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("unrecognized arguments: %s"),
    N_("expected one argument"),
    N_("expected at least one argument"),
    N_("expected at most one argument"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("invalid %(type)s value: %(value)r"),
    N_("not allowed with argument %s"),
    N_("one of the arguments %s is required"),
    N_("ignored explicit argument %r"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
)
PLURALS = (Nn_("expected %s argument", "expected %s arguments"),)
