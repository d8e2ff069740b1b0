/// Area resampling, PyTorch's `F.interpolate(mode="area")` (adaptive average
/// pooling): output row i averages input rows ⌊i·in/out⌋ ..< ⌈(i+1)·in/out⌉,
/// and likewise for columns; the face detector's image pyramid and crops
/// (facenet-pytorch's `imresample`). `x`: `planes` planes of h × w; `y`:
/// planes of outH × outW. Separable (rows, then columns of the row averages),
/// so each output is the mean of its rectangle up to float rounding. Split over planes.
public func areaResize(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int, outHeight oh: Int, outWidth ow: Int,
                       into y: UnsafeMutablePointer<Float>) {
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
            let src = x + p * h * w, dst = y + p * oh * ow
            for (i, (a, b)) in rowSpans.enumerated() {
                let out = rows + i * w
                out.update(from: src + a * w, count: w)
                for r in (a + 1)..<max(a + 1, b) { for c in 0..<w { out[c] += src[r * w + c] } }
                let inv = 1 / Float(b - a)
                for c in 0..<w { out[c] *= inv }
            }
            for i in 0..<oh {
                let row = rows + i * w, out = dst + i * ow
                for (j, (a, b)) in columnSpans.enumerated() {
                    var sum: Float = 0
                    for c in a..<b { sum += row[c] }
                    out[j] = sum / Float(b - a)
                }
            }
        }
    }
}
