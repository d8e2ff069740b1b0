/// Area resampling, PyTorch's `F.interpolate(mode="area")` (adaptive average
/// pooling): output row i averages input rows ⌊i·in/out⌋ ..< ⌈(i+1)·in/out⌉,
/// and likewise for columns; the face detector's image pyramid and crops
/// (facenet-pytorch's `imresample`). `x`: `planes` planes of h × w; `y`:
/// planes of outH × outW. Separable (rows, then columns of the row averages),
/// so each output is the mean of its rectangle up to float rounding. Split over planes.
/// `rowStride`, `planeStride`: where x's rows and planes start (w and h · w unless given: a
/// crop of a larger image is resampled in place).
public func areaResize(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int, outHeight oh: Int, outWidth ow: Int,
                       into y: UnsafeMutablePointer<Float>, rowStride: Int? = nil, planeStride: Int? = nil) {
    let rowStride = rowStride ?? w, planeStride = planeStride ?? h * w
    precondition(rowStride >= w && planeStride >= (h - 1) * rowStride + w, "areaResize's strides overlap rows or planes")
    precondition(h >= 1 && w >= 1 && oh >= 1 && ow >= 1, "areaResize needs non-empty maps")
    /// [start, end) of each output cell along an axis of `input` values resampled to `output`.
    func spans(_ input: Int, _ output: Int) -> [(Int, Int)] {
        (0..<output).map { i in (i * input / output, ((i + 1) * input + output - 1) / output) }
    }
    let rowSpans = spans(h, oh), columnSpans = spans(w, ow)
    parallelRanges(planes, grain: max(1, 8_192 / max(1, h * w))) { range in
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: oh * w)   // (outH, w): the row means
        defer { rows.deallocate() }
        for p in range {
            let src = x + p * planeStride, dst = y + p * oh * ow
            for (i, (a, b)) in rowSpans.enumerated() {
                // Column by column in row order, eight columns at a time in registers.
                let out = rows + i * w, inv = 1 / Float(b - a)
                var c = 0
                while c + 8 <= w {
                    var sum = UnsafeRawPointer(src + a * rowStride + c).loadUnaligned(as: SIMD8<Float>.self)
                    for r in (a + 1)..<max(a + 1, b) { sum += UnsafeRawPointer(src + r * rowStride + c).loadUnaligned(as: SIMD8<Float>.self) }
                    UnsafeMutableRawPointer(out + c).storeBytes(of: sum * inv, as: SIMD8<Float>.self)
                    c += 8
                }
                while c < w {
                    var sum = src[a * rowStride + c]
                    for r in (a + 1)..<max(a + 1, b) { sum += src[r * rowStride + c] }
                    out[c] = sum * inv
                    c += 1
                }
            }
            columnSpans.withUnsafeBufferPointer { spans in
                for i in 0..<oh {
                    let row = rows + i * w, out = dst + i * ow
                    for j in 0..<ow {
                        let (a, b) = spans[j]
                        var sum: Float = row[a]
                        for c in (a + 1)..<max(a + 1, b) { sum += row[c] }
                        out[j] = sum / Float(b - a)
                    }
                }
            }
        }
    }
}

