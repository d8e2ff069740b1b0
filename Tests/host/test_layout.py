#!/usr/bin/env python3
"""The liberi package's C-API module (liberi._capi) against the C compiler's view of
the installed eri.h: every struct field for field, and every function declared.

    ERI_PREFIX=/prefix PYTHONPATH=python [CC=cc] python Tests/host/test_layout.py

The struct and field names come from the header's text; the compiler then
gives each field's offset, size, alignment and kind (integer width and
signedness, float, double, or pointer and what it points to), and the struct's
size. A field the header has and ctypes lacks, or the reverse, fails; so does
a hole in the compiler's layout that the parsed fields do not account for (a
field the parse missed). Prints one `ok - ` / `not ok - ` line per check.
"""
from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import tempfile

from liberi import _capi

# The names _Generic gives a C type, and the ctypes types of each (pointers are "other").
KINDS = {"char": ctypes.c_char, "int8_t": ctypes.c_int8, "uint8_t": ctypes.c_uint8, "int16_t": ctypes.c_int16,
         "uint16_t": ctypes.c_uint16, "int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32,
         "int64_t": ctypes.c_int64, "uint64_t": ctypes.c_uint64, "float": ctypes.c_float, "double": ctypes.c_double}
C_KIND = ("_Generic((x), " + ", ".join(f'{c}: "{c}"' for c in KINDS) + ', default: "other")')

failures = 0


def check(ok: bool, name: str, why: str = "") -> None:
    global failures
    print(("ok - " if ok else "not ok - ") + name + ("" if ok else f": {why}"))
    failures += 0 if ok else 1


def header_declarations(path: str) -> tuple[dict[str, list[tuple[str, str, int]]], dict[str, int]]:
    """({struct tag: [(field, base type, pointer depth)]}, {function: parameter count}) from eri.h's text."""
    with open(path) as fh:
        text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", fh.read(), flags=re.S)
    structs = {}
    for tag, body in re.findall(r"\bstruct\s+(\w+)\s*\{(.*?)\}", text, flags=re.S):
        fields = []
        for declaration in filter(None, (d.strip() for d in body.split(";"))):
            first, *more = declaration.split(",")
            base, stars, name = re.fullmatch(r"(.*?)\s*(\**)\s*(\w+)\s*(?:\[[^\]]*\])?", first.strip(), flags=re.S).groups()
            base = re.sub(r"\b(const|volatile)\b", "", base).strip()
            fields.append((name, base, len(stars)))
            for declarator in more:
                stars, name = re.fullmatch(r"(\**)\s*(\w+)\s*(?:\[[^\]]*\])?", declarator.strip()).groups()
                fields.append((name, base, len(stars)))
        structs[tag] = fields
    functions = {name: 0 if params.strip() in ("", "void") else params.count(",") + 1
                 for name, params in re.findall(r"[\w*]\s+\**(eri_\w+)\s*\(([^()]*)\)\s*;", text)}
    return structs, functions


