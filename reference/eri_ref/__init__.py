"""PyTorch reference oracle for liberi's ERI network (see /work/shared/SPEC.md).

The network (SPEC §5), the config presets and the .eri reader/writer are liberi's
PyTorch twin, python/liberi/torch/{model,config,eri_file}.py, re-exported here
under their old names (eri_ref.model, eri_ref.config, eri_ref.eri_file): one
PyTorch implementation, which the Swift network is tested against (two
independent implementations: Swift and PyTorch). The preprocessing oracles
(features.py: frames and MFCC on librosa; faces.py: SPEC §4.1a) are this
folder's own, independent of liberi's Swift preprocessing.
"""

import os as _os
import sys as _sys

_python = _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))), "python")
if _python not in _sys.path:
    _sys.path.append(_python)  # after site-packages: an installed liberi (the wheel) stays the one imported

from liberi.torch import config, eri_file, model  # noqa: E402

for _name, _module in (("config", config), ("eri_file", eri_file), ("model", model)):
    _sys.modules[__name__ + "." + _name] = _module

from .config import audio_only, preset, video_only  # noqa: E402,F401
from .model import ERIModel, build_model, eri_loss, randomize_for_testing  # noqa: E402,F401
