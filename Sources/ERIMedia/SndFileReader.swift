import CFFmpeg
import CSndFile
import ERICore

/// Audio-only files through libsndfile (WAV, FLAC, OGG Vorbis/Opus, AIFF, CAF…).
/// libsndfile reads integer PCM as x / 2^(bits−1), exactly what FFmpeg's
/// decoders and swresample produce, and resampling goes through the same
/// swresample setup as the FFmpeg path. MPEG audio (MP3) is left to FFmpeg,
/// whose decoder trims the encoder delay as the ffmpeg command line does.
final class SndFileReader {
    let path: String
    private let handle: OpaquePointer
    private let info: SF_INFO

    /// Nil when libsndfile cannot read the file (or it is MPEG audio).
    init?(path: String) {
        var info = SF_INFO()
        guard let handle = sf_open(path, Int32(SFM_READ), &info) else { return nil }
        let major = Int(info.format) & Int(SF_FORMAT_TYPEMASK)
        if major == Int(SF_FORMAT_MPEG) {
            sf_close(handle)
            return nil
        }
        self.path = path
        self.handle = handle
        self.info = info
    }

    deinit { sf_close(handle) }

    var sampleRate: Int { Int(info.samplerate) }
    var channels: Int { Int(info.channels) }
    /// The frame count the header states (libsndfile's `frames`).
    var frameCount: Int { Int(info.frames) }

    /// Reads every sample, resampled to `rate` if it differs; nil when the
    /// file holds no samples.
    func read(rate: Int) throws -> DecodedAudio? {
        guard channels >= 1, channels <= MediaLimits.maxChannels, sampleRate >= 1 else {
            throw ERIError(.format, "\(path): audio with \(channels) channels at \(sampleRate) Hz")
        }
        let chunkFrames = 16384
        let chunk = UnsafeMutablePointer<Float>.allocate(capacity: chunkFrames * channels)
        defer { chunk.deallocate() }
        var direct: [Float] = []
        var resampler: Resampler? = nil
        var layout = AVChannelLayout()
        defer { av_channel_layout_uninit(&layout) }
        if rate == sampleRate {
            if frameCount > 0 { direct.reserveCapacity(min(frameCount, MediaLimits.maxAudioValues / channels) * channels) }
        } else {
            resampler = Resampler(path: path, outputRate: rate)
            av_channel_layout_default(&layout, Int32(channels))
        }
        var first = true
        while true {
            let got = Int(sf_readf_float(handle, chunk, sf_count_t(chunkFrames)))
            if got <= 0 { break }
            if let resampler {
                var planes: [UnsafePointer<UInt8>?] = [UnsafeRawPointer(chunk).assumingMemoryBound(to: UInt8.self)]
                try planes.withUnsafeMutableBufferPointer { input in
                    try resampler.push(input.baseAddress, count: got, format: AV_SAMPLE_FMT_FLT.rawValue,
                                       rate: Int32(sampleRate), layout: &layout)
                }
                if first { resampler.reserve(seconds: Double(frameCount) / Double(sampleRate)) }
            } else {
                guard direct.count + got * channels <= MediaLimits.maxAudioValues else {
                    throw ERIError(.unsupported, "\(path): audio longer than \(MediaLimits.maxAudioValues) samples")
                }
                direct.append(contentsOf: UnsafeBufferPointer(start: chunk, count: got * channels))
            }
            first = false
        }
        let error = sf_error(handle)
        if error != 0 {
            throw ERIError(.decode, "\(path): cannot read the audio: \(String(cString: sf_error_number(error)))")
        }
        if let resampler { return try resampler.finish() }
        return direct.isEmpty ? nil : DecodedAudio(samples: direct, channels: channels, sampleRate: rate)
    }
}
