import ERICore

/// SPEC §4.1 step 2 in whole pixels: the crop square's top-left corner and
/// side. With a box (x, y, w, h), the square of side max(w, h) centred on
/// (x + w/2, y + h/2); without, the centred square of side min(W, H).
/// side = round(side), left = round(cx − side/2), top = round(cy − side/2),
/// rounding half away from zero and using the unrounded side. Throws
/// `invalidArgument` when the side rounds to 0.
public func cropSquare(width: Int, height: Int, box: FaceBox?) throws -> (left: Int, top: Int, side: Int) {
    let side: Double, cx: Double, cy: Double
    if let b = box {
        // Float → Double is exact, and so are these sums for any practical box.
        side = Double(max(b.w, b.h))
        cx = Double(b.x) + Double(b.w) / 2
        cy = Double(b.y) + Double(b.h) / 2
    } else {
        side = Double(min(width, height))
        cx = Double(width) / 2
        cy = Double(height) / 2
    }
    let rounded = side.rounded(.toNearestOrAwayFromZero)
    guard rounded >= 1 else {
        throw ERIError.invalidArgument("face box of side \(side) rounds to an empty square (SPEC §4.1 step 2)")
    }
    return (Int((cx - side / 2).rounded(.toNearestOrAwayFromZero)),
            Int((cy - side / 2).rounded(.toNearestOrAwayFromZero)), Int(rounded))
}

/// One axis of PyTorch's bilinear resize (`F.interpolate(mode="bilinear",
/// align_corners=False, antialias=False)`, SPEC §4.1 step 3) from the crop's
/// `input` pixels to `output`, composed with the crop's offset into the image:
/// output d is `firstWeight[d]` · image[`first[d]`] + `secondWeight[d]` ·
/// image[`second[d]`].
///
/// A neighbour outside the image is black (step 2). Rather than branch on it
/// per pixel, its weight is set to 0 and its position clamped into the image:
/// w·0 and 0·v are both exactly 0 for finite v, so the sums are bit-identical.
struct ResizeAxis {
    var first: [Int], second: [Int]
    var firstWeight: [Float], secondWeight: [Float]

    init(input: Int, output: Int, offset: Int, limit: Int) {
        first = []
        second = []
        firstWeight = []
        secondWeight = []
        // PyTorch computes scale = in/out first, then src = scale·(dst + 0.5) − 0.5.
        let scale = Double(input) / Double(output)
        for d in 0..<output {
            let src = input == output ? Double(d) : max(scale * (Double(d) + 0.5) - 0.5, 0)
            let low = min(Int(src), input - 1)                 // floor: src ≥ 0
            let high = min(low + 1, input - 1)
            let fraction = Float(min(max(src - Double(low), 0), 1))
            let lowPosition = offset + low, highPosition = offset + high
            let lowInside = lowPosition >= 0 && lowPosition < limit
            let highInside = highPosition >= 0 && highPosition < limit
            first.append(lowInside ? lowPosition : 0)
            second.append(highInside ? highPosition : 0)
            firstWeight.append(lowInside ? 1 - fraction : 0)
            secondWeight.append(highInside ? fraction : 0)
        }
    }
}

