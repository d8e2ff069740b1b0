"""Checks that a PNG rendered from `eri timeline`'s SVG is a readable chart, not
a blank or broken image: the expected size, ink on the page, and each of the
seven emotion colours drawn (lines and legend). A small PNG decoder (zlib +
the five scanline filters), so it needs no imaging library.

    python check_png.py chart.png WIDTH HEIGHT
"""
import struct
import sys
import zlib

COLOURS = ["#e6194b", "#3cb44b", "#f0a30a", "#4363d8", "#f58231", "#911eb4", "#17becf"]


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG: depth {depth}, colour type {colour}"
    bpp = 4 if colour == 6 else 3
    raw, stride = zlib.decompress(idat), width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main():
    path, want_w, want_h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    width, height, bpp, rows = read_png(path)
    pixels = [row[i:i + 3] for row in rows for i in range(0, len(row), bpp)]
    ink = sum(1 for p in pixels if min(p) < 200) / len(pixels)
    found = []
    for colour in COLOURS:
        r, g, b = (int(colour[k:k + 2], 16) for k in (1, 3, 5))
        n = sum(1 for p in pixels if abs(p[0] - r) < 24 and abs(p[1] - g) < 24 and abs(p[2] - b) < 24)
        found.append(n)
    print(f"{path}: {width}×{height}, {ink:.1%} ink, pixels per emotion colour {found}")
    ok = (width, height) == (want_w, want_h) and 0.01 < ink < 0.5 and all(n >= 40 for n in found)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
