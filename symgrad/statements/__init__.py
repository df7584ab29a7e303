"""The statement kinds of symgrad's intermediate representation, one module each.

Every statement defines one tensor, ``target[T] = Σ_S body``: an elementwise ``body`` over the
target's axes ``T`` and the summed axes ``S`` (none for a map). That one form gives every kind
the same reverse-mode rule (:meth:`Statement.vjp`): the gradient of an operand ``a[A]`` receives
``Σ_{(T ∪ S) - A} dtarget · ∂body/∂a``, so a parameter's gradient always has the parameter's
shape (a broadcast becomes a sum over the broadcast axes). Each kind's module holds, side by side,
its construction, its NumPy printing and its LaTeX printing:

- :mod:`~symgrad.statements.map`: ``y[n, d] = gamma[d] * xhat[n, d] + beta[d]``;
- :mod:`~symgrad.statements.reduce`: ``mu[d] = mean_n x[n, d]`` (sum, mean, max);
- :mod:`~symgrad.statements.contract`: ``Y[n, m] = Σ_d X[n, d] W[d, m]`` (einsum, matmul);
- :mod:`~symgrad.statements.gather`: ``col[n, oh, fh] = x[n, s*oh + fh - p]`` (index maps,
  integer labels), whose reverse-mode rule is a scatter-add written as a gather.
"""

from symgrad.statements.base import Statement
from symgrad.statements.contract import Contract
from symgrad.statements.gather import Gather
from symgrad.statements.map import Map
from symgrad.statements.reduce import FirstMax, Reduce

__all__ = ["Contract", "FirstMax", "Gather", "Map", "Reduce", "Statement"]
