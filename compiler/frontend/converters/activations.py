"""The activation functions ONNX recurrent operators name in their `activations` attribute."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tvm import relax

from ember.errors import UnsupportedModelError

from .common import const

Activation = Callable[[Any], Any]

#: Activations taking (alpha, beta); the values are the ONNX defaults.
_DEFAULTS: dict[str, tuple[float | None, float | None]] = {
    "relu": (None, None),
    "tanh": (None, None),
    "sigmoid": (None, None),
    "softsign": (None, None),
    "softplus": (None, None),
    "affine": (1.0, 0.0),
    "leakyrelu": (0.01, None),
    "thresholdedrelu": (1.0, None),
    "scaledtanh": (1.0, 1.0),
    "hardsigmoid": (0.2, 0.5),
    "elu": (1.0, None),
}

SUPPORTED = frozenset(_DEFAULTS)


def _build(name: str, alpha: float, beta: float, dtype: str) -> Activation:
    op = relax.op
    a, b = const(alpha, dtype), const(beta, dtype)
    one, zero = const(1.0, dtype), const(0.0, dtype)
    table: dict[str, Activation] = {
        "relu": op.nn.relu,
        "tanh": op.tanh,
        "sigmoid": op.sigmoid,
        "softsign": lambda x: op.divide(x, op.add(one, op.abs(x))),
        "softplus": lambda x: op.log(op.add(one, op.exp(x))),
        "affine": lambda x: op.add(op.multiply(a, x), b),
        "leakyrelu": lambda x: op.where(op.less(x, zero), op.multiply(a, x), x),
        "thresholdedrelu": lambda x: op.where(op.greater(x, a), x, zero),
        "scaledtanh": lambda x: op.multiply(a, op.tanh(op.multiply(b, x))),
        "hardsigmoid": lambda x: op.clip(op.add(op.multiply(a, x), b), 0.0, 1.0),
        "elu": lambda x: op.where(op.less(x, zero), op.multiply(a, op.subtract(op.exp(x), one)), x),
    }
    return table[name]


def activations(attr: dict[str, Any], defaults: list[str], dirs: int, dtype: str) -> list[list]:
    """Per direction, the activation callables the node asks for (or the defaults).

    `activation_alpha` / `activation_beta` are consumed in order by the activations that
    take them, as ONNX Runtime does.
    """
    names = [n.decode() if isinstance(n, bytes) else n for n in attr.get("activations", ())]
    names = [n.lower() for n in names] or [d.lower() for d in defaults] * dirs
    alphas = list(attr.get("activation_alpha", ()))
    betas = list(attr.get("activation_beta", ()))
    funcs: list[Activation] = []
    for name in names:
        if name not in _DEFAULTS:
            raise UnsupportedModelError(f"activation '{name}' is not supported")
        alpha, beta = _DEFAULTS[name]
        if alpha is not None and alphas:
            alpha = alphas.pop(0)
        if beta is not None and betas:
            beta = betas.pop(0)
        funcs.append(_build(name, alpha or 0.0, beta or 0.0, dtype))
    per = len(funcs) // dirs
    return [funcs[d * per : (d + 1) * per] for d in range(dirs)]
