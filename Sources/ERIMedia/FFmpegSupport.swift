import CFFmpeg
import ERICore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// FFmpeg's error codes. Swift cannot import them: they are function-like macros.
enum AVErrorCode {
    /// `FFERRTAG(a, b, c, d)`: the negated four-character tag.
    private static func tag(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> Int32 {
        -Int32(bitPattern: UInt32(a) | UInt32(b) << 8 | UInt32(c) << 16 | UInt32(d) << 24)
    }

    static let endOfFile = tag(0x45, 0x4F, 0x46, 0x20)       // AVERROR_EOF, 'EOF '
    static let invalidData = tag(0x49, 0x4E, 0x44, 0x41)     // AVERROR_INVALIDDATA, 'INDA'
    static let decoderNotFound = tag(0xF8, 0x44, 0x45, 0x43) // AVERROR_DECODER_NOT_FOUND
    static let tryAgain = -EAGAIN                            // AVERROR(EAGAIN)
}

/// `AV_NOPTS_VALUE`, which Swift cannot import either.
let noTimestamp = Int64.min

/// The limits that keep a hostile file from exhausting memory or time. A stream
/// header beyond them is a `.format` error; the decoders enforce them as well.
enum MediaLimits {
    /// Largest width or height accepted (16K video).
    static let maxSide = 16384
    /// Largest frame area: 8192², so that one RGB24 frame stays under 200 MB.
    static let maxPixels = 1 << 26
    /// Packets read in one pass before the file is declared runaway.
    static let maxPackets = 50_000_000
    /// Decoding errors skipped before a stream's first frame (a GOP of 10 s at 60 fps is 600).
    static let maxLeadingErrors = 1000
    /// Frames one packet may produce before the decoder is declared runaway.
    static let maxFramesPerPacket = 4096
    /// Interleaved float values of decoded audio (2 GiB): 4.6 hours of 16 kHz stereo.
    static let maxAudioValues = 1 << 29
    /// Most channels accepted in an audio stream.
    static let maxChannels = 256
    /// Decoder threads: frame threading holds a frame and a context per
    /// thread, so more threads cost memory (issue 4 bounds a 10-minute 1080p
    /// prediction to ~250 MB) for little gain: 4 decode 1080p H.264 at
    /// hundreds of frames a second.
    static let maxDecoderThreads: Int32 = 4

    /// Sample rates of audio files liberi reads (`Limits.sampleRates`).
    static func checkRate(_ rate: Int, path: String) throws {
        guard Limits.sampleRates.contains(rate) else {
            throw ERIError(.unsupported, "\(path): audio at \(rate) Hz; liberi reads audio at \(Limits.sampleRates.lowerBound)…"
                           + "\(Limits.sampleRates.upperBound) Hz")
        }
    }

    /// Decoded float samples get the check PCM in memory gets (`InputLimits.sampleMagnitude`):
    /// NaN, ±∞ or |x| > 1.5 is not PCM in [-1, 1] but a damaged or misread file (.decode).
    /// `first`: the index of the buffer's first sample in the file, for the message.
    static func checkSamples(_ values: UnsafeBufferPointer<Float>, channels: Int, first: Int, path: String) throws {
        let limit = Limits.sampleMagnitude
        var i = 0
        for x in values {
            if !(abs(x) <= limit) {
                throw ERIError(.decode, "\(path): audio sample \(first + i / channels) of channel \(i % channels) is \(x), "
                               + (x.isFinite ? "outside ±\(limit): not PCM in [-1, 1] (a damaged or misread file)" : "not a number: the file is damaged"))
            }
            i += 1
        }
    }

    static func sizeIsValid(width: Int, height: Int) -> Bool {
        width >= 1 && height >= 1 && width <= maxSide && height <= maxSide && width * height <= maxPixels
    }
}

/// FFmpeg's text for an error code (`av_err2str`, a macro Swift cannot import).
func avErrorString(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    return buffer.withUnsafeMutableBufferPointer { buf -> String in
        if av_strerror(code, buf.baseAddress, buf.count) < 0 { return "error \(code)" }
        return String(cString: buf.baseAddress!)
    }
}

/// The name FFmpeg gives a codec id, for messages.
func codecName(_ id: AVCodecID) -> String {
    guard let name = avcodec_get_name(id) else { return "unknown" }
    return String(cString: name)
}

/// liberi never prints (ERICore `Log`): FFmpeg's warnings and errors go to the
/// log handler instead of stderr. This replaces FFmpeg's process-wide log
/// callback once, on first use of ERIMedia. Errors logged by a watched
/// demuxer are also kept for it (see `FFmpegErrors`).
let ffmpegLogging: Void = {
    av_log_set_level(AV_LOG_WARNING)
    av_log_set_callback { context, level, format, arguments in
        guard level <= AV_LOG_WARNING, let format, let arguments else { return }
        var line = [CChar](repeating: 0, count: 1024)
        var printPrefix: Int32 = 1
        let text = line.withUnsafeMutableBufferPointer { buf -> String in
            _ = av_log_format_line2(context, level, format, arguments, buf.baseAddress, Int32(buf.count), &printPrefix)
            return String(cString: buf.baseAddress!)
        }
        var trimmed = Substring(text)
        while let last = trimmed.last, last == "\n" || last == " " { trimmed.removeLast() }
        guard !trimmed.isEmpty else { return }
        if level <= AV_LOG_ERROR {
            // The message without its "[demuxer @ 0x…] " prefix.
            var message = trimmed
            if message.hasPrefix("["), let close = message.firstIndex(of: "]") {
                message = message[message.index(after: close)...].drop { $0 == " " }
            }
            FFmpegErrors.record(String(message), for: context)
        }
        Log.emit(level <= AV_LOG_ERROR ? .error : .warning, "ffmpeg: \(trimmed)")
    }
}()

/// The first error FFmpeg logged for each watched context or thread. Some
/// damage is only ever logged: a Matroska file that ends mid-cluster reads
/// as a normal end of file, with "File ended prematurely" in the log. And
/// while a file is being opened, the reason it cannot be ("Picture size 0x0
/// is invalid") may come from any helper context on the opening thread.
enum FFmpegErrors {
    private static let lock = Lock()
    nonisolated(unsafe) private static var messages: [UInt: String] = [:]

