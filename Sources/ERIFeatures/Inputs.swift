import ERICore

// What the feature stages read from the caller's memory — frames and PCM —
// with the one validation each gets before anything reads it, and every
// range an input must lie in. The pipeline, the stream and the C façade all
// take these views; none checks them again.

/// Every range an input of liberi must lie in, in one place.
public enum InputLimits {
    /// Width and height of an image, in pixels.
    public static let imageSide = 1...65536
    /// Largest accepted |coordinate| or size of a face box, in pixels: far
    /// beyond any image, and small enough that every crop computation stays exact.
    public static let boxExtent: Float = 16_777_216  // 2^24
    /// Frames of one clip given at once (11.6 hours at 25 fps).
    public static let maxFrames = 1 << 20
    /// Sample rates of PCM, in Hz (`Limits.sampleRates`: 4 kHz … 768 kHz).
    public static let sampleRate = Limits.sampleRates
    /// Interleaved channels of PCM.
    public static let channels = 1...8
    /// Largest |sample| of float PCM: [-1, 1] with room for the overshoot of
    /// resampling and mixing; a larger value is a misread (int16 passed as float).
    public static let sampleMagnitude: Float = Limits.sampleMagnitude
    /// Interleaved values of one PCM buffer.
    public static let maxSamples = 1 << 40
}

/// Pixel layouts of `eri_image`, 8 bits per sample; the raw values are the
/// C enum's (`include/eri.h`). The YUV layouts are what camera pipelines
/// (V4L2, GStreamer, automotive ISPs) deliver; they are read as BT.601
/// limited-range video ("TV range"), FFmpeg's default for them, and turned
/// into RGB per pixel as they are read (`YUV`).
public enum PixelFormat: Int32, Sendable, CaseIterable {
    case rgb24 = 0, bgr24 = 1, rgba32 = 2, bgra32 = 3, gray8 = 4
    /// A Y plane, then one plane of interleaved U, V at half width and half height.
    case nv12 = 5
    /// Y, U and V planes; U and V at half width and half height.
    case i420 = 6
    /// Packed 4:2:2, Y₀ U Y₁ V for each pair of pixels.
    case yuyv = 7

    /// Bytes per pixel in the first plane (`data`): 3, 3, 4, 4, 1, 1, 1, 2.
    public var bytesPerPixel: Int {
        switch self {
        case .rgb24, .bgr24: return 3
        case .rgba32, .bgra32: return 4
        case .gray8, .nv12, .i420: return 1
        case .yuyv: return 2
        }
    }

    /// Whether the pixels live in more than one plane.
    public var isPlanar: Bool { self == .nv12 || self == .i420 }
    /// Whether the samples are Y, U, V (read as BT.601 limited range).
    public var isYUV: Bool { isPlanar || self == .yuyv }

    /// Byte offsets of R, G and B inside a pixel of the packed RGB formats (all 0 for gray; alpha is never read).
    var channelOffsets: (r: Int, g: Int, b: Int) {
        switch self {
        case .rgb24, .rgba32: return (0, 1, 2)
        case .bgr24, .bgra32: return (2, 1, 0)
        default: return (0, 0, 0)
        }
    }
}

/// A face box in pixels: (x, y) is its top-left corner, (w, h) its size
/// (SPEC §4.1 step 2). It may reach past the image's edges, not lie wholly outside.
public struct FaceBox: Equatable, Sendable {
    public var x: Float, y: Float, w: Float, h: Float
    public init(x: Float, y: Float, w: Float, h: Float) { self.x = x; self.y = y; self.w = w; self.h = h }
}

/// One frame in the caller's memory, read in place: row r of the first plane
/// starts at `data + r · stride`; NV12's chroma plane and I420's U and V
/// planes have rows of `chromaStride` bytes. A view exists only once
/// validated (`init` checks it), so nothing that reads one checks it again.
public struct ImageView: @unchecked Sendable {
    public let data: UnsafeRawPointer
    public let width: Int
    public let height: Int
    /// Bytes from one row of `data` to the next, at least `width · format.bytesPerPixel`.
    public let stride: Int
    public let format: PixelFormat
    /// NV12: the UV plane; I420: the U plane. Nil for the other formats.
    public let chroma: UnsafeRawPointer?
    /// I420: the V plane.
    public let chromaV: UnsafeRawPointer?
    /// Bytes from one row of the chroma plane(s) to the next.
    public let chromaStride: Int
    /// The face to crop around; nil crops the centred square.
    public private(set) var box: FaceBox?

