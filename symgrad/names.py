"""The one naming rule every part of symgrad shares: a tensor's gradient is ``d<name>``.

The book's layers store ``self.dW`` beside ``self.W``; generated code, the gradient check's
search for parameters, ``compare`` and ``symgrad check`` all pair names by this rule. This
module imports nothing, so that the gradient check (and the pytest plugin) stay cheap.

>>> grad_name("gamma"), gradient_of("dW")
('dgamma', 'W')
"""

from __future__ import annotations


def grad_name(name: str) -> str:
    """The name of a tensor's gradient: ``dx`` for ``x``, ``dgamma`` for ``gamma``."""
    return f"d{name}"


def gradient_of(name: str) -> str | None:
    """The tensor whose gradient ``name`` would be (``W`` for ``dW``), else None."""
    return name[1:] if name.startswith("d") and len(name) > 1 else None
