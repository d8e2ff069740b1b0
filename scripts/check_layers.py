#!/usr/bin/env python3
"""Keeps liberi's module graph pointing one way: media → features → faces → pipeline → network → façade.

Every `import` of a liberi module in Sources/<Module>/*.swift must name a module that stands
before <Module> in LAYERS (the data flow, with what is built on it after), and the network
(ERIModel) may import ERICore alone: tensors in, seven numbers out. System shims (C*), the
standard library and the argument parser are not layers. Exits 1 and names each offending
import; run by `make check-layers` (part of `make test`)."""
import pathlib
import re
import sys

LAYERS = ["ERICore", "ERIMedia", "ERIFeatures", "ERIFaces", "ERIModel", "ERIPipeline", "ERITrain", "ERISynth", "ERI", "eri-cli"]
ONLY = {"ERIModel": {"ERICore"}, "ERIMedia": {"ERICore"}, "ERIFeatures": {"ERICore"}, "ERIFaces": {"ERICore", "ERIFeatures"},
        "ERISynth": {"ERICore"}}

root = pathlib.Path(__file__).resolve().parent.parent / "Sources"
problems = []
for module in sorted(p.name for p in root.iterdir() if p.is_dir()):
    if module not in LAYERS:
        if not module.startswith("C"):
            problems.append(f"Sources/{module}: not in scripts/check_layers.py's LAYERS; place it in the data flow")
        continue
    allowed = ONLY.get(module, set(LAYERS[:LAYERS.index(module)]))
    for source in sorted((root / module).rglob("*.swift")):
        for number, line in enumerate(source.read_text().splitlines(), 1):
            m = re.match(r"\s*(?:@testable\s+)?import\s+(\w+)", line)
            if m and m.group(1) in LAYERS and m.group(1) not in allowed:
                problems.append(f"{source.relative_to(root.parent)}:{number}: {module} imports {m.group(1)}, "
                                f"which does not stand before it in the data flow")
for p in problems:
    print(p)
print(f"module layers: {'ok' if not problems else f'{len(problems)} problem(s)'} ({' → '.join(LAYERS)})")
sys.exit(1 if problems else 0)
