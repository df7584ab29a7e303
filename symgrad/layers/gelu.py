"""GELU, exact: y = x·Φ(x) = x·(1 + erf(x/√2))/2."""

from symgrad.spec import elementwise

SPEC = elementwise(
    "GELU", "x*(1 + erf(x/sqrt(2)))/2", "x", doc="Gaussian error linear unit: y = x·Φ(x)."
)
