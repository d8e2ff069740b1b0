"""torchvision.ops.boxes.nms / batched_nms, re-implemented for the MTCNN oracle.

The semantics are torchvision's, checked against its sources:

- `batched_nms`, `_batched_nms_coordinate_trick`, `_batched_nms_vanilla`: the Python of
  torchvision/ops/boxes.py in the torchvision 0.28.0 wheel (the release paired with torch
  2.13; `pip download --no-deps torchvision==0.28.0`, read, never installed). On CPU more
  than 1000 boxes (numel > 4000) take the per-class loop, fewer the offset trick:
  boxes + idx · (max coordinate + 1), all in the boxes' dtype.
- `nms`: torchvision/csrc/ops/cpu/nms_kernel.cpp (pytorch/vision; the C++ is not in the
  wheel). areas = (x2 − x1)·(y2 − y1), no +1; the order is
  `scores.sort(0, /*descending=*/true)` (ATen's sort with stable=false, the very call made
  here, so equal scores come out in the same order as the real kernel on the same torch
  and CPU); greedily keep the next unsuppressed box i and suppress every later j with
  inter / (area_i + area_j − inter) > iou_threshold, where inter = max(0, min x2 − max x1)
  · max(0, min y2 − max y1), each step rounded to the boxes' dtype and the ratio compared
  in double (C++ promotes the float to the double threshold). Returns the kept indices in
  that order (decreasing score).

tests: reference/tests/test_mtcnn_oracle.py checks these against a brute-force reading of
the same definition, and against the coordinate trick / per-class loop crossing over.
"""

import numpy as np
import torch

import torchvision

__all__ = ["nms", "batched_nms"]


def nms(boxes, scores, iou_threshold):
    if boxes.dim() != 2 or boxes.size(1) != 4:
        raise RuntimeError("boxes should be a 2d tensor of N x 4, got %s" % (tuple(boxes.shape),))
    if scores.dim() != 1 or scores.size(0) != boxes.size(0):
        raise RuntimeError("scores should be a 1d tensor of boxes.size(0) elements")
    if boxes.dtype != scores.dtype or not boxes.dtype.is_floating_point:
        raise RuntimeError("boxes and scores should be the same floating-point type")
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    order = scores.sort(0, True)[1]  # aten::sort(dim=0, descending=True), stable=False, as the kernel
    b = boxes.detach().cpu().numpy()
    x1, y1, x2, y2 = (np.ascontiguousarray(b[:, k]) for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    o = order.cpu().numpy()
    x1, y1, x2, y2, areas = x1[o], y1[o], x2[o], y2[o], areas[o]  # in sorted order
    zero = b.dtype.type(0)
    threshold = float(iou_threshold)
    n = len(o)
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(o[i])
        if i + 1 == n:
            break
        xx1 = np.maximum(x1[i], x1[i + 1:])
        yy1 = np.maximum(y1[i], y1[i + 1:])
        xx2 = np.minimum(x2[i], x2[i + 1:])
        yy2 = np.minimum(y2[i], y2[i + 1:])
        w = np.maximum(zero, xx2 - xx1)
        h = np.maximum(zero, yy2 - yy1)
        inter = w * h
        ovr = inter / ((areas[i] + areas[i + 1:]) - inter)
        suppressed[i + 1:] |= ovr.astype(np.float64) > threshold
    return torch.as_tensor(np.array(keep, dtype=np.int64), device=boxes.device)


def batched_nms(boxes, scores, idxs, iou_threshold):
    if boxes.numel() > (4000 if boxes.device.type == "cpu" else 100_000) and not torchvision._is_tracing():
        return _batched_nms_vanilla(boxes, scores, idxs, iou_threshold)
    return _batched_nms_coordinate_trick(boxes, scores, idxs, iou_threshold)


def _batched_nms_coordinate_trick(boxes, scores, idxs, iou_threshold):
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
    boxes_for_nms = boxes + offsets[:, None]
    return nms(boxes_for_nms, scores, iou_threshold)


def _batched_nms_vanilla(boxes, scores, idxs, iou_threshold):
    keep_mask = torch.zeros_like(scores, dtype=torch.bool)
    for class_id in torch.unique(idxs):
        curr_indices = torch.where(idxs == class_id)[0]
        curr_keep_indices = nms(boxes[curr_indices], scores[curr_indices], iou_threshold)
        keep_mask[curr_indices[curr_keep_indices]] = True
    keep_indices = torch.where(keep_mask)[0]
    return keep_indices[scores[keep_indices].sort(descending=True)[1]]
