"""MulLayer (textbook ch. 5): out = x·y."""

from symgrad.spec import elementwise, x, y

SPEC = elementwise("MulLayer", x * y, x, y, doc="The textbook's MulLayer: out = x·y.")
