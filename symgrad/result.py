"""What every derivation has in common, whichever engine produced it.

:class:`symgrad.engine.Derivation` inherits from :class:`Rendered` the name, the ``grads``
mapping and the display methods, which hand over to :mod:`symgrad.render` (imported only when
something is shown, so that the engine does not import the renderer). Each takes ``lang=``; a
notebook's display follows :func:`symgrad.set_language`.
"""

from __future__ import annotations

from typing import Any


class Rendered:
    """Common properties and display methods of a derivation (a dataclass with ``spec`` and
    ``gradients``)."""

    @property
    def name(self) -> str:
        return str(self.spec.name)  # type: ignore[attr-defined]

    @property
    def grads(self) -> dict[str, Any]:
        """Each input's (and parameter's) backward expression, by name."""
        return {g.wrt.name: g.expr for g in self.gradients}  # type: ignore[attr-defined]

    def latex(self, lang: str | None = None) -> str:
        """The step-by-step derivation as a LaTeX ``aligned`` block, its words in ``lang``
        (default: the current language, :mod:`symgrad.i18n`)."""
        from symgrad.i18n import language
        from symgrad.render import render

        with language(lang):
            return render(self, "latex")

    def text(self, lang: str | None = None) -> str:
        """The derivation as plain text (SymPy's pretty printer), its words in ``lang``
        (default: the current language)."""
        from symgrad.i18n import language
        from symgrad.render import render

        with language(lang):
            return render(self, "text")

    def markdown(self, lang: str | None = None) -> str:
        """The derivation as Markdown with ``$$`` math, its words in ``lang`` (default: the
        current language)."""
        from symgrad.i18n import language
        from symgrad.render import render

        with language(lang):
            return render(self, "markdown")

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        grads = ", ".join(f"{g.name} = {g.expr}" for g in self.gradients)  # type: ignore[attr-defined]
        return f"<{type(self).__name__} {self.name}: {grads}>"