def compiler_layout(include: str, structs: dict[str, list[tuple[str, str, int]]]) -> dict[tuple[str, str], list[str]]:
    """{(tag, field): [offset, size, align, kind, pointee kind]} and {(tag, ""): [size, align]} from the C compiler."""
    src = ["#include <eri.h>", "#include <stddef.h>", "#include <stdio.h>", f"#define KIND(x) {C_KIND}", "int main(void) {"]
    for tag, fields in structs.items():
        src.append(f'    printf("{tag} - %zu %zu\\n", sizeof(struct {tag}), __alignof__(struct {tag}));')
        for name, base, depth in fields:
            member = f"((struct {tag} *)0)->{name}"
            pointee = f"KIND(*{member})" if depth == 1 and base != "void" else '"-"'
            src.append(f'    printf("{tag} {name} %zu %zu %zu %s %s\\n", offsetof(struct {tag}, {name}), sizeof({member}), '
                       f"__alignof__({member}), KIND({member}), {pointee});")
    src += ["    return 0;", "}", ""]
    cc = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory() as tmp:
        c, exe = os.path.join(tmp, "layout.c"), os.path.join(tmp, "layout")
        with open(c, "w") as fh:
            fh.write("\n".join(src))
        subprocess.run([cc, "-std=gnu11", "-Wall", "-Werror", "-I", include, c, "-o", exe], check=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return {(tag, "" if name == "-" else name): rest for tag, name, *rest in (line.split() for line in out.splitlines())}


def ctypes_kind(t: type) -> tuple[str, str]:
    """(kind, pointee kind) of a ctypes field type, named as C_KIND names C types; "any" for c_void_p."""
    names = {v: k for k, v in KINDS.items()}
    if t in names:
        return names[t], "-"
    if t is ctypes.c_char_p:
        return "other", "char"
    if t is ctypes.c_void_p:
        return "other", "any"
    if issubclass(t, ctypes._Pointer):
        return "other", names.get(t._type_, t._type_.__name__)
    return "other", "-"


def compare(tag: str, cls: type[ctypes.Structure], header: list[tuple[str, str, int]],
            c: dict[tuple[str, str], list[str]]) -> list[str]:
    """What differs between ctypes' `cls` and the compiler's `struct tag`."""
    ours = [name for name, _ in cls._fields_]
    theirs = [name for name, _, _ in header]
    bad = [f"{name} missing from ctypes" for name in theirs if name not in ours]
    bad += [f"{name} not in eri.h" for name in ours if name not in theirs]
    if not bad and ours != theirs:
        bad.append(f"field order {ours}, eri.h {theirs}")
    size, align = (int(v) for v in c[(tag, "")])
    if ctypes.sizeof(cls) != size or ctypes.alignment(cls) != align:
        bad.append(f"sizeof/alignment: ctypes {ctypes.sizeof(cls)}/{ctypes.alignment(cls)}, C {size}/{align}")
    end = 0  # the parsed fields must tile the compiler's struct: only alignment padding between them
    for name, offset, field_size, field_align in sorted(((name, *(int(v) for v in c[(tag, name)][:3])) for name, _, _ in header),
                                                        key=lambda field: field[1]):
        if -(-end // field_align) * field_align != offset:
            bad.append(f"a field before {name} missing from the parse of eri.h (offset {offset}, previous end {end})")
        end = offset + field_size
    if -(-end // align) * align != size:
        bad.append(f"a field after the last missing from the parse of eri.h (end {end}, sizeof {size})")
    for name, field_type in cls._fields_:
        if (tag, name) not in c:
            continue
        offset, field_size, _, kind, pointee = c[(tag, name)]
        descriptor = getattr(cls, name)
        if (descriptor.offset, descriptor.size) != (int(offset), int(field_size)):
            bad.append(f"{name}: ctypes offset {descriptor.offset} size {descriptor.size}, C offset {offset} size {field_size}")
        ours_kind, ours_pointee = ctypes_kind(field_type)
        if ours_kind != kind or ours_pointee not in ("any", pointee):
            bad.append(f"{name}: ctypes {field_type.__name__} ({ours_kind}, pointee {ours_pointee}), C {kind}, pointee {pointee}")
    return bad


def main() -> int:
    prefix = os.environ.get("ERI_PREFIX")
    if not prefix:
        sys.exit("test_layout: set ERI_PREFIX to the install prefix")
    include = os.path.join(prefix, "include")
    structs, functions = header_declarations(os.path.join(include, "eri.h"))
    check(set(structs) == set(_capi.STRUCTS) and len(structs) >= 5,
          f"liberi._capi.STRUCTS mirrors the {len(structs)} structs of eri.h",
          f"eri.h {sorted(structs)}, liberi._capi {sorted(_capi.STRUCTS)}")
    layout = compiler_layout(include, {tag: fields for tag, fields in structs.items() if tag in _capi.STRUCTS})
    for tag, cls in _capi.STRUCTS.items():
        if tag in structs:
            fields = ", ".join(f"{name}@{getattr(cls, name).offset}" for name, _ in cls._fields_)
            bad = compare(tag, cls, structs[tag], layout)
            check(not bad, f"struct {tag}: {ctypes.sizeof(cls)} bytes ({fields})", "; ".join(bad))
    counts = {name: len(argtypes) for name, (_, argtypes) in _capi.FUNCTIONS.items()}
    check(counts == functions and len(functions) >= 20,
          f"liberi._capi.FUNCTIONS declares the {len(functions)} functions of eri.h with their parameter counts",
          f"eri.h only {sorted(set(functions.items()) - set(counts.items()))}, "
          f"liberi._capi only {sorted(set(counts.items()) - set(functions.items()))}")
    print(f"test_layout: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
