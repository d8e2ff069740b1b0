import CFFmpeg
import ERICore

/// Converts decoded audio of any sample format, rate and layout to
/// interleaved float32 at one rate with swresample, keeping the channels (the
/// caller averages them, SPEC §4.2 step 1). The options are swresample's
/// defaults, which is what the ffmpeg command line's `-ar RATE` uses, so the
/// two agree sample for sample.
///
/// The output layout is the first input's. Should the input change midway
/// (format, rate or layout), the old resampler is drained and a new one maps
/// the new input onto the same output layout, as the CLI's filter graph does.
final class Resampler {
    let path: String
    let outputRate: Int
    /// Whether the output is the channels' mean (SPEC §4.2 step 1), mixed as
    /// each piece comes out of swresample, so memory holds one channel.
    let mono: Bool
    /// Most output values kept: `Limits.maxAudioSamples` mono samples, or
    /// `MediaLimits.maxAudioValues` interleaved values.
    var limit: Int { mono ? Limits.maxAudioSamples : MediaLimits.maxAudioValues }
    private var context: OpaquePointer? = nil
    private var inputFormat: Int32 = -1
    private var inputRate: Int32 = 0
    private var inputLayout = AVChannelLayout()
    private var outputLayout = AVChannelLayout()
    private var configured = false
    private var scratch: UnsafeMutablePointer<Float>? = nil
    private var scratchCount = 0
    /// Interleaved output: `channels` values per sample.
    private(set) var samples: [Float] = []

    init(path: String, outputRate: Int, mono: Bool = false) {
        _ = ffmpegLogging
        self.path = path
        self.outputRate = outputRate
        self.mono = mono
    }

    deinit {
        swr_free(&context)
        av_channel_layout_uninit(&inputLayout)
        av_channel_layout_uninit(&outputLayout)
        scratch?.deallocate()
    }

    /// Channels of swresample's output (those of the first input).
    var channels: Int { Int(outputLayout.nb_channels) }
    /// Values per sample of `samples`.
    var outputChannels: Int { mono ? 1 : channels }

    /// Reserves room for about `seconds` of output, so that a long file's
    /// samples are not copied (and held twice) each time the array grows.
    /// Throws, before anything is decoded, when that is beyond `limit`.
    func reserve(seconds: Double) throws {
        guard configured, seconds.isFinite, seconds > 0 else { return }
        let values = seconds * Double(outputRate) * Double(outputChannels)
        guard values <= Double(limit) * 1.01 + 65536 else { throw tooLong(seconds: seconds) }
        samples.reserveCapacity(Int(min(values * 1.01 + 8192, Double(limit))))
    }

    func tooLong(seconds: Double?) -> ERIError {
        let length = seconds.map { "\(Double(Int($0 * 10)) / 10) s of audio" } ?? "the audio"
        return mono ? ERIError(.unsupported, "\(path): \(length) is longer than one prediction reads: \(Limits.audioLimitText(rate: outputRate))")
                    : ERIError(.unsupported, "\(path): audio longer than \(MediaLimits.maxAudioValues) samples")
    }

    /// Converts `count` samples per channel held in `data` (FFmpeg's layout for
    /// `format`: one plane per channel if planar, else one interleaved plane).
    func push(_ data: UnsafePointer<UnsafePointer<UInt8>?>?, count: Int, format: Int32, rate: Int32,
              layout: UnsafePointer<AVChannelLayout>) throws {
        guard count > 0 else { return }
        if !configured || format != inputFormat || rate != inputRate
            || av_channel_layout_compare(&inputLayout, layout) != 0 {
            try configure(format: format, rate: rate, layout: layout)
        }
        try convert(data, count: count)
    }

    /// Drains what the resampler still holds and returns the audio, or nil when
    /// no sample came out.
    func finish() throws -> DecodedAudio? {
        if configured { try drain() }
        guard configured, !samples.isEmpty else { return nil }
        return DecodedAudio(samples: samples, channels: outputChannels, sampleRate: outputRate)
    }

    private func configure(format: Int32, rate: Int32, layout: UnsafePointer<AVChannelLayout>) throws {
        guard rate > 0, layout.pointee.nb_channels > 0 else {
            throw ERIError(.format, "\(path): audio with \(layout.pointee.nb_channels) channels at \(rate) Hz")
        }
        guard layout.pointee.nb_channels <= MediaLimits.maxChannels else {
            throw ERIError(.format, "\(path): \(layout.pointee.nb_channels) audio channels (at most \(MediaLimits.maxChannels))")
        }
        try MediaLimits.checkRate(Int(rate), path: path)
        if configured {
            try drain()
            swr_free(&context)
        } else {
            guard av_channel_layout_copy(&outputLayout, layout) >= 0 else {
                throw ERIError(.outOfMemory, "\(path): cannot copy a channel layout")
            }
        }
        av_channel_layout_uninit(&inputLayout)
        guard av_channel_layout_copy(&inputLayout, layout) >= 0 else {
            throw ERIError(.outOfMemory, "\(path): cannot copy a channel layout")
        }
        inputFormat = format
        inputRate = rate
        configured = true
        var status = swr_alloc_set_opts2(&context, &outputLayout, AV_SAMPLE_FMT_FLT, Int32(outputRate),
                                         &inputLayout, AVSampleFormat(rawValue: format), rate, 0, nil)
        if status >= 0 { status = swr_init(context) }
        guard status >= 0 else {
            throw ERIError(.unsupported, "\(path): cannot resample \(layout.pointee.nb_channels)-channel audio at \(rate) Hz "
                + "to \(outputRate) Hz with \(outputLayout.nb_channels) channels: \(avErrorString(status))")
        }
    }

    private func convert(_ data: UnsafePointer<UnsafePointer<UInt8>?>?, count: Int) throws {
        let capacity = Int(swr_get_out_samples(context, Int32(clamping: count)))
        guard capacity >= 0 else { throw ERIError(.decode, "\(path): resampler error: \(avErrorString(Int32(capacity)))") }
        let needed = max(capacity, 1) * channels
        if scratchCount < needed {
            scratch?.deallocate()
            scratch = UnsafeMutablePointer<Float>.allocate(capacity: needed)
            scratchCount = needed
        }
        var planes: [UnsafeMutablePointer<UInt8>?] = [UnsafeMutableRawPointer(scratch!).assumingMemoryBound(to: UInt8.self)]
        let produced = planes.withUnsafeMutableBufferPointer { out in
            swr_convert(context, out.baseAddress, Int32(max(capacity, 1)),
                        UnsafeMutablePointer(mutating: data), Int32(clamping: count))
        }
        guard produced >= 0 else {
            throw ERIError(.decode, "\(path): cannot resample the audio: \(avErrorString(produced))")
        }
        let values = Int(produced) * channels
        guard samples.count + values / channels * outputChannels <= limit else { throw tooLong(seconds: nil) }
        let output = UnsafeBufferPointer(start: scratch, count: values)
        try MediaLimits.checkSamples(output, channels: channels, first: samples.count / outputChannels, path: path)
        if mono {
            samples.append(contentsOf: downmix(interleaved: output, channels: channels))
        } else {
            samples.append(contentsOf: output)
        }
    }

    private func drain() throws {
        // swr_convert with no input flushes; a few calls at most.
        for _ in 0..<64 {
            let before = samples.count
            try convert(nil, count: 0)
            if samples.count == before { return }
        }
    }
}

