"""The message catalogues, with Babel: extract, update, compile (see :mod:`symgrad.i18n`).

    python tools/i18n.py           # symgrad.pot from the source, each .po updated, each .mo
    python tools/i18n.py --check   # exit 1, naming what is stale, when any of them is

Extraction finds every ``tr("...")``, ``tr_n("...", "...", n)``, ``N_("...")`` and
``Nn_("...", "...")`` in ``symgrad/``, and each catalog layer's ``doc=``. A message new in the
source enters each ``.po`` untranslated (the test of the catalogues then fails until it is
translated); one gone from the source leaves the ``.po``.
Locations are written without line numbers, so that editing a file does not churn them.
"""

from __future__ import annotations

import io
import sys
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "symgrad"
LOCALE = PACKAGE / "locale"
TEMPLATE = LOCALE / "symgrad.pot"
LANGUAGES = ("ja", "zh", "ko")
BABEL_LOCALE = {"ja": "ja", "zh": "zh_Hans", "ko": "ko"}
KEYWORDS = {"tr": None, "tr_n": (1, 2), "N_": None, "Nn_": (1, 2)}
FIXED_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)  # a header that does not churn
WIDTH = 100


def extract() -> Catalog:
    """The template: every message marked in the source."""
    catalog = Catalog(
        project="symgrad", version="0.1.0", creation_date=FIXED_DATE, revision_date=FIXED_DATE
    )
    methods = [("**.py", "python")]
    for filename, _lineno, message, comments, context in extract_from_dir(
        str(PACKAGE), method_map=methods, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
    ):
        catalog.add(
            message,
            locations=[(f"symgrad/{filename}", None)],
            auto_comments=comments,
            context=context,
        )
    _add_layer_docs(catalog)
    return catalog


def _add_layer_docs(catalog: Catalog) -> None:
    """Each catalog layer's one-line description (``doc=`` in ``symgrad/layers/*.py``), which
    the renderer prints through ``tr``: a layer file needs nothing of i18n to be translated."""
    import importlib
    import pkgutil

    import symgrad.layers

    for info in sorted(pkgutil.iter_modules(symgrad.layers.__path__), key=lambda i: i.name):
        spec = getattr(importlib.import_module(f"symgrad.layers.{info.name}"), "SPEC", None)
        if spec is not None and spec.doc:
            catalog.add(
                spec.doc,
                locations=[(f"symgrad/layers/{info.name}.py", None)],
                auto_comments=[f"TRANSLATORS: the one-line description of the layer {spec.name}"],
            )


def po_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / "symgrad.po"


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


def read(path: Path, lang: str | None = None) -> Catalog:
    with open(path, "rb") as f:
        return read_po(f, locale=BABEL_LOCALE.get(lang or ""))


def po_text(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=WIDTH, sort_output=True, include_lineno=False)
    return out.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def updated(lang: str, template: Catalog) -> Catalog:
    """``lang``'s catalogue with the template's messages: translations kept, new ones empty."""
    path = po_path(lang)
    if path.exists():
        catalog = read(path, lang)
    else:
        catalog = Catalog(locale=BABEL_LOCALE[lang], project="symgrad", version="0.1.0")
    catalog.creation_date = catalog.revision_date = FIXED_DATE
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=True)
    catalog.obsolete.clear()
    return catalog


def planned() -> dict[Path, bytes]:
    """Every catalogue file as the source says it should be."""
    template = extract()
    files = {TEMPLATE: po_text(template)}
    for lang in LANGUAGES:
        catalog = updated(lang, template)
        files[po_path(lang)] = po_text(catalog)
        files[mo_path(lang)] = mo_bytes(read_po(io.BytesIO(files[po_path(lang)])))
    return files


def stale() -> list[Path]:
    return [p for p, data in planned().items() if not p.exists() or p.read_bytes() != data]


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        paths = stale()
        for path in paths:
            print(f"stale: {path.relative_to(ROOT)}")
        if paths:
            print("run: python tools/i18n.py", file=sys.stderr)
        return 1 if paths else 0
    if argv:
        print("usage: python tools/i18n.py [--check]", file=sys.stderr)
        return 2
    for path, data in planned().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