    /// Checks everything a read of the pixels relies on, before any is read:
    /// width and height within `InputLimits.imageSide` (even width for YUYV),
    /// strides of at least one row's bytes, byte spans (stride · (rows − 1) +
    /// row) that fit in memory, and a box of finite values and positive size
    /// whose crop square is at least one whole pixel and overlaps the image.
    /// Planar formats: `chroma` (and for I420 `chromaV`) nil means the plane
    /// follows the previous one directly (rows of its stride); `chromaStride`
    /// 0 means `stride` for NV12 and ⌈stride / 2⌉ for I420. Throws `invalidArgument`.
    public init(data: UnsafeRawPointer, width: Int, height: Int, stride: Int, format: PixelFormat, box: FaceBox? = nil,
                chroma: UnsafeRawPointer? = nil, chromaV: UnsafeRawPointer? = nil, chromaStride: Int = 0) throws {
        guard InputLimits.imageSide.contains(width), InputLimits.imageSide.contains(height) else {
            throw ERIError.invalidArgument("image size \(width)×\(height) is outside 1…\(InputLimits.imageSide.upperBound) pixels per side")
        }
        if format == .yuyv && width % 2 != 0 {
            throw ERIError.invalidArgument("a YUYV image needs an even width (its pixels come in pairs sharing U and V); got \(width)")
        }
        try ImageView.checkPlane(rows: height, stride: stride, row: width * format.bytesPerPixel, name: "stride")
        self.data = data
        self.width = width
        self.height = height
        self.stride = stride
        self.format = format
        switch format {
        case .nv12, .i420:
            let cw = (width + 1) / 2, ch = (height + 1) / 2
            let rowBytes = format == .nv12 ? 2 * cw : cw
            let cs = chromaStride != 0 ? chromaStride : (format == .nv12 ? stride : (stride + 1) / 2)
            try ImageView.checkPlane(rows: ch, stride: cs, row: rowBytes, name: "chroma stride")
            let u = chroma ?? data + stride * height
            self.chroma = u
            self.chromaV = format == .i420 ? (chromaV ?? u + cs * ch) : nil
            self.chromaStride = cs
        default:
            self.chroma = nil
            self.chromaV = nil
            self.chromaStride = 0
        }
        try ImageView.check(box: box, width: width, height: height)
        self.box = box
    }

    /// A plane of `rows` rows of `row` bytes each `stride` apart must fit in memory.
    private static func checkPlane(rows: Int, stride: Int, row: Int, name: String) throws {
        guard stride >= row else {
            throw ERIError.invalidArgument("\(name) \(stride) is less than the \(row) bytes of a row")
        }
        let (span, overflow) = stride.multipliedReportingOverflow(by: rows - 1)
        guard !overflow, span <= (1 << 46) - row else {
            throw ERIError.invalidArgument("image of \(rows) rows of \(name) \(stride) bytes spans more memory than exists")
        }
    }

    /// The same pixels with another face box (nil: the centred square), the box checked.
    public func with(box: FaceBox?) throws -> ImageView {
        try ImageView.check(box: box, width: width, height: height)
        var view = self
        view.box = box
        return view
    }

    private static func check(box: FaceBox?, width: Int, height: Int) throws {
        guard let b = box else { return }
        guard b.x.isFinite, b.y.isFinite, b.w.isFinite, b.h.isFinite, b.w > 0, b.h > 0 else {
            throw ERIError.invalidArgument("face box (x \(b.x), y \(b.y), w \(b.w), h \(b.h)) needs finite values and a positive size")
        }
        let limit = InputLimits.boxExtent
        guard abs(b.x) <= limit, abs(b.y) <= limit, b.w <= limit, b.h <= limit else {
            throw ERIError.invalidArgument("face box (x \(b.x), y \(b.y), w \(b.w), h \(b.h)) exceeds ±\(Int(limit)) pixels")
        }
        let square = try cropSquare(width: width, height: height, box: box)
        guard square.left < width, square.top < height, square.left + square.side > 0, square.top + square.side > 0 else {
            throw ERIError.invalidArgument("face box (x \(b.x), y \(b.y), w \(b.w), h \(b.h)) lies wholly outside the \(width)×\(height) image")
        }
    }
}

