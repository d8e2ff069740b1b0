import CFFmpeg
import CSndFile
import ERICore

#if canImport(Glibc)
import Glibc
#endif

/// Audio-only files through libsndfile (WAV, FLAC, AIFF, CAF…).
/// libsndfile reads integer PCM as x / 2^(bits−1), exactly what FFmpeg's
/// decoders and swresample produce, and resampling goes through the same
/// swresample setup as the FFmpeg path. MPEG audio (MP3) is left to FFmpeg,
/// whose decoder trims the encoder delay as the ffmpeg command line does, and
/// so is Ogg (Vorbis, Opus, FLAC in Ogg): libsndfile 1.2's Ogg/Vorbis reader
/// leaks about 6 KB on every damaged file (inside libvorbis), so an Ogg file
/// never reaches it; FFmpeg's own decoders read it as the command line does.
final class SndFileReader {
    let path: String
    private let handle: OpaquePointer
    private let info: SF_INFO

    /// Nil when libsndfile cannot read the file, or it is MPEG audio or Ogg.
    init?(path: String) {
        if SndFileReader.isOgg(path) { return nil }
        var info = SF_INFO()
        guard let handle = sf_open(path, Int32(SFM_READ), &info) else { return nil }
        let major = Int(info.format) & Int(SF_FORMAT_TYPEMASK)
        if major == Int(SF_FORMAT_MPEG) || major == Int(SF_FORMAT_OGG) {
            sf_close(handle)
            return nil
        }
        self.path = path
        self.handle = handle
        self.info = info
    }

    deinit { sf_close(handle) }

    /// Whether the file starts with an Ogg page ("OggS"), checked without libsndfile.
    static func isOgg(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        let n = magic.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4) }
        return n == 4 && magic == Array("OggS".utf8)
    }

    var sampleRate: Int { Int(info.samplerate) }
    var channels: Int { Int(info.channels) }
    /// The frame count the header states (libsndfile's `frames`).
    var frameCount: Int { Int(info.frames) }

    /// Reads every sample, resampled to `rate` if it differs (and mixed to
    /// mono with `mono`, as `decodeMedia` says); nil when the file holds no
    /// samples. A length beyond the limit that the header states is refused
    /// before anything is read.
    func read(rate: Int, mono: Bool = false) throws -> DecodedAudio? {
        guard channels >= 1, channels <= MediaLimits.maxChannels else {
            throw ERIError(.format, "\(path): audio with \(channels) channels at \(sampleRate) Hz")
        }
        try MediaLimits.checkRate(sampleRate, path: path)
        let chunkFrames = 16384
        let chunk = UnsafeMutablePointer<Float>.allocate(capacity: chunkFrames * channels)
        defer { chunk.deallocate() }
        var direct: [Float] = []
        var resampler: Resampler? = nil
        var layout = AVChannelLayout()
        defer { av_channel_layout_uninit(&layout) }
        let width = mono ? 1 : channels
        let capacity = mono ? Limits.maxAudioSamples : MediaLimits.maxAudioValues
        func tooLong() -> ERIError {
            let seconds = Double(frameCount) / Double(sampleRate)
            return mono ? ERIError(.unsupported, "\(path): \(Double(Int(seconds * 10)) / 10) s of audio is longer than one prediction reads: "
                                   + Limits.audioLimitText(rate: rate))
                        : ERIError(.unsupported, "\(path): audio longer than \(MediaLimits.maxAudioValues) samples")
        }
        // The header's length, at the output rate, before anything is read.
        if frameCount > 0, Double(frameCount) * Double(rate) / Double(sampleRate) * Double(width) > Double(capacity) + 65536 {
            throw tooLong()
        }
        if rate == sampleRate {
            if frameCount > 0 { direct.reserveCapacity(min(frameCount, capacity / width) * width) }
        } else {
            resampler = Resampler(path: path, outputRate: rate, mono: mono)
            av_channel_layout_default(&layout, Int32(channels))
        }
        var first = true
        var read = 0
        while true {
            let got = Int(sf_readf_float(handle, chunk, sf_count_t(chunkFrames)))
            if got <= 0 { break }
            if let resampler {
                var planes: [UnsafePointer<UInt8>?] = [UnsafeRawPointer(chunk).assumingMemoryBound(to: UInt8.self)]
                try planes.withUnsafeMutableBufferPointer { input in
                    try resampler.push(input.baseAddress, count: got, format: AV_SAMPLE_FMT_FLT.rawValue,
                                       rate: Int32(sampleRate), layout: &layout)
                }
                if first { try resampler.reserve(seconds: Double(frameCount) / Double(sampleRate)) }
            } else {
                guard direct.count + got * width <= capacity else { throw tooLong() }
                let values = UnsafeBufferPointer(start: chunk, count: got * channels)
                try MediaLimits.checkSamples(values, channels: channels, first: read, path: path)
                if mono {
                    direct.append(contentsOf: downmix(interleaved: values, channels: channels))
                } else {
                    direct.append(contentsOf: values)
                }
            }
            read += got
            first = false
        }
        let error = sf_error(handle)
        if error != 0 {
            throw ERIError(.decode, "\(path): cannot read the audio: \(String(cString: sf_error_number(error)))")
        }
        if let resampler { return try resampler.finish() }
        return direct.isEmpty ? nil : DecodedAudio(samples: direct, channels: width, sampleRate: rate)
    }
}
