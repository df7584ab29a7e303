"""AddLayer (textbook ch. 5): out = x + y."""

from symgrad.spec import elementwise, x, y

SPEC = elementwise("AddLayer", x + y, x, y, doc="The textbook's AddLayer: out = x + y.")