/// SPEC §4.1 steps 2–5 for one frame: square crop (black outside the image),
/// bilinear resize to S×S on the float pixel values, colour (rgb: v/255;
/// gray: (0.299R + 0.587G + 0.114B)/255; GRAY8: v/255, copied to R = G = B
/// for an rgb model; alpha ignored), normalisation (x − mean[c]) / std[c].
/// Writes C × S × S floats to the front of `out`. The image was validated
/// when its view was made; throws `invalidArgument` for a config whose
/// mean/std do not match its colour, or an `out` shorter than C·S·S.
///
/// The crop is never materialised: each output pixel reads its four source
/// pixels from the caller's image directly, since crop then resize is one
/// bilinear map from image to output with zeros outside the image.
public func preprocessFrame(_ image: ImageView, config: ERIConfig.Video, into out: UnsafeMutableBufferPointer<Float>) throws {
    let size = config.imageSize, channels = config.channels
    guard size >= 1, size <= 1 << 14 else { throw ERIError.invalidArgument("image_size \(size) is outside 1…16384") }
    guard config.mean.count == channels, config.std.count == channels,
          config.std.allSatisfy({ $0 != 0 && $0.isFinite }), config.mean.allSatisfy({ $0.isFinite }) else {
        throw ERIError.invalidArgument("video.mean and video.std need \(channels) finite entries, std non-zero")
    }
    guard out.count >= channels * size * size, let outBase = out.baseAddress else {
        throw ERIError.invalidArgument("output buffer holds \(out.count) floats; a \(channels)×\(size)×\(size) frame needs \(channels * size * size)")
    }
    let crop = try cropSquare(width: image.width, height: image.height, box: image.box)   // SPEC §4.1 step 2
    let columns = ResizeAxis(input: crop.side, output: size, offset: crop.left, limit: image.width)   // step 3
    let rows = ResizeAxis(input: crop.side, output: size, offset: crop.top, limit: image.height)
    let plane = size * size
    // Steps 4 and 5, (v/255 − mean) / std, as one multiply-add v·scale + bias per channel
    // lane: divisions were half the loop's time, and this differs by a few float32 ulps
    // (~1e-7 here; the reference comparison allows 1e-5).
    let lanes = channels == 3 ? [0, 1, 2, 0] : [0, 0, 0, 0]
    let scale = SIMD4<Float>(lanes.map { Float(1 / (255 * Double(config.std[$0]))) })
    let bias = SIMD4<Float>(lanes.map { Float(-Double(config.mean[$0]) / Double(config.std[$0])) })
    // A GRAY8 source has R = G = B = v: its gray value is v/255 itself (SPEC §4.1 step 4),
    // not 0.299·v + 0.587·v + 0.114·v rounded.
    let luma: SIMD4<Float> = image.format == .gray8 ? SIMD4(1, 0, 0, 0) : SIMD4(0.299, 0.587, 0.114, 0)
    image.read(with: FrameResampler(columns: columns, rows: rows, size: size, plane: plane, scale: scale, bias: bias,
                                    luma: luma, gray: config.color == .gray, out: outBase))
}

/// Steps 3–5 of SPEC §4.1 over any pixel format: the bilinear taps of each
/// output pixel read through the format's `PixelReader`.
private struct FrameResampler: PixelVisitor {
    let columns: ResizeAxis, rows: ResizeAxis
    let size: Int, plane: Int
    let scale: SIMD4<Float>, bias: SIMD4<Float>, luma: SIMD4<Float>
    let gray: Bool
    let out: UnsafeMutablePointer<Float>

    // The pixel loop reads the caller's bytes through raw pointers and the axis
    // tables through buffer pointers: it runs S² times per frame (4 taps each),
    // 32 frames per clip, and bounds checks would double its cost.
    func visit<R: PixelReader>(_ reader: R) {
        columns.first.withUnsafeBufferPointer { c0 in
        columns.second.withUnsafeBufferPointer { c1 in
        columns.firstWeight.withUnsafeBufferPointer { cw0 in
        columns.secondWeight.withUnsafeBufferPointer { cw1 in
            for oy in 0..<size {
                let row0 = reader.row(rows.first[oy]), row1 = reader.row(rows.second[oy])
                let h0 = rows.firstWeight[oy], h1 = rows.secondWeight[oy]
                let line = out + oy * size
                for ox in 0..<size {
                    let x0 = c0[ox], x1 = c1[ox], w0 = cw0[ox], w1 = cw1[ox]
                    // PyTorch's order: h0·(w0·p00 + w1·p01) + h1·(w0·p10 + w1·p11).
                    let top = reader.pixel(row0, x0) * w0 + reader.pixel(row0, x1) * w1
                    let bottom = reader.pixel(row1, x0) * w0 + reader.pixel(row1, x1) * w1
                    let value = top * h0 + bottom * h1                                        // 0…255
                    if gray {
                        let y = (value * luma).sum()                                          // step 4
                        line[ox] = y * scale[0] + bias[0]                                     // steps 4–5
                    } else {
                        let normalised = value * scale + bias
                        line[ox] = normalised[0]
                        line[plane + ox] = normalised[1]
                        line[2 * plane + ox] = normalised[2]
                    }
                }
            }
        }
        }
        }
        }
    }
}