/// BT.601 limited-range YUV → RGB (0…255, clamped), the conversion FFmpeg
/// applies to NV12, I420 and YUYV without a colour-space tag.
enum YUV {
    @inline(__always) static func rgb(_ y: UInt8, _ u: UInt8, _ v: UInt8) -> SIMD4<Float> {
        let c = 1.164383 * (Float(y) - 16), d = Float(u) - 128, e = Float(v) - 128
        let value = SIMD4<Float>(c + 1.596027 * e, c - 0.391762 * d - 0.812968 * e, c + 2.017232 * d, 0)
        return value.clamped(lowerBound: SIMD4(repeating: 0), upperBound: SIMD4(255, 255, 255, 0))
    }
}

/// Reads R, G, B (0…255, as floats) of any pixel of an `ImageView`. A row is
/// looked up once (`row(_:)`) and its pixels read with `pixel(_:)`, so the
/// resampling loops stay as tight as for packed RGB, for every format.
protocol PixelReader {
    associatedtype Row
    func row(_ y: Int) -> Row
    func pixel(_ row: Row, _ x: Int) -> SIMD4<Float>
}

struct PackedReader: PixelReader {
    let bytes: UnsafePointer<UInt8>, stride: Int, bpp: Int, r: Int, g: Int, b: Int
    @inline(__always) func row(_ y: Int) -> UnsafePointer<UInt8> { bytes + y * stride }
    @inline(__always) func pixel(_ row: UnsafePointer<UInt8>, _ x: Int) -> SIMD4<Float> {
        let p = row + x * bpp
        return SIMD4(Float(p[r]), Float(p[g]), Float(p[b]), 0)
    }
}

struct NV12Reader: PixelReader {
    let luma: UnsafePointer<UInt8>, stride: Int, chroma: UnsafePointer<UInt8>, chromaStride: Int
    @inline(__always) func row(_ y: Int) -> (UnsafePointer<UInt8>, UnsafePointer<UInt8>) {
        (luma + y * stride, chroma + (y >> 1) * chromaStride)
    }
    @inline(__always) func pixel(_ row: (UnsafePointer<UInt8>, UnsafePointer<UInt8>), _ x: Int) -> SIMD4<Float> {
        let c = row.1 + (x >> 1) * 2
        return YUV.rgb(row.0[x], c[0], c[1])
    }
}

struct I420Reader: PixelReader {
    let luma: UnsafePointer<UInt8>, stride: Int, u: UnsafePointer<UInt8>, v: UnsafePointer<UInt8>, chromaStride: Int
    @inline(__always) func row(_ y: Int) -> (UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>) {
        let offset = (y >> 1) * chromaStride
        return (luma + y * stride, u + offset, v + offset)
    }
    @inline(__always) func pixel(_ row: (UnsafePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>), _ x: Int) -> SIMD4<Float> {
        YUV.rgb(row.0[x], row.1[x >> 1], row.2[x >> 1])
    }
}

struct YUYVReader: PixelReader {
    let bytes: UnsafePointer<UInt8>, stride: Int
    @inline(__always) func row(_ y: Int) -> UnsafePointer<UInt8> { bytes + y * stride }
    @inline(__always) func pixel(_ row: UnsafePointer<UInt8>, _ x: Int) -> SIMD4<Float> {
        let pair = row + (x >> 1) * 4
        return YUV.rgb(pair[(x & 1) * 2], pair[1], pair[3])
    }
}

/// Work done over an image's pixels, whatever its format: `ImageView.read`
/// calls `visit` with the reader of the view's format, so the loop inside
/// is compiled once per format, each as tight as a hand-written one.
protocol PixelVisitor {
    associatedtype Result
    func visit<R: PixelReader>(_ reader: R) -> Result
}

extension ImageView {
    func read<V: PixelVisitor>(with visitor: V) -> V.Result {
        let bytes = data.assumingMemoryBound(to: UInt8.self)
        switch format {
        case .rgb24, .bgr24, .rgba32, .bgra32, .gray8:
            let (r, g, b) = format.channelOffsets
            return visitor.visit(PackedReader(bytes: bytes, stride: stride, bpp: format.bytesPerPixel, r: r, g: g, b: b))
        case .nv12:
            return visitor.visit(NV12Reader(luma: bytes, stride: stride, chroma: chroma!.assumingMemoryBound(to: UInt8.self),
                                                chromaStride: chromaStride))
        case .i420:
            return visitor.visit(I420Reader(luma: bytes, stride: stride, u: chroma!.assumingMemoryBound(to: UInt8.self),
                                                v: chromaV!.assumingMemoryBound(to: UInt8.self), chromaStride: chromaStride))
        case .yuyv:
            return visitor.visit(YUYVReader(bytes: bytes, stride: stride))
        }
    }

