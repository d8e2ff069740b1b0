from .boxes import batched_nms, nms

__all__ = ["nms", "batched_nms"]
