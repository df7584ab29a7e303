"""The catalog's layer declarations, one small file each.

A declaration file defines ``SPEC``, a :class:`~symgrad.program.Layer`: an elementwise layer
from its scalar expression (:func:`symgrad.spec.elementwise`), any other from its forward
program as text (:func:`symgrad.spec.layer`). Adding a file here adds the layer to
``symgrad.catalog``, to the CLI, to the generated code, to the rendered derivations and to
every catalog-parametrised test.
"""
