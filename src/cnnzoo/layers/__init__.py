"""Building blocks the literature introduced, one concept per file.

Import blocks from their own module (``from cnnzoo.layers.lrn import
LocalResponseNorm``); this package file deliberately re-exports nothing so that
each block keeps one obvious home.
"""