    /// The image as three planes R, G, B (0…255 floats, 3 × h × w) no larger
    /// than `maxSide` on either side: when the image is larger, each value is
    /// the mean of the source pixels its cell covers (area resampling, read
    /// straight from the caller's memory, so memory stays bounded by the
    /// output). Returns the planes, their size and the factor from image to
    /// planes (1 when the image fits). For the face detector.
    public func rgbPlanes(maxSide: Int) -> (planes: [Float], width: Int, height: Int, scale: Double) {
        let largest = max(width, height)
        let scale = largest > maxSide ? Double(maxSide) / Double(largest) : 1
        let w = max(1, Int((Double(width) * scale).rounded())), h = max(1, Int((Double(height) * scale).rounded()))
        struct Planes: PixelVisitor {
            let width: Int, height: Int, w: Int, h: Int
            func visit<R: PixelReader>(_ reader: R) -> [Float] {
                var out = [Float](repeating: 0, count: 3 * w * h)  // (3, h, w)
                let plane = w * h
                if w == width && h == height {
                    for y in 0..<height {
                        let row = reader.row(y)
                        for x in 0..<width {
                            let p = reader.pixel(row, x)
                            out[y * w + x] = p[0]; out[plane + y * w + x] = p[1]; out[2 * plane + y * w + x] = p[2]
                        }
                    }
                    return out
                }
                // Each output cell averages source rows ⌊i·H/h⌋ ..< ⌈(i+1)·H/h⌉ and the same for columns.
                let columns = (0..<w).map { j in (j * width / w, ((j + 1) * width + w - 1) / w) }
                var sums = [SIMD4<Float>](repeating: .zero, count: w)
                for i in 0..<h {
                    let y0 = i * height / h, y1 = ((i + 1) * height + h - 1) / h
                    for j in 0..<w { sums[j] = .zero }
                    for y in y0..<y1 {
                        let row = reader.row(y)
                        for (j, (x0, x1)) in columns.enumerated() {
                            var sum = SIMD4<Float>.zero
                            for x in x0..<x1 { sum += reader.pixel(row, x) }
                            sums[j] += sum
                        }
                    }
                    for (j, (x0, x1)) in columns.enumerated() {
                        let mean = sums[j] / Float((y1 - y0) * (x1 - x0))
                        out[i * w + j] = mean[0]; out[plane + i * w + j] = mean[1]; out[2 * plane + i * w + j] = mean[2]
                    }
                }
                return out
            }
        }
        return (read(with: Planes(width: width, height: height, w: w, h: h)), w, h, Double(w) / Double(width))
    }

    /// R, G, B of the whole image, row-major (height × width × 3), as
    /// `preprocessFrame` reads them (for tests and the face detector).
    public func rgbFloats() -> [Float] {
        struct Fill: PixelVisitor {
            let width: Int, height: Int
            func visit<R: PixelReader>(_ reader: R) -> [Float] {
                var out = [Float](repeating: 0, count: width * height * 3)  // (H, W, 3)
                for y in 0..<height {
                    let row = reader.row(y)
                    for x in 0..<width {
                        let p = reader.pixel(row, x)
                        out[(y * width + x) * 3] = p[0]; out[(y * width + x) * 3 + 1] = p[1]; out[(y * width + x) * 3 + 2] = p[2]
                    }
                }
                return out
            }
        }
        return read(with: Fill(width: width, height: height))
    }
}

/// Interleaved PCM in the caller's memory (SPEC §4.2 input): frames of
/// `channels` values at `sampleRate` Hz. A view exists only once validated.
public struct PCMView: @unchecked Sendable {
    public let samples: UnsafeBufferPointer<Float>  // (n_per_channel, channels), interleaved
    public let sampleRate: Int
    public let channels: Int

