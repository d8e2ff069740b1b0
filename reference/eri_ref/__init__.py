"""PyTorch reference oracle for liberi's ERI network (see /work/shared/SPEC.md)."""

from .config import audio_only, preset, video_only  # noqa: F401
from .model import ERIModel, build_model, eri_loss, randomize_for_testing  # noqa: F401
