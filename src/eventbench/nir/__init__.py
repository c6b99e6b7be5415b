"""NIR (Neuromorphic Intermediate Representation) export and import.

>>> from eventbench import nir as ebnir          # doctest: +SKIP
>>> graph = ebnir.export(net)                   # doctest: +SKIP
>>> net2 = ebnir.load(graph, dt_s=1e-3, n_steps=100)  # doctest: +SKIP

Needs the optional ``nir`` package (``pip install 'eventbench[nir]'``). The conventions (time
in seconds, NIR's Dirac spikes or a time-stepped writer's convention, the weight scaling) are
in :mod:`eventbench.nir.convert` and docs/nir.md.
"""

from eventbench.nir.convert import NIRConversionError, export, load, read, write

__all__ = ["NIRConversionError", "export", "load", "read", "write"]
