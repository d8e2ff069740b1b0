"""torchvision.transforms.functional.to_tensor, as torchvision 0.28.0 defines it (its
transforms/functional.py): an H×W×C numpy array or a PIL image -> a C×H×W tensor; uint8
data become the default float dtype divided by 255, anything else keeps its dtype.
facenet-pytorch calls it in extract_face only; the oracle never does, but the import
must succeed."""

import sys

import numpy as np
import torch

__all__ = ["to_tensor"]


def to_tensor(pic):
    is_numpy = isinstance(pic, np.ndarray)
    try:
        from PIL import Image

        is_pil = isinstance(pic, Image.Image)
    except ImportError:  # pragma: no cover
        is_pil = False
    if not (is_pil or is_numpy):
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    if is_numpy and pic.ndim not in (2, 3):
        raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
    default_float_dtype = torch.get_default_dtype()
    if is_numpy:
        if pic.ndim == 2:
            pic = pic[:, :, None]
        img = torch.from_numpy(pic.transpose((2, 0, 1))).contiguous()
        if img.dtype == torch.uint8:
            return img.to(dtype=default_float_dtype).div(255)
        return img
    mode_to_nptype = {"I": np.int32, "I;16" if sys.byteorder == "little" else "I;16B": np.int16, "F": np.float32}
    img = torch.from_numpy(np.array(pic, mode_to_nptype.get(pic.mode, np.uint8), copy=True))
    if pic.mode == "1":
        img = 255 * img
    img = img.view(pic.size[1], pic.size[0], len(pic.getbands()))
    img = img.permute((2, 0, 1)).contiguous()
    if img.dtype == torch.uint8:
        return img.to(dtype=default_float_dtype).div(255)
    return img
