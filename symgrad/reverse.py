"""Reverse mode over statements: the staged backward, one step per (statement, operand).

Notation: the gradient of a tensor ``t`` is ``d<t>`` over ``t``'s axes; the output's is ``dout``.
Walking the forward from the last statement to the first, each statement sends each operand
its contribution (:meth:`symgrad.statements.Statement.vjp`), an expression in the statement's
gradient and the forward's tensors; a tensor read by several statements gets the sum. The steps,
in order, are the derivation the book draws node by node; :mod:`symgrad.compact` then writes
each input's and parameter's gradient as one compact formula.

>>> from symgrad.language import declare
>>> layer = declare("Scale", "y[n, d] = gamma[d] * x[n, d]", params=("gamma",))
>>> backward = staged(layer, {})
>>> [(s.operand.name, s.contribution) for s in backward.steps]
[('gamma', rsum(dout*x, (n,))), ('x', dout*gamma)]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy

from symgrad.program import Layer
from symgrad.statements import Statement
from symgrad.tensor_algebra import Facts, Scope
from symgrad.tensors import Tensor, grad_name


@dataclass(frozen=True)
class Step:
    """What one statement sends to one operand: ``local`` is ``∂body/∂operand``,
    ``contribution`` the operand's share of the gradient, in the statement's gradient."""

    statement: Statement
    operand: Tensor
    gradient: Tensor
    local: sympy.Expr
    contribution: sympy.Expr


@dataclass(frozen=True)
class Backward:
    """The staged backward: the steps, and each tensor's gradient as the sum of its shares."""

    steps: tuple[Step, ...]
    gradients: dict[str, sympy.Expr]
    grad_tensors: dict[str, Tensor]


def gradient_tensor(layer: Layer, tensor: Tensor) -> Tensor:
    """The tensor holding ``tensor``'s gradient: ``dout`` for the output, ``d<name>`` else."""
    name = "dout" if tensor.name == layer.output.name else grad_name(tensor.name)
    return Tensor(name, tensor.axes, "value")


def staged(
    layer: Layer,
    locals_: Mapping[tuple[str, str], sympy.Expr],
    scope: Scope | None = None,
    facts: Facts | None = None,
) -> Backward:
    """The staged backward of ``layer``. ``locals_`` gives, for ``(target, operand)``, the
    engine's proven local derivative (missing ones are differentiated plainly)."""
    scope = scope or layer.scope()
    steps: list[Step] = []
    shares: dict[str, sympy.Expr] = {}
    grad_tensors: dict[str, Tensor] = {}
    for statement in reversed(layer.statements):
        target = statement.target
        if target.name != layer.output.name and target.name not in shares:
            continue  # nothing downstream needs it
        dtarget = gradient_tensor(layer, target)
        grad_tensors[target.name] = dtarget
        scope.add(dtarget)
        mine = {
            o.name: locals_[(target.name, o.name)]
            for o in statement.operands
            if (target.name, o.name) in locals_
        }
        contributions = statement.vjp(dtarget.symbol, scope, facts, mine)
        for operand in statement.operands:
            if operand.name not in contributions:
                continue
            local = mine[operand.name] if operand.name in mine else statement.local(operand)
            share = contributions[operand.name]
            steps.append(Step(statement, operand, dtarget, local, share))
            shares[operand.name] = shares.get(operand.name, sympy.S.Zero) + share
    for t in layer.differentiable:
        grad_tensors.setdefault(t.name, gradient_tensor(layer, t))
    return Backward(tuple(steps), shares, grad_tensors)