/// SPEC §4.1 for a clip: samples F = `config.frames` of the images with
/// `frameIndices` and preprocesses each with `preprocessFrame`, giving the
/// F × C × S × S tensor the video branch takes. Throws `invalidArgument`
/// for no images.
public func preprocessClip(_ images: [ImageView], config: ERIConfig.Video) throws -> Tensor {
    guard !images.isEmpty else { throw ERIError.invalidArgument("no frames: a clip needs at least one frame") }
    guard config.frames >= 1 else { throw ERIError.invalidArgument("video.frames \(config.frames) must be positive") }
    let perFrame = config.channels * config.imageSize * config.imageSize
    var clip = Tensor(zeros: [config.frames, config.channels, config.imageSize, config.imageSize])
    let indices = frameIndices(available: images.count, frames: config.frames)
    try clip.data.withUnsafeMutableBufferPointer { out in
        for (j, index) in indices.enumerated() {
            let slot = UnsafeMutableBufferPointer(rebasing: out[(j * perFrame)..<((j + 1) * perFrame)])
            if j > 0 && indices[j - 1] == index {
                // N < F repeats frames: copy the previous result rather than recompute it.
                slot.baseAddress!.update(from: slot.baseAddress! - perFrame, count: perFrame)
            } else {
                try preprocessFrame(images[index], config: config, into: slot)
            }
        }
    }
    return clip
}

// MARK: - Aligned faces (SPEC §4.1a)

/// A 2-D similarity transform, x' = a·x − b·y + tx, y' = b·x + a·y + ty
/// (a rotation by atan2(b, a), a scale of √(a² + b²), a shift; no reflection).
public struct Similarity: Equatable, Sendable {
    public var a: Double, b: Double, tx: Double, ty: Double
    public init(a: Double, b: Double, tx: Double, ty: Double) { self.a = a; self.b = b; self.tx = tx; self.ty = ty }

    public func apply(_ x: Double, _ y: Double) -> (Double, Double) { (a * x - b * y + tx, b * x + a * y + ty) }

    /// The inverse map (nil when the scale is 0).
    public var inverse: Similarity? {
        let d = a * a + b * b
        guard d > 0, d.isFinite else { return nil }
        let ia = a / d, ib = -b / d
        return Similarity(a: ia, b: ib, tx: -(ia * tx - ib * ty), ty: -(ib * tx + ia * ty))
    }

    /// The least-squares similarity taking `source` points onto `target`
    /// points (Umeyama 1991, no reflection): in complex numbers, with both
    /// sets centred, a + ib = Σ conj(s)·t / Σ |s|². Nil when the source points coincide.
    public static func fitting(_ source: [(Double, Double)], onto target: [(Double, Double)]) -> Similarity? {
        guard source.count == target.count, !source.isEmpty else { return nil }
        let n = Double(source.count)
        let sx = source.map(\.0).reduce(0, +) / n, sy = source.map(\.1).reduce(0, +) / n
        let qx = target.map(\.0).reduce(0, +) / n, qy = target.map(\.1).reduce(0, +) / n
        var re = 0.0, im = 0.0, norm = 0.0
        for (s, t) in zip(source, target) {
            let (x, y, u, v) = (s.0 - sx, s.1 - sy, t.0 - qx, t.1 - qy)
            re += x * u + y * v        // Re(conj(s)·t)
            im += x * v - y * u        // Im(conj(s)·t)
            norm += x * x + y * y
        }
        guard norm > 0, re.isFinite, im.isFinite else { return nil }
        let a = re / norm, b = im / norm
        return Similarity(a: a, b: b, tx: qx - (a * sx - b * sy), ty: qy - (b * sx + a * sy))
    }
}

