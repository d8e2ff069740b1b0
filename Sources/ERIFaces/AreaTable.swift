import CERISupport
import ERICore
import ERIFeatures

/// A frame's integral image (CERISupport's area.c): (height + 1) × (width + 1)
/// entries of three sums (R, G, B), entry (y, x) the sums of the pixels above
/// and left of it. The detector area-resamples every level of its pyramid and
/// every R-Net and O-Net crop from it (PyTorch's interpolate(mode: "area"), as
/// facenet-pytorch does), four reads an output. 8-bit pixels give a table of
/// exact 32-bit integers; other pixels, of doubles.
struct AreaTable {
    enum Entries { case integers(UnsafeMutablePointer<UInt32>), doubles(UnsafeMutablePointer<Double>) }
    let entries: Entries
    let width: Int, height: Int

    /// Packed 8-bit pixels (`layout`: bytes per pixel and the R, G, B bytes' offsets).
    init(packed data: UnsafePointer<UInt8>, width: Int, height: Int, stride: Int,
         layout: (bpp: Int32, r: Int32, g: Int32, b: Int32), arena: Arena) {
        precondition(width >= 1 && height >= 1)
        self.width = width; self.height = height
        let values = arena.uint32s(liberi_integral_size(Int32(height), Int32(width)))
        liberi_integral_from_packed(data, Int32(width), Int32(height), Int32(stride), layout.bpp, layout.r, layout.g, layout.b, values)
        entries = .integers(values)
    }

    /// Three planes of floats (3 × height × width).
    init(planes: UnsafePointer<Float>, width: Int, height: Int, arena: Arena) {
        precondition(width >= 1 && height >= 1)
        self.width = width; self.height = height
        let values = arena.doubles(liberi_integral_size(Int32(height), Int32(width)))
        liberi_integral_from_planes(planes, Int32(width), Int32(height), values)
        entries = .doubles(values)
    }

    /// The image's `rows` × `columns` resampled to `outHeight` × `outWidth`, plane c (R, G, B)
    /// at `out + c · planeStride`; `normalised`: as MTCNN's input, (v − 127.5) · 0.0078125.
    func resample(rows: Range<Int>, columns: Range<Int>, outHeight: Int, outWidth: Int, into out: UnsafeMutablePointer<Float>,
                  planeStride: Int, normalised: Bool = true) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= height && columns.lowerBound >= 0 && columns.upperBound <= width
                     && !rows.isEmpty && !columns.isEmpty && outHeight >= 1 && outWidth >= 1)
        let (entries, w) = (entries, Int32(width))
        let (y0, x0, ch, cw, oh, ow) = (Int32(rows.lowerBound), Int32(columns.lowerBound), Int32(rows.count), Int32(columns.count),
                                        Int32(outHeight), Int32(outWidth))
        // Split over output rows for the pyramid's larger levels; a crop on one thread.
        parallelRanges(outHeight, grain: max(1, 8_192 / outWidth)) { r in
            let (begin, end) = (Int32(r.lowerBound), Int32(r.upperBound))
            switch entries {
            case .integers(let t):
                liberi_area_from_integral(t, w, y0, x0, ch, cw, oh, ow, begin, end, normalised ? 1 : 0, out, planeStride)
            case .doubles(let t):
                liberi_area_from_integral_f64(t, w, y0, x0, ch, cw, oh, ow, begin, end, normalised ? 1 : 0, out, planeStride)
            }
        }
    }
}
