"""The catalog: every layer declared in :mod:`symgrad.layers`, by class name.

>>> "Sigmoid" in catalog
True
>>> catalog["sigmod"]
Traceback (most recent call last):
...
symgrad.errors.SymgradError: unknown layer 'sigmod'; did you mean 'Sigmoid'?
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Iterator, Mapping

from symgrad.errors import SymgradError
from symgrad.i18n import tr
from symgrad.program import Layer


class Catalog(Mapping[str, Layer]):
    """Read-only mapping from layer name to spec, loaded on first use, in file-name order."""

    def __init__(self, package: str = "symgrad.layers", drafts: bool = False) -> None:
        self._package = package
        self._drafts = drafts
        self._specs: dict[str, Layer] | None = None

    def _load(self) -> dict[str, Layer]:
        if self._specs is None:
            pkg = importlib.import_module(self._package)
            specs: dict[str, Layer] = {}
            for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
                if info.name.startswith("_") != self._drafts:
                    continue
                spec = importlib.import_module(f"{self._package}.{info.name}").SPEC
                specs[spec.name] = spec
            self._specs = specs
        return self._specs

    def __getitem__(self, name: str) -> Layer:
        specs = self._load()
        if name in specs:
            return specs[name]
        folded = {k.lower(): k for k in specs}
        if name.lower() in folded:
            return specs[folded[name.lower()]]
        close = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.5)
        if close:
            message = tr("unknown layer {name!r}; did you mean {suggestion!r}?").format(
                name=name, suggestion=folded[close[0]]
            )
        else:
            message = tr("unknown layer {name!r}; known: {known}").format(
                name=name, known=", ".join(specs)
            )
        raise SymgradError(message)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in {k.lower() for k in self._load()}

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"Catalog({', '.join(self)})"


catalog = Catalog()
drafts = Catalog(drafts=True)
"""Declarations not yet in the catalog (file names starting with ``_``): derived, generated
and tested on their own until every catalog-wide promise holds for them."""
