# mypy: ignore-errors
"""liberi's PyTorch twin (`pip install liberi[torch]`): the network of SPEC §5 as a torch.nn.Module that
reads and writes .eri files, a loader over liberi's preprocessed-clip cache (docs/cache.md) with the
same batching and augmentation as `eri train`, a trainer with liberi's recipe that runs under torchrun
(DistributedDataParallel: NCCL on GPUs, gloo on CPUs), and the ONNX export.

    python -m liberi.torch.train --cache DATA/.eri-cache --out model.eri            # one process
    torchrun --nproc_per_node 2 -m liberi.torch.train --cache ... --out model.eri   # DDP
    liberi.export_onnx("model.eri", "model.onnx")

The preprocessing stays in liberi (`eri cache build`); this package holds no second one.
The network, config and file modules are also the PyTorch oracle liberi's Swift network is tested
against (reference/eri_ref re-exports them).
"""

from .config import audio_only, from_json, preset, to_json, video_only  # noqa: F401
from .eri_file import load_model, read_metadata, save_model  # noqa: F401
from .model import DistBatchNorm2d, ERIModel, build_model, eri_loss  # noqa: F401
from .onnx import export_onnx  # noqa: F401