/// The five-point template of SPEC §4.1a on a 112 px face (left eye, right
/// eye, nose, left and right mouth corner), scaled to `size`.
public func alignmentTemplate(size: Int) -> [(Double, Double)] {
    let s = Double(size) / 112
    return [(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041)]
        .map { ($0.0 * s, $0.1 * s) }
}

/// SPEC §4.1a `"aligned"` for one frame: `toFace` maps frame coordinates onto
/// the S × S face (the similarity fitted from the landmarks to the template);
/// output pixel (u, v) samples the frame bilinearly at toFace⁻¹(u + ½, v + ½) − ½,
/// black outside the frame; then colour and normalisation as step 4–5.
/// Writes C × S × S floats. Throws `invalidArgument` for a degenerate map.
public func preprocessAlignedFrame(_ image: ImageView, toFace: Similarity, config: ERIConfig.Video,
                                   into out: UnsafeMutableBufferPointer<Float>) throws {
    let size = config.imageSize, channels = config.channels
    // Bounded so that every sample position stays far inside Int: a frame
    // pixel per face pixel of at most 10⁴, a shift of at most 10⁹ pixels.
    guard let inverse = toFace.inverse, abs(inverse.a) < 1e4, abs(inverse.b) < 1e4, abs(inverse.tx) < 1e9, abs(inverse.ty) < 1e9 else {
        throw ERIError.invalidArgument("face alignment: the landmarks give a degenerate transform")
    }
    guard out.count >= channels * size * size, let outBase = out.baseAddress else {
        throw ERIError.invalidArgument("output buffer holds \(out.count) floats; a \(channels)×\(size)×\(size) frame needs \(channels * size * size)")
    }
    let lanes = channels == 3 ? [0, 1, 2, 0] : [0, 0, 0, 0]
    let scale = SIMD4<Float>(lanes.map { Float(1 / (255 * Double(config.std[$0]))) })
    let bias = SIMD4<Float>(lanes.map { Float(-Double(config.mean[$0]) / Double(config.std[$0])) })
    let luma: SIMD4<Float> = image.format == .gray8 ? SIMD4(1, 0, 0, 0) : SIMD4(0.299, 0.587, 0.114, 0)
    image.read(with: WarpResampler(map: inverse, width: image.width, height: image.height, size: size, scale: scale, bias: bias,
                                   luma: luma, gray: config.color == .gray, out: outBase))
}

/// Bilinear sampling through a similarity, black outside the frame (SPEC §4.1a).
private struct WarpResampler: PixelVisitor {
    let map: Similarity
    let width: Int, height: Int, size: Int
    let scale: SIMD4<Float>, bias: SIMD4<Float>, luma: SIMD4<Float>
    let gray: Bool
    let out: UnsafeMutablePointer<Float>

    func visit<R: PixelReader>(_ reader: R) {
        let plane = size * size
        for v in 0..<size {
            for u in 0..<size {
                let (fx, fy) = map.apply(Double(u) + 0.5, Double(v) + 0.5)
                let x = fx - 0.5, y = fy - 0.5
                let x0 = Int(x.rounded(.down)), y0 = Int(y.rounded(.down))
                let wx = Float(x - Double(x0)), wy = Float(y - Double(y0))
                @inline(__always) func tap(_ xi: Int, _ yi: Int) -> SIMD4<Float> {
                    xi >= 0 && xi < width && yi >= 0 && yi < height ? reader.pixel(reader.row(yi), xi) : .zero
                }
                let top = tap(x0, y0) * (1 - wx) + tap(x0 + 1, y0) * wx
                let bottom = tap(x0, y0 + 1) * (1 - wx) + tap(x0 + 1, y0 + 1) * wx
                let value = top * (1 - wy) + bottom * wy
                let o = v * size + u
                if gray {
                    out[o] = (value * luma).sum() * scale[0] + bias[0]
                } else {
                    let normalised = value * scale + bias
                    out[o] = normalised[0]; out[plane + o] = normalised[1]; out[2 * plane + o] = normalised[2]
                }
            }
        }
    }
}
