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
    /// Frames of one clip given at once.
    public static let maxFrames = 100_000_000
    /// Sample rates of PCM, in Hz.
    public static let sampleRate = 1...768_000
    /// Interleaved channels of PCM.
    public static let channels = 1...8
    /// Interleaved values of one PCM buffer.
    public static let maxSamples = 1 << 40
}

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
/// `data + r · stride` and holds `width` pixels of `format`. A view exists
/// only once validated (`init` checks it), so nothing that reads one checks it again.
public struct ImageView: @unchecked Sendable {
    public let data: UnsafeRawPointer
    public let width: Int
    public let height: Int
    /// Bytes from one row to the next, at least `width · format.bytesPerPixel`.
    public let stride: Int
    public let format: PixelFormat
    /// The face to crop around; nil crops the centred square.
    public private(set) var box: FaceBox?

    /// Checks everything a read of the pixels relies on, before any is read:
    /// width and height within `InputLimits.imageSide`, a stride of at least
    /// one row's bytes, a byte span (stride · (height − 1) + row) that fits in
    /// memory, and a box of finite values, positive size, and a square of at
    /// least one whole pixel. Throws `invalidArgument`.
    public init(data: UnsafeRawPointer, width: Int, height: Int, stride: Int, format: PixelFormat, box: FaceBox? = nil) throws {
        guard InputLimits.imageSide.contains(width), InputLimits.imageSide.contains(height) else {
            throw ERIError.invalidArgument("image size \(width)×\(height) is outside 1…\(InputLimits.imageSide.upperBound) pixels per side")
        }
        let row = width * format.bytesPerPixel  // ≤ 2^18: no overflow
        guard stride >= row else {
            throw ERIError.invalidArgument("stride \(stride) is less than width × bytes per pixel (\(width) × \(format.bytesPerPixel) = \(row))")
        }
        let (rows, overflow) = stride.multipliedReportingOverflow(by: height - 1)
        guard !overflow, rows <= (1 << 46) - row else {
            throw ERIError.invalidArgument("image of \(height) rows of stride \(stride) bytes spans more memory than exists")
        }
        try ImageView.check(box: box, width: width, height: height)
        self.data = data
        self.width = width
        self.height = height
        self.stride = stride
        self.format = format
        self.box = box
    }

    /// The same pixels with another face box (nil: the centred square), the box checked.
    public func with(box: FaceBox?) throws -> ImageView {
        try ImageView.check(box: box, width: width, height: height)
        var view = self
        view.box = box
        return view
    }

    private static func check(box: FaceBox?, width: Int, height: Int) throws {
        if let b = box {
            guard b.x.isFinite, b.y.isFinite, b.w.isFinite, b.h.isFinite, b.w > 0, b.h > 0 else {
                throw ERIError.invalidArgument("face box (x \(b.x), y \(b.y), w \(b.w), h \(b.h)) needs finite values and a positive size")
            }
            let limit = InputLimits.boxExtent
            guard abs(b.x) <= limit, abs(b.y) <= limit, b.w <= limit, b.h <= limit else {
                throw ERIError.invalidArgument("face box (x \(b.x), y \(b.y), w \(b.w), h \(b.h)) exceeds ±\(Int(limit)) pixels")
            }
        }
        _ = try cropSquare(width: width, height: height, box: box)
    }
}

/// Interleaved PCM in the caller's memory (SPEC §4.2 input): frames of
/// `channels` values at `sampleRate` Hz. A view exists only once validated.
public struct PCMView: @unchecked Sendable {
    public let samples: UnsafeBufferPointer<Float>  // (n_per_channel, channels), interleaved
    public let sampleRate: Int
    public let channels: Int

    /// Checks every PCM input: channels and rate within `InputLimits`, whole
    /// frames of `channels` values, no NaN or infinity. Throws
    /// `invalidArgument` naming the problem. An empty buffer passes (a stream
    /// may push one); whether a call needs samples is its own rule.
    public init(samples: UnsafeBufferPointer<Float>, sampleRate: Int, channels: Int) throws {
        guard InputLimits.channels.contains(channels) else {
            throw ERIError.invalidArgument("audio: \(channels) channels is outside 1…\(InputLimits.channels.upperBound)")
        }
        guard InputLimits.sampleRate.contains(sampleRate) else {
            throw ERIError.invalidArgument("audio: sample rate \(sampleRate) Hz is outside 1…\(InputLimits.sampleRate.upperBound)")
        }
        guard samples.count <= InputLimits.maxSamples else {
            throw ERIError.invalidArgument("audio: \(samples.count) interleaved values is absurd")
        }
        guard samples.count % channels == 0 else {
            throw ERIError.invalidArgument("audio: \(samples.count) interleaved values is not a multiple of \(channels) channels")
        }
        if let bad = firstNonFinite(samples) {
            throw ERIError.invalidArgument("audio: sample \(bad / channels) of channel \(bad % channels) is \(samples[bad]) (NaN or infinite)")
        }
        self.samples = samples
        self.sampleRate = sampleRate
        self.channels = channels
    }

    /// Samples per channel.
    public var frameCount: Int { samples.count / channels }
}

/// Index of the first NaN or infinite value, checked eight at a time: a
/// non-finite value poisons a SIMD sum, so only a block that fails is scanned.
func firstNonFinite(_ values: UnsafeBufferPointer<Float>) -> Int? {
    guard let base = values.baseAddress else { return nil }
    let raw = UnsafeRawPointer(base)
    var i = 0
    while i + 8 <= values.count {
        let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        // x − x is 0 for finite x and NaN for NaN or ±∞, and NaN ≠ 0.
        if (v - v).sum() != 0 {
            for k in i..<(i + 8) where !values[k].isFinite { return k }
        }
        i += 8
    }
    for k in i..<values.count where !values[k].isFinite { return k }
    return nil
}
