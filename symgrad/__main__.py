"""``python -m symgrad``: the same as the ``symgrad`` command."""

from symgrad.cli import main

raise SystemExit(main())
