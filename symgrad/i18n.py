"""The language symgrad prints in: English (the default), Japanese, Simplified Chinese, Korean.

Every sentence symgrad prints around the math goes through :func:`tr` (or :func:`tr_n` for a
count), which looks it up in a gettext catalogue: ``symgrad/locale/<lang>/LC_MESSAGES/
symgrad.po``, compiled to ``symgrad.mo`` by Babel (``python tools/i18n.py``, which also
extracts the messages from the source). A sentence defined before it is printed (a table of
labels at module level) is marked with :func:`N_` and translated where it is printed, so that a
change of language takes effect at once. The math itself, generated code and names (``dout``,
``Affine``, ``np.exp``) are never translated.

The language, first match wins:

1. ``lang=`` where a function takes it (``derive("Sigmoid").latex(lang="ja")``), or
   ``--lang`` on the command line;
2. :func:`set_language` (a Jupyter session's setting; ``None`` clears it);
3. the environment variable ``SYMGRAD_LANG``;
4. the locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, as gettext reads them):
   ``ja_JP.UTF-8`` is Japanese, ``zh_CN`` (and every ``zh``) Simplified Chinese, ``ko_KR``
   Korean, anything else English;
5. English.

A language asked for by name (1–3) that symgrad does not have is an error, not English:

>>> with language("ja"):
...     tr("forward")
'順伝播'
>>> tr("forward", lang="ko")
'순전파'
>>> resolve("fr")
Traceback (most recent call last):
...
symgrad.errors.SymgradError: unknown language 'fr'; symgrad speaks en, ja, zh, ko
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext
import os
import re
import string
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from symgrad.errors import SymgradError

DOMAIN = "symgrad"
LANGUAGES = ("en", "ja", "zh", "ko")
LOCALE_DIR = Path(__file__).parent / "locale"
ENV = "SYMGRAD_LANG"
_LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_chosen: contextvars.ContextVar[str | None] = contextvars.ContextVar("symgrad_lang", default=None)
_session: str | None = None  # set_language's setting


def resolve(lang: str | None) -> str:
    """``lang`` checked against the languages symgrad has; None: the current language."""
    if lang is None:
        return current()
    code = lang.strip().lower().replace("-", "_")
    if code in LANGUAGES:
        return code
    raise SymgradError(f"unknown language {lang!r}; symgrad speaks {', '.join(LANGUAGES)}")


def current() -> str:
    """The language now in force (see the module docstring for the order)."""
    chosen = _chosen.get()
    if chosen is not None:
        return chosen
    if _session is not None:
        return _session
    env = os.environ.get(ENV, "").strip()
    if env:
        try:
            return resolve(env)
        except SymgradError:
            raise SymgradError(
                f"{ENV}={env!r} is not a language symgrad speaks: use one of {', '.join(LANGUAGES)}"
            ) from None
    return from_locale()


def from_locale() -> str:
    """The language the locale asks for, as gettext reads it; English when it asks for none of
    symgrad's (``C``, ``POSIX``, ``fr_FR``)."""
    for name in _LOCALE_VARIABLES:
        value = os.environ.get(name, "")
        if not value:
            continue
        for item in value.split(":"):  # LANGUAGE is a list, in order of preference
            code = item.split(".")[0].split("@")[0].split("_")[0].lower()
            if code in LANGUAGES:
                return code
        return "en"  # as gettext: the first variable that is set decides
    return "en"


def set_language(lang: str | None) -> None:
    """Print in ``lang`` from now on (``None``: back to ``SYMGRAD_LANG`` or the locale); what
    a Jupyter notebook shows of a derivation follows it.

    >>> set_language("zh"); tr("forward")
    '正向传播'
    >>> set_language(None)
    """
    global _session
    _session = None if lang is None else resolve(lang)


@contextlib.contextmanager
def language(lang: str | None) -> Iterator[str]:
    """Print in ``lang`` inside the block (``None``: leave the language as it is)."""
    if lang is None:
        yield current()
        return
    token = _chosen.set(resolve(lang))
    try:
        yield _chosen.get() or "en"
    finally:
        _chosen.reset(token)


@functools.cache
def _catalogue(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with open(path, "rb") as f:
            return gettext.GNUTranslations(f)
    except OSError as err:
        message = f"the {lang} message catalogue is missing: {path} ({err.strerror})"
        raise SymgradError(message) from None


def tr(message: str, lang: str | None = None) -> str:
    """``message`` in the current language (or ``lang``); itself where it has no translation."""
    return _catalogue(resolve(lang)).gettext(message)


def tr_n(singular: str, plural: str, n: int, lang: str | None = None) -> str:
    """The form of a sentence for a count ``n``: ``tr_n("{n} file", "{n} files", n)``."""
    return _catalogue(resolve(lang)).ngettext(singular, plural, n)


def tr_filled(text: str, *templates: str, lang: str | None = None) -> str:
    """``text``, English made from one of ``templates`` with its fields filled in, translated
    with the same values; else ``tr(text)``. For a sentence stored in English before it is
    printed, such as how a derivation was checked.

    >>> tr_filled("2 of 3 done", "{shown} of {total} done")
    '2 of 3 done'
    >>> tr_filled("solving y = f(x) for x", "solving {output} = f({input}) for {input}", lang="ja")
    'y = f(x) を x について解いたもの'
    """
    for template in templates:
        pattern, seen = [], set()
        for literal, field, _, _ in string.Formatter().parse(template):
            pattern.append(re.escape(literal))
            if field is not None:  # a field met again must match the same text
                pattern.append(f"(?P={field})" if field in seen else f"(?P<{field}>.+?)")
                seen.add(field)
        match = re.fullmatch("".join(pattern), text) if seen else None
        if match:
            return tr(template, lang).format(**match.groupdict())
    return tr(text, lang)


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it now (see :func:`tr`)."""
    return message


def Nn_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a sentence with a count for translation, as :func:`N_` does (see :func:`tr_n`)."""
    return singular, plural


def display_width(text: str) -> int:
    """The terminal columns ``text`` takes: two for a wide (CJK) character, one for others.

    >>> display_width("順伝播: y"), display_width("forward")
    (9, 7)
    """
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as lines, each column as wide as its widest cell in terminal columns,
    so that a table lines up in Japanese, Chinese and Korean as it does in English."""
    if not rows:
        return []
    widths = [max(display_width(r[c]) for r in rows) for c in range(len(rows[0]))]
    return [
        "  ".join(cell + " " * (w - display_width(cell)) for cell, w in zip(r, widths)).rstrip()
        for r in rows
    ]
