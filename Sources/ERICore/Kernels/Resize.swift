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
                // Column by column in row order, eight columns at a time in registers.
                let out = rows + i * w, inv = 1 / Float(b - a)
                var c = 0
                while c + 8 <= w {
                    var sum = UnsafeRawPointer(src + a * w + c).loadUnaligned(as: SIMD8<Float>.self)
                    for r in (a + 1)..<max(a + 1, b) { sum += UnsafeRawPointer(src + r * w + c).loadUnaligned(as: SIMD8<Float>.self) }
                    UnsafeMutableRawPointer(out + c).storeBytes(of: sum * inv, as: SIMD8<Float>.self)
                    c += 8
                }
                while c < w {
                    var sum = src[a * w + c]
                    for r in (a + 1)..<max(a + 1, b) { sum += src[r * w + c] }
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

/// `areaResize` of the same planes to several sizes at once (the face detector's image pyramid),
/// each output bit for bit what `areaResize` gives: the row means of every size are accumulated in
/// one sweep down the input, which is then read once rather than once per size (a 640 × 480
/// pyramid read the whole image eight times, from memory). `outputs[l]`: planes of
/// `sizes[l].height` × `sizes[l].width`. Split over planes.
public func areaResizes(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int,
                        sizes: [(height: Int, width: Int)], into outputs: [UnsafeMutablePointer<Float>]) {
    precondition(h >= 1 && w >= 1 && sizes.count == outputs.count && sizes.allSatisfy { $0.height >= 1 && $0.width >= 1 },
                 "areaResizes needs non-empty maps")
    guard !sizes.isEmpty else { return }
    func spans(_ input: Int, _ output: Int) -> [(Int, Int)] {
        (0..<output).map { i in (i * input / output, ((i + 1) * input + output - 1) / output) }
    }
    let rowSpans = sizes.map { spans(h, $0.height) }, columnSpans = sizes.map { spans(w, $0.width) }
    var offsets = [0]   // each size's row means in the scratch: (height, w)
    for s in sizes { offsets.append(offsets.last! + s.height * w) }
    parallelRanges(planes, grain: 1) { range in
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: offsets.last!)
        defer { rows.deallocate() }
        var pending = [Int](repeating: 0, count: sizes.count)   // per size: the first output row not yet complete
        for p in range {
            let src = x + p * h * w
            for l in sizes.indices { pending[l] = 0 }
            for r in 0..<h {
                let line = src + r * w
                for l in sizes.indices {
                    let spans = rowSpans[l], base = rows + offsets[l]
                    var i = pending[l]
                    // The output rows whose span [a, b) holds r, each summed in row order as areaResize does.
                    while i < spans.count && spans[i].0 <= r {
                        let (a, b) = spans[i], out = base + i * w
                        if r == a { out.update(from: line, count: w) } else {
                            var c = 0
                            while c + 8 <= w {
                                let sum = UnsafeRawPointer(out + c).loadUnaligned(as: SIMD8<Float>.self)
                                    + UnsafeRawPointer(line + c).loadUnaligned(as: SIMD8<Float>.self)
                                UnsafeMutableRawPointer(out + c).storeBytes(of: sum, as: SIMD8<Float>.self)
                                c += 8
                            }
                            while c < w { out[c] += line[c]; c += 1 }
                        }
                        if r == b - 1 {
                            let inv = 1 / Float(b - a)
                            var c = 0
                            while c + 8 <= w {
                                let v = UnsafeRawPointer(out + c).loadUnaligned(as: SIMD8<Float>.self) * inv
                                UnsafeMutableRawPointer(out + c).storeBytes(of: v, as: SIMD8<Float>.self)
                                c += 8
                            }
                            while c < w { out[c] *= inv; c += 1 }
                        }
                        i += 1
                    }
                    while pending[l] < spans.count && spans[pending[l]].1 <= r + 1 { pending[l] += 1 }
                }
            }
            // The columns, as areaResize averages them.
            for l in sizes.indices {
                let oh = sizes[l].height, ow = sizes[l].width, dst = outputs[l] + p * oh * ow, base = rows + offsets[l]
                columnSpans[l].withUnsafeBufferPointer { spans in
                    for i in 0..<oh {
                        let row = base + i * w, out = dst + i * ow
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
}
