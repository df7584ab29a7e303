"""How each tensor of a layer is stored as a NumPy array: its *slots*, one per array axis.

Notation: a slot is an axis name, ``...`` for a run of any number of leading axes, or ``_`` for
a size-1 axis kept by a reduction (``keepdims=True``) so that the result broadcasts against the
array it came from. The rule a student follows, made mechanical:

- a reduction over leading axes drops them (BatchNorm's ``mu = x.mean(axis=0)`` has shape
  ``(D,)`` and broadcasts against ``x`` as it is);
- any other reduction keeps them (LayerNorm's ``mu = x.mean(axis=-1, keepdims=True)``);
- a map's result has the slots of its operands broadcast right-aligned, as NumPy's are.

>>> slots = reduced(("n", "d"), ("n",))
>>> slots, numpy_axes(("n", "d"), ("n",), "x")
(('d',), '0')
>>> reduced(("...", "d"), ("d",)), numpy_axes(("...", "d"), ("d",), "x")
(('...', '_'), '-1')
>>> numpy_axes(("...", "d"), ("...",), "x")
'tuple(range(x.ndim - 1))'
"""

from __future__ import annotations

from collections.abc import Iterable

from symgrad.tensors import ELLIPSIS

KEPT = "_"


def reduced(slots: tuple[str, ...], axes: Iterable[str]) -> tuple[str, ...]:
    """The slots of a reduction of ``slots`` over ``axes``."""
    axes = set(axes)
    if keeps_dims(slots, axes):
        return tuple(KEPT if s in axes else s for s in slots)
    return tuple(s for s in slots if s not in axes)


def keeps_dims(slots: tuple[str, ...], axes: Iterable[str]) -> bool:
    """Whether a reduction over ``axes`` keeps them as size-1 slots (not a leading run)."""
    axes = set(axes)
    leading = 0
    while leading < len(slots) and slots[leading] in axes:
        leading += 1
    return any(s in axes for s in slots[leading:])


def broadcast(*operands: tuple[str, ...]) -> tuple[str, ...]:
    """The slots of an elementwise result, operands aligned from the right."""
    width = max((len(o) for o in operands), default=0)
    out: list[str] = [KEPT] * width
    for o in operands:
        for i, s in enumerate(o, start=width - len(o)):
            if out[i] == KEPT or out[i] == s:
                out[i] = s
            elif s != KEPT:
                raise ValueError(f"slots {o} do not broadcast against {tuple(out)}")
    return tuple(out)


def aligns(operand: tuple[str, ...], target: tuple[str, ...]) -> bool:
    """Does ``operand`` broadcast to ``target`` by NumPy's rules, right-aligned?"""
    if len(operand) > len(target):
        return False
    tail = target[len(target) - len(operand) :]
    return all(o in (KEPT, t) or (t == KEPT and o == KEPT) for o, t in zip(operand, tail))


def numpy_axes(slots: tuple[str, ...], axes: Iterable[str], name: str) -> str:
    """The ``axis=`` argument that reduces an array stored with ``slots`` over ``axes``:
    static numbers where the positions are fixed, ``tuple(range(...))`` over ``...``."""
    axes = set(axes)
    if ELLIPSIS in slots:
        cut = slots.index(ELLIPSIS)
        before, after = slots[:cut], slots[cut + 1 :]
        parts = [str(i) for i, s in enumerate(before) if s in axes]
        tail = [str(i - len(after)) for i, s in enumerate(after) if s in axes]
        if ELLIPSIS in axes:
            run = (
                f"range({len(before)}, {name}.ndim - {len(after)})"
                if after
                else (f"range({len(before)}, {name}.ndim)")
            )
            if len(before) == 0:
                run = f"range({name}.ndim - {len(after)})" if after else f"range({name}.ndim)"
            if not parts and not tail:
                return f"tuple({run})"
            return f"({', '.join([*parts, f'*{run}', *tail])})"
        numbers = parts + tail
    else:
        numbers = [str(i) for i, s in enumerate(slots) if s in axes]
    return numbers[0] if len(numbers) == 1 else f"({', '.join(numbers)})"
