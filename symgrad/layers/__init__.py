"""The catalog's layer declarations, one small file each.

A declaration file defines ``SPEC``, built with :func:`symgrad.spec.elementwise` from the forward
expression alone. Adding a file here adds the layer to ``symgrad.catalog``, to the CLI, to the
generated code, to the rendered derivations and to every catalog-parametrised test.
"""
