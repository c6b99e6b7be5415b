"""EventProp: exact-gradient adjoint training of spiking networks."""

from eventbench.eventprop.method import EventProp

__all__ = ["EventProp"]
