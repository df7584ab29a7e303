"""A layer's declaration: its forward as a short program of statements over named axes.

Notation (:mod:`symgrad.tensors`): tensors ``x[n, d]``, roles ``input``, ``param``, ``target``,
``const``, ``random``, ``state``, ``value``. The forward is a tuple of statements
(:mod:`symgrad.statements`), each defining one ``value`` tensor from earlier ones; the last one
defines the output. Besides the program, a declaration says what the generated class needs to
look like the book's: the order of the constructor's parameters and constants (with defaults),
whether the first input is flattened to (N, D) as the book's Affine and BatchNormalization do,
a program for evaluation mode (``forward(x, train_flg=False)``), running statistics, random
tensors drawn by the forward, and facts the derivation may use (each target row sums to one).

>>> from symgrad.language import declare
>>> layer = declare("Scale", "y[n, d] = gamma[d] * x[n, d]", params=("gamma",))
>>> layer.tensors, layer.output
((x[n, d], gamma[d]), y[n, d])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sympy

from symgrad.statements import Statement
from symgrad.tensor_algebra import Facts, Scope
from symgrad.tensors import Tensor


@dataclass(frozen=True)
class Fact:
    """``Σ_axes tensor = value`` for every index of the other axes (targets sum to one)."""

    tensor: str
    axes: tuple[str, ...]
    value: sympy.Expr
    text: str = ""


@dataclass(frozen=True)
class Running:
    """A running statistic: ``state = momentum·state + (1 - momentum)·statistic`` in training."""

    state: str
    statistic: str


@dataclass(frozen=True)
class Draw:
    """A random tensor the forward draws in training (Dropout's mask): NumPy code for it."""

    tensor: str
    code: str


@dataclass(frozen=True)
class Layer:
    """A layer declared by its forward program; everything else is derived."""

    name: str
    statements: tuple[Statement, ...]
    tensors: tuple[Tensor, ...]
    doc: str = ""
    constants: tuple[tuple[str, sympy.Expr], ...] = ()
    facts: tuple[Fact, ...] = ()
    flatten: bool = False
    eval_statements: tuple[Statement, ...] = ()
    running: tuple[Running, ...] = ()
    draws: tuple[Draw, ...] = ()
    momentum: float = 0.9
    shared: tuple[str, ...] = ()
    sizes: tuple[tuple[str, sympy.Expr], ...] = ()
    flags: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()
    """Constants that must be positive (Huber's δ): the generated forward checks it, and the
    backward may use it (``np.clip(x - t, -δ, δ)``)."""
    source: str = field(default="", compare=False)

    # --- what the program is made of --------------------------------------------------------

    @property
    def output(self) -> Tensor:
        return self.statements[-1].target

    def tensor(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def with_role(self, *roles: str) -> tuple[Tensor, ...]:
        return tuple(t for t in self.tensors if t.role in roles)

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        """The arguments of ``forward`` that get a gradient, in order."""
        return self.with_role("input")

    @property
    def params(self) -> tuple[Tensor, ...]:
        return self.with_role("param")

    @property
    def targets(self) -> tuple[Tensor, ...]:
        return self.with_role("target")

    @property
    def is_loss(self) -> bool:
        """A loss outputs one number (``forward`` returns a float; ``backward(dout=1.0)``)."""
        return not self.output.axes

    @property
    def is_elementwise(self) -> bool:
        """One map statement: the layer applies a scalar function element by element."""
        from symgrad.statements import Map

        return len(self.statements) == 1 and isinstance(self.statements[0], Map)

    @property
    def differentiable(self) -> tuple[Tensor, ...]:
        return self.inputs + self.params

    def scope(self) -> Scope:
        """Every tensor of the program, by symbol."""
        scope = Scope.of(self.tensors)
        for s in (*self.statements, *self.eval_statements):
            scope.add(s.target)
        return scope

    def declared_facts(self) -> Facts:
        facts = Facts()
        for f in self.facts:
            facts.add(self.tensor(f.tensor).symbol, f.axes, f.value)
        return facts

    def structural(self) -> tuple[str, ...]:
        """The integer constants that shape the program (a convolution's stride and padding,
        a pooling window's size): those in index maps and in the declared sizes."""
        from symgrad.statements.gather import Gather

        used: set[str] = set()
        for s in self.statements:
            if isinstance(s, Gather):
                used |= {v.name for i in s.indices for v in i.free_symbols}
        for _, e in self.sizes:
            used |= {v.name for v in e.free_symbols}
        return tuple(c for c, _ in self.constants if c in used)

    def index_tensors(self) -> tuple[Tensor, ...]:
        """The tensors read as positions (integer labels: Embedding's ``ids``)."""
        from symgrad.statements.gather import Gather

        names = {i.name for s in self.statements if isinstance(s, Gather) for i in s.index_tensors}
        return tuple(t for t in self.tensors if t.name in names)

    def label_axis(self, labels: Tensor) -> str:
        """The source axis a tensor of labels picks positions along (Embedding's ``v``)."""
        from symgrad.statements.gather import Gather

        return next(
            a
            for s in self.statements
            if isinstance(s, Gather) and labels in s.index_tensors
            for a, i in zip(s.source.axes, s.indices)
            if labels.symbol in i.free_symbols
        )

    def statement_of(self, name: str) -> Statement | None:
        return next((s for s in self.statements if s.target.name == name), None)

    def values(self) -> tuple[Tensor, ...]:
        """The tensors the forward computes, in order."""
        return tuple(s.target for s in self.statements)

    def __repr__(self) -> str:
        body = "; ".join(repr(s) for s in self.statements)
        return f"<Layer {self.name}: {body}>"


def ordered(tensors: Iterable[Tensor]) -> tuple[Tensor, ...]:
    """Tensors by role (inputs, targets, parameters, constants, ...), in declaration order."""
    order = {"input": 0, "target": 1, "param": 2, "const": 3, "random": 4, "state": 5}
    items = list(tensors)
    return tuple(sorted(items, key=lambda t: (order.get(t.role, 9), items.index(t))))