    /// Checks every PCM input: channels and rate within `InputLimits`, whole
    /// frames of `channels` values, no NaN, no |sample| over
    /// `InputLimits.sampleMagnitude`. Throws
    /// `invalidArgument` naming the problem. An empty buffer passes (a stream
    /// may push one); whether a call needs samples is its own rule.
    public init(samples: UnsafeBufferPointer<Float>, sampleRate: Int, channels: Int) throws {
        guard InputLimits.channels.contains(channels) else {
            throw ERIError.invalidArgument("audio: \(channels) channels is outside 1…\(InputLimits.channels.upperBound)")
        }
        guard InputLimits.sampleRate.contains(sampleRate) else {
            throw ERIError.invalidArgument("audio: sample rate \(sampleRate) Hz is outside \(InputLimits.sampleRate.lowerBound)…"
                                           + "\(InputLimits.sampleRate.upperBound) Hz (below 4 kHz nothing of a voice is left to read)")
        }
        guard samples.count <= InputLimits.maxSamples else {
            throw ERIError.invalidArgument("audio: \(samples.count) interleaved values is absurd")
        }
        guard samples.count % channels == 0 else {
            throw ERIError.invalidArgument("audio: \(samples.count) interleaved values is not a multiple of \(channels) channels")
        }
        if let bad = firstOutOfRange(samples, limit: InputLimits.sampleMagnitude) {
            let value = samples[bad]
            let why = value.isFinite ? "outside ±\(InputLimits.sampleMagnitude): PCM is float in [-1, 1] (int16 samples divided by 32768)"
                                     : "NaN or infinite"
            throw ERIError.invalidArgument("audio: sample \(bad / channels) of channel \(bad % channels) is \(value), \(why)")
        }
        self.samples = samples
        self.sampleRate = sampleRate
        self.channels = channels
    }

    /// Samples per channel.
    public var frameCount: Int { samples.count / channels }
}

/// Index of the first value that is NaN or whose magnitude exceeds `limit`
/// (so ±∞ too), checked eight at a time: only a block that fails is scanned.
func firstOutOfRange(_ values: UnsafeBufferPointer<Float>, limit: Float) -> Int? {
    guard let base = values.baseAddress else { return nil }
    let raw = UnsafeRawPointer(base)
    let bound = SIMD8<Float>(repeating: limit)
    @inline(__always) func bad(_ x: Float) -> Bool { !(abs(x) <= limit) }   // NaN compares false
    var i = 0
    while i + 8 <= values.count {
        let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        // A lane is in range when |x| ≤ limit; NaN never is.
        if !all((v .<= bound) .& (v .>= -bound)) {
            for k in i..<(i + 8) where bad(values[k]) { return k }
        }
        i += 8
    }
    for k in i..<values.count where bad(values[k]) { return k }
    return nil
}

/// A frame copied out of the caller's memory (rows packed, planes in one
/// buffer), for a stream that decides later whether it needs the frame.
public struct ImageCopy: Sendable {
    let bytes: [UInt8]
    let width: Int, height: Int, stride: Int, chromaStride: Int
    let format: PixelFormat
    let chromaOffset: Int, chromaVOffset: Int
    public let box: FaceBox?

    /// The bytes a copy of `view` takes.
    public static func byteCount(_ view: ImageView) -> Int {
        let chromaRow = view.format == .nv12 ? 2 * ((view.width + 1) / 2) : (view.width + 1) / 2
        return view.width * view.format.bytesPerPixel * view.height + (view.format.isPlanar ? 2 * chromaRow * ((view.height + 1) / 2) : 0)
    }

    public init(_ view: ImageView) {
        let rowBytes = view.width * view.format.bytesPerPixel
        var bytes = [UInt8]()
        let ch = (view.height + 1) / 2
        let chromaRow = view.format == .nv12 ? 2 * ((view.width + 1) / 2) : (view.width + 1) / 2
        bytes.reserveCapacity(rowBytes * view.height + (view.format.isPlanar ? 2 * chromaRow * ch : 0))
        let data = view.data.assumingMemoryBound(to: UInt8.self)
        for y in 0..<view.height { bytes += UnsafeBufferPointer(start: data + y * view.stride, count: rowBytes) }
        var u = 0, v = 0
        if let chroma = view.chroma?.assumingMemoryBound(to: UInt8.self) {
            u = bytes.count
            for y in 0..<ch { bytes += UnsafeBufferPointer(start: chroma + y * view.chromaStride, count: chromaRow) }
            if let chromaV = view.chromaV?.assumingMemoryBound(to: UInt8.self) {
                v = bytes.count
                for y in 0..<ch { bytes += UnsafeBufferPointer(start: chromaV + y * view.chromaStride, count: chromaRow) }
            }
        }
        self.bytes = bytes
        width = view.width; height = view.height; stride = rowBytes; chromaStride = chromaRow
        format = view.format; chromaOffset = u; chromaVOffset = v; box = view.box
    }

    /// A view of the copy for the duration of `body`.
    public func withView<T>(_ body: (ImageView) throws -> T) throws -> T {
        try bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            return try body(try ImageView(data: base, width: width, height: height, stride: stride, format: format, box: box,
                                          chroma: format.isPlanar ? base + chromaOffset : nil,
                                          chromaV: format == .i420 ? base + chromaVOffset : nil, chromaStride: chromaStride))
        }
    }
}
