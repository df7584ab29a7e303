"""For the tests and the doctests alike: they read what symgrad prints in English, whatever
the machine's locale (a subprocess inherits this too). test_i18n sets the other languages."""

import os

os.environ["SYMGRAD_LANG"] = "en"
