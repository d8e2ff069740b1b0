"""A stand-in for the few parts of torchvision that facenet-pytorch 2.6.0 imports
(see ../README.md). Not torchvision: no compiled ops, no datasets, no models."""

__version__ = "0.0+eri.standin"
STANDIN = True


def _is_tracing():
    import torch

    return torch._C._get_tracing_state() is not None
