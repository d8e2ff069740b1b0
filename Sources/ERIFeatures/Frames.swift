import ERICore

/// Pixel layouts of `eri_image`, 8 bits per channel; the raw values are the
/// C enum's (`include/eri.h`).
public enum PixelFormat: Int32, Sendable, CaseIterable {
    case rgb24 = 0, bgr24 = 1, rgba32 = 2, bgra32 = 3, gray8 = 4

    /// Bytes of one pixel: 3, 3, 4, 4 and 1.
    public var bytesPerPixel: Int {
        switch self {
        case .rgb24, .bgr24: return 3
        case .rgba32, .bgra32: return 4
        case .gray8: return 1
        }
    }

    /// Byte offsets of R, G and B inside a pixel (all 0 for gray; alpha is never read).
    var channelOffsets: (r: Int, g: Int, b: Int) {
        switch self {
        case .rgb24, .rgba32: return (0, 1, 2)
        case .bgr24, .bgra32: return (2, 1, 0)
        case .gray8: return (0, 0, 0)
        }
    }
}

/// A face box in pixels: (x, y) is its top-left corner, (w, h) its size
/// (SPEC §4.1 step 2). It may reach past the image's edges.
public struct FaceBox: Equatable, Sendable {
    public var x: Float, y: Float, w: Float, h: Float
    public init(x: Float, y: Float, w: Float, h: Float) { self.x = x; self.y = y; self.w = w; self.h = h }
}

/// One frame in the caller's memory, read in place: row r starts at
/// `data + r · stride` and holds `width` pixels of `format`.
public struct ImageView: @unchecked Sendable {
    public var data: UnsafeRawPointer
    public var width: Int
    public var height: Int
    /// Bytes from one row to the next, at least `width · format.bytesPerPixel`.
    public var stride: Int
    public var format: PixelFormat
    /// The face to crop around; nil crops the centred square.
    public var box: FaceBox?

    /// Largest accepted width or height.
    public static let maxSide = 65536
    /// Largest accepted |coordinate| or size of a face box, in pixels: far
    /// beyond any image, and small enough that every crop computation stays exact.
    public static let maxBoxExtent: Float = 16_777_216  // 2^24

    public init(data: UnsafeRawPointer, width: Int, height: Int, stride: Int, format: PixelFormat, box: FaceBox? = nil) {
        self.data = data
        self.width = width
        self.height = height
        self.stride = stride
        self.format = format
        self.box = box
    }

    /// Checks everything a read of the pixels relies on, before any is read:
    /// width and height in 1…65536, a stride of at least one row's bytes,
    /// a byte span (stride · (height − 1) + row) that fits in memory, and a box
    /// of finite values, positive size, and a square of at least one whole
    /// pixel. Throws `invalidArgument`.
    public func validate() throws {
        guard (1...ImageView.maxSide).contains(width), (1...ImageView.maxSide).contains(height) else {
            throw ERIError.invalidArgument("image size \(width)×\(height) is outside 1…\(ImageView.maxSide) pixels per side")
        }
        let row = width * format.bytesPerPixel  // ≤ 2^18: no overflow
        guard stride >= row else {
            throw ERIError.invalidArgument("stride \(stride) is less than width × bytes per pixel (\(width) × \(format.bytesPerPixel) = \(row))")
        }
        let (rows, overflow) = stride.multipliedReportingOverflow(by: height - 1)
        guard !overflow, rows <= (1 << 46) - row else {
            throw ERIError.invalidArgument("image of \(height) rows of stride \(stride) bytes spans more memory than exists")
        }
        if let b = box {
            guard b.x.isFinite, b.y.isFinite, b.w.isFinite, b.h.isFinite, b.w > 0, b.h > 0 else {
                throw ERIError.invalidArgument("face box (x \(b.x), y \(b.y), w \(b.w), h \(b.h)) needs finite values and a positive size")
            }
            let limit = ImageView.maxBoxExtent
            guard abs(b.x) <= limit, abs(b.y) <= limit, b.w <= limit, b.h <= limit else {
                throw ERIError.invalidArgument("face box (x \(b.x), y \(b.y), w \(b.w), h \(b.h)) exceeds ±\(Int(limit)) pixels")
            }
        }
        _ = try cropSquare(width: width, height: height, box: box)
    }
}

/// SPEC §4.1 step 1: the F frame indices i_j = ⌊(j + 0.5) · N / F⌋, j = 0…F−1,
/// computed exactly in integers; N < F repeats frames. Empty when N < 1 or F < 1.
public func frameIndices(available n: Int, frames f: Int) -> [Int] {
    guard n >= 1, f >= 1 else { return [] }
    return (0..<f).map { j in spreadIndex(j, available: n, count: f) }
}

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
/// Writes C × S × S floats to the front of `out`. Throws `invalidArgument`
/// for an invalid image (see `ImageView.validate`), a config whose mean/std
/// do not match its colour, or an `out` shorter than C·S·S.
///
/// The crop is never materialised: each output pixel reads its four source
/// pixels from the caller's image directly, since crop then resize is one
/// bilinear map from image to output with zeros outside the image.
public func preprocessFrame(_ image: ImageView, config: ERIConfig.Video, into out: UnsafeMutableBufferPointer<Float>) throws {
    try image.validate()
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
    let bpp = image.format.bytesPerPixel
    let (r, g, b) = image.format.channelOffsets
    let bytes = image.data.assumingMemoryBound(to: UInt8.self)
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
    let gray = config.color == .gray

    // The pixel loop reads the caller's bytes through raw pointers and the axis
    // tables through buffer pointers: it runs S² times per frame (4 taps each),
    // 32 frames per clip, and bounds checks would double its cost.
    columns.first.withUnsafeBufferPointer { c0 in
    columns.second.withUnsafeBufferPointer { c1 in
    columns.firstWeight.withUnsafeBufferPointer { cw0 in
    columns.secondWeight.withUnsafeBufferPointer { cw1 in
        /// R, G, B of the pixel at byte `p` as floats.
        @inline(__always) func rgb(_ p: UnsafePointer<UInt8>) -> SIMD4<Float> {
            SIMD4(Float(p[r]), Float(p[g]), Float(p[b]), 0)
        }
        for oy in 0..<size {
            let row0 = bytes + rows.first[oy] * image.stride, row1 = bytes + rows.second[oy] * image.stride
            let h0 = rows.firstWeight[oy], h1 = rows.secondWeight[oy]
            let line = outBase + oy * size
            for ox in 0..<size {
                let x0 = c0[ox] * bpp, x1 = c1[ox] * bpp, w0 = cw0[ox], w1 = cw1[ox]
                // PyTorch's order: h0·(w0·p00 + w1·p01) + h1·(w0·p10 + w1·p11).
                let top = rgb(row0 + x0) * w0 + rgb(row0 + x1) * w1
                let bottom = rgb(row1 + x0) * w0 + rgb(row1 + x1) * w1
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

/// SPEC §4.1 for a clip: samples F = `config.frames` of the images with
/// `frameIndices` and preprocesses each with `preprocessFrame`, giving the
/// F × C × S × S tensor the video branch takes. Every image is validated
/// first, so a bad frame is reported by its index whether or not it is
/// sampled. Throws `invalidArgument` for no images or an invalid one.
public func preprocessClip(_ images: [ImageView], config: ERIConfig.Video) throws -> Tensor {
    guard !images.isEmpty else { throw ERIError.invalidArgument("no frames: a clip needs at least one frame") }
    for (i, image) in images.enumerated() {
        do { try image.validate() } catch let e as ERIError {
            throw ERIError(e.code, "frame \(i): \(e.message)")
        }
    }
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
