"""Where a layer keeps its parameters and their gradients, found by walking the layer's objects.

NumPy only. The conventions recognised, each the way some textbook or library writes layers:

- an attribute ``P`` beside a gradient attribute ``dP`` (the book's ``W``/``dW``, ``b``/``db``,
  ``gamma``/``dgamma``; a Python float ``alpha`` with ``dalpha`` too);
- ``params`` with ``grads``: dicts with the same keys or lists of the same length (the book's
  ``TwoLayerNet.params``, its sequel's ``self.params = [W, b]`` / ``self.grads``);
- a ``gradient(*inputs)`` method returning a dict keyed like ``params`` (the book's TwoLayerNet);
- any of these on sub-layers held in attributes, lists or dicts (``layers[0].W``,
  ``layers['Affine1'].W``), to a bounded depth;
- an explicit list of paths, or a mapping from parameter path to gradient path.

A value is a parameter only if ``forward`` reads it without rebinding it: attributes that a
forward call replaces (the cached input ``self.x``) are caches. One array reachable by several
paths (the book's ``params['W1']`` is also ``layers['Affine1'].W``) is one parameter with several
:class:`Slot` s, all of which are kept pointing at the same object.

Gradients that ``backward`` wrote and that no parameter pairs with are returned as *unpaired*, so
the checker can report them instead of ignoring them.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgrad.i18n import tr
from symgrad.names import grad_name

MAX_DEPTH = 4


@dataclass(frozen=True)
class Slot:
    """One place that holds a value: an attribute, a dict entry or a list item."""

    container: Any
    key: Any
    attribute: bool

    def get(self) -> Any:
        return getattr(self.container, self.key) if self.attribute else self.container[self.key]

    def set(self, value: Any) -> None:
        if self.attribute:
            setattr(self.container, self.key, value)
        else:
            self.container[self.key] = value


@dataclass
class Parameter:
    """A parameter: its path, every slot that holds it, and how to read its gradient."""

    name: str
    slots: list[Slot]
    grad_name: str
    read_grad: Callable[[], Any]
    original: Any = field(repr=False)
    grad_slot: Slot | None = None

    @property
    def value(self) -> Any:
        return self.slots[0].get()

    def point_at(self, value: Any) -> None:
        """Make every slot hold ``value`` (for the duration of a check)."""
        for slot in self.slots:
            slot.set(value)

    def restore(self) -> None:
        """Every slot holds the original object again."""
        self.point_at(self.original)


def is_parameter_value(value: Any) -> bool:
    """Real floating arrays and Python/NumPy real floats can be parameters."""
    if isinstance(value, np.ndarray):
        return np.issubdtype(value.dtype, np.floating) and value.size > 0
    return isinstance(value, (float, np.floating)) and not isinstance(value, bool)


def _walkable(value: Any) -> bool:
    if isinstance(value, (dict, list)):
        return True
    if isinstance(value, (np.ndarray, np.generic, str, bytes, int, float, complex, tuple)):
        return False
    if isinstance(value, (types.ModuleType, type, types.FunctionType, types.MethodType)):
        return False
    return hasattr(value, "__dict__")


def _children(obj: Any) -> Iterator[tuple[str, Slot]]:
    """(path suffix, slot) for each entry of an object, dict or list."""
    if isinstance(obj, dict):
        for key in list(obj):
            yield f"[{key!r}]", Slot(obj, key, attribute=False)
    elif isinstance(obj, list):
        for i in range(len(obj)):
            yield f"[{i}]", Slot(obj, i, attribute=False)
    else:
        for name in list(vars(obj)):
            yield f".{name}", Slot(obj, name, attribute=True)


def walk(root: Any, depth: int = MAX_DEPTH) -> Iterator[tuple[str, Any]]:
    """``(path, object)`` for the root and every object, dict and list reachable from it."""
    seen: set[int] = set()
    stack = [("", root, 0)]
    while stack:
        path, obj, level = stack.pop(0)
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield path, obj
        if level >= depth:
            continue
        for suffix, slot in _children(obj):
            value = slot.get()
            if _walkable(value):
                stack.append((path + suffix, value, level + 1))


def value_slots(root: Any) -> dict[int, tuple[str, list[Slot]]]:
    """Every slot holding a parameter-like value, grouped by the value's identity, with the
    shortest path to it."""
    found: dict[int, tuple[str, list[Slot]]] = {}
    for path, obj in walk(root):
        for suffix, slot in _children(obj):
            value = slot.get()
            if not is_parameter_value(value):
                continue
            name = _clean(path + suffix)
            if id(value) in found:
                found[id(value)][1].append(slot)
            else:
                found[id(value)] = (name, [slot])
    return found


def _clean(path: str) -> str:
    return path[1:] if path.startswith(".") else path


@dataclass(frozen=True)
class Pairing:
    """A parameter value (by slot) with the way to read its gradient."""

    name: str
    slot: Slot
    grad_name: str
    read_grad: Callable[[], Any]
    grad_slot: Slot | None = None


def pairings(
    root: Any, latest_gradients: Callable[[], Mapping[str, Any]] | None = None
) -> list[Pairing]:
    """Every (parameter, gradient) pair the conventions above recognise: a network's own
    ``gradient()`` dict first (``latest_gradients`` returns the last one computed), then
    nearest the root first."""
    out: list[Pairing] = []
    params = getattr(root, "params", None)
    if latest_gradients is not None and isinstance(params, dict):
        current = latest_gradients()
        for key in params:
            if key in current:
                out.append(
                    Pairing(
                        f"params[{key!r}]",
                        Slot(params, key, attribute=False),
                        f"gradient(...)[{key!r}]",
                        _entry_reader(latest_gradients, key),
                    )
                )
    for path, obj in walk(root):
        out += _attribute_pairs(path, obj)
        out += _params_grads_pairs(path, obj)
    return out


def _entry_reader(latest: Callable[[], Mapping[str, Any]], key: str) -> Callable[[], Any]:
    return lambda: latest().get(key)


def _attribute_pairs(path: str, obj: Any) -> list[Pairing]:
    if isinstance(obj, (dict, list)):
        return []
    attributes = vars(obj)
    out = []
    for name, value in attributes.items():
        grad = grad_name(name)
        if grad in attributes and is_parameter_value(value):
            out.append(
                Pairing(
                    _clean(f"{path}.{name}"),
                    Slot(obj, name, attribute=True),
                    _clean(f"{path}.{grad}"),
                    _attribute_reader(obj, grad),
                    Slot(obj, grad, attribute=True),
                )
            )
    return out


def _attribute_reader(obj: Any, name: str) -> Callable[[], Any]:
    return lambda: getattr(obj, name, None)


def _params_grads_pairs(path: str, obj: Any) -> list[Pairing]:
    if isinstance(obj, (dict, list)):
        return []
    params, grads = getattr(obj, "params", None), getattr(obj, "grads", None)
    if isinstance(params, dict) and isinstance(grads, dict):
        keys: Sequence[Any] = [k for k in params if k in grads]
    elif isinstance(params, list) and isinstance(grads, list) and len(params) == len(grads):
        keys = range(len(params))
    else:
        return []
    return [
        Pairing(
            _clean(f"{path}.params[{k!r}]"),
            Slot(params, k, attribute=False),
            _clean(f"{path}.grads[{k!r}]"),
            _item_reader(grads, k),
            Slot(grads, k, attribute=False),
        )
        for k in keys
        if is_parameter_value(params[k])
    ]


def _item_reader(container: Any, key: Any) -> Callable[[], Any]:
    return lambda: container[key] if key in _keys(container) else None


def _keys(container: Any) -> Sequence[Any]:
    return list(container) if isinstance(container, dict) else range(len(container))


_PATH_PART = re.compile(r"\.?([A-Za-z_]\w*)|\[(\d+)\]|\[('(?:[^']*)'|\"(?:[^\"]*)\")\]")


def resolve(root: Any, path: str) -> Slot:
    """The slot a path such as ``W``, ``layers[0].b`` or ``params['W1']`` names."""
    parts = [m for m in _PATH_PART.finditer(path)]
    if not parts or "".join(m.group(0) for m in parts) != path:
        raise ValueError(
            tr("cannot read the path {path!r}: use names, [index] and ['key']").format(path=path)
        )
    obj = root
    for m in parts[:-1]:
        obj = _step(obj, m)
    last = parts[-1]
    if last.group(1) is not None:
        if not hasattr(obj, last.group(1)):
            raise ValueError(
                tr("{path!r}: no attribute {name!r}").format(path=path, name=last.group(1))
            )
        return Slot(obj, last.group(1), attribute=True)
    key = int(last.group(2)) if last.group(2) is not None else last.group(3)[1:-1]
    return Slot(obj, key, attribute=False)


def _step(obj: Any, m: re.Match) -> Any:
    if m.group(1) is not None:
        return getattr(obj, m.group(1))
    if m.group(2) is not None:
        return obj[int(m.group(2))]
    return obj[m.group(3)[1:-1]]


def explicit_pairings(root: Any, params: Sequence[str] | Mapping[str, str]) -> list[Pairing]:
    """Pairings for ``params=``: paths (gradient ``d<last name>`` beside each) or a mapping
    from parameter path to gradient path."""
    mapping = dict(params) if isinstance(params, Mapping) else {p: _grad_path(p) for p in params}
    out = []
    for p, g in mapping.items():
        slot = resolve(root, p)
        if not is_parameter_value(slot.get()):
            raise ValueError(tr("params: {path!r} is not a float array or a float").format(path=p))
        out.append(Pairing(p, slot, g, _path_reader(root, g), _slot_or_none(root, g)))
    return out


def _grad_path(path: str) -> str:
    head, sep, last = path.rpartition(".")
    if last.isidentifier():
        return f"{head}{sep}d{last}"
    raise ValueError(
        tr("params: name the gradient of {path!r} too: params={{{path!r}: '...'}}").format(
            path=path
        )
    )


def _slot_or_none(root: Any, path: str) -> Slot | None:
    try:
        return resolve(root, path)
    except (ValueError, AttributeError, KeyError, IndexError, TypeError):
        return None


def _path_reader(root: Any, path: str) -> Callable[[], Any]:
    def read() -> Any:
        try:
            return resolve(root, path).get()
        except (ValueError, AttributeError, KeyError, IndexError, TypeError):
            return None

    return read


def takes_gradient_dict(layer: Any) -> bool:
    """The book's TwoLayerNet interface: ``loss(*inputs)`` and ``gradient(*inputs) -> dict``,
    and no ``forward``."""
    return all(callable(getattr(layer, m, None)) for m in ("loss", "gradient")) and not callable(
        getattr(layer, "forward", None)
    )


def signature_names(method: Any) -> list[str]:
    """The names of a method's positional parameters."""
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in positional and p.name != "self"]