    static func key(_ context: UnsafeMutableRawPointer) -> UInt { UInt(bitPattern: context) }
    static var currentThread: UInt { UInt(pthread_self()) }

    /// Starts keeping the errors logged for `key`, forgetting earlier ones.
    static func watch(_ key: UInt) {
        lock.withLock { messages[key] = "" }
    }

    static func unwatch(_ key: UInt) {
        lock.withLock { _ = messages.removeValue(forKey: key) }
    }

    /// The first error logged for `key` since `watch`, if any.
    static func first(for key: UInt) -> String? {
        lock.withLock {
            guard let message = messages[key], !message.isEmpty else { return nil }
            return message
        }
    }

    static func record(_ message: String, for context: UnsafeMutableRawPointer?) {
        lock.withLock {
            guard !messages.isEmpty else { return }
            for key in [context.map(key) ?? 0, currentThread] {
                if let existing = messages[key], existing.isEmpty { messages[key] = message }
            }
        }
    }
}

/// Checks that `path` names a readable regular file, so that the common
/// failures get precise `.io` messages rather than FFmpeg's generic ones, and
/// returns its size in bytes. O_NONBLOCK keeps a FIFO from blocking the open.
func checkMediaFile(_ path: String) throws -> Int {
    guard !path.isEmpty else { throw ERIError(.invalidArgument, "empty media path") }
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else {
        let code = errno
        switch code {
        case ENOENT, ENOTDIR: throw ERIError(.io, "\(path): no such file")
        case EACCES, EPERM: throw ERIError(.io, "\(path): permission denied")
        case EISDIR: throw ERIError(.io, "\(path): is a directory")
        default: throw ERIError(.io, "\(path): cannot open: \(MappedFile.describe(code))")
        }
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw ERIError(.io, "\(path): cannot stat: \(MappedFile.describe(errno))") }
    switch info.st_mode & S_IFMT {
    case S_IFREG: return Int(info.st_size)
    case S_IFDIR: throw ERIError(.io, "\(path): is a directory")
    default: throw ERIError(.io, "\(path): is not a regular file")
    }
}

/// The rotation a display matrix asks for, decided exactly as the ffmpeg 5.1
/// command line does with `-autorotate` (its default): `transpose`, `hflip`
/// and `vflip` for multiples of 90°, nothing for other angles (the CLI's
/// `rotate` filter there is not mimicked; such frames stay as decoded).
enum Orientation: Equatable {
    case upright
    case clockwise              // transpose=clock
    case counterClockwise       // transpose=cclock
    case transposed             // transpose=cclock_flip: rows become columns
    case antiTransposed         // transpose=clock_flip
    case mirrored               // hflip
    case flipped                // vflip
    case upsideDown             // hflip + vflip: 180°

    /// `matrix`: the 3×3 display matrix of FFmpeg's side data (16.16 fixed point).
    init(displayMatrix matrix: UnsafePointer<Int32>?) {
        guard let matrix else {
            self = .upright
            return
        }
        // get_rotation() of ffmpeg 5.1's cmdutils.c.
        var theta = -av_display_rotation_get(matrix).rounded()
        theta -= 360 * (theta / 360 + 0.9 / 360).rounded(.down)
        if abs(theta - 90) < 1 {
            self = matrix[3] > 0 ? .transposed : .clockwise
        } else if abs(theta - 180) < 1 {
            switch (matrix[0] < 0, matrix[4] < 0) {
            case (true, true): self = .upsideDown
            case (true, false): self = .mirrored
            case (false, true): self = .flipped
            case (false, false): self = .upright
            }
        } else if abs(theta - 270) < 1 {
            self = matrix[3] < 0 ? .antiTransposed : .counterClockwise
        } else if abs(theta) > 1 {
            Log.emit(.warning, "display rotation of \(theta)° is not a multiple of 90°; frames are left unrotated")
            self = .upright
        } else {
            self = matrix[4] < 0 ? .flipped : .upright
        }
    }

    /// Whether width and height trade places.
    var swapsSides: Bool {
        switch self {
        case .clockwise, .counterClockwise, .transposed, .antiTransposed: return true
        default: return false
        }
    }
}

/// The display matrix a stream's header carries, if any (9 × Int32).
func streamDisplayMatrix(_ stream: UnsafeMutablePointer<AVStream>) -> UnsafePointer<Int32>? {
    var size: Int = 0
    guard let data = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size), size >= 36 else { return nil }
    return UnsafeRawPointer(data).assumingMemoryBound(to: Int32.self)
}

/// The display matrix a decoded frame carries, if any.
func frameDisplayMatrix(_ frame: UnsafePointer<AVFrame>) -> UnsafePointer<Int32>? {
    guard let sideData = av_frame_get_side_data(frame, AV_FRAME_DATA_DISPLAYMATRIX),
          sideData.pointee.size >= 36, let data = sideData.pointee.data else { return nil }
    return UnsafeRawPointer(data).assumingMemoryBound(to: Int32.self)
}

/// `av_q2d` (an inline function Swift cannot see through the shim).
func seconds(_ ticks: Int64, _ base: AVRational) -> Double? {
    guard ticks != noTimestamp, base.den != 0 else { return nil }
    return Double(ticks) * Double(base.num) / Double(base.den)
}
