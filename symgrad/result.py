"""What every derivation can do to show itself: text, LaTeX, Markdown, and Jupyter display.

The engines (:mod:`symgrad.engine`, :mod:`symgrad.matrix_engine`, :mod:`symgrad.row_engine`)
return different dataclasses; each inherits these methods, which hand over to
:mod:`symgrad.render` (imported only when something is shown).
"""

from __future__ import annotations


class Rendered:
    """Display methods for a derivation with ``name`` and ``gradients``."""

    def latex(self) -> str:
        """The step-by-step derivation as a LaTeX ``aligned`` block."""
        from symgrad.render import render

        return render(self, "latex")

    def text(self) -> str:
        """The derivation as plain text (SymPy's pretty printer)."""
        from symgrad.render import render

        return render(self, "text")

    def markdown(self) -> str:
        """The derivation as Markdown with ``$$`` math."""
        from symgrad.render import render

        return render(self, "markdown")

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        grads = ", ".join(f"{g.name} = {g.expr}" for g in self.gradients)  # type: ignore[attr-defined]
        return f"<{type(self).__name__} {self.name}: {grads}>"  # type: ignore[attr-defined]
