import CFFmpeg
import ERICore

/// Mono resampling for a live stream: feed pieces, get the resampled signal
/// piece by piece. It is the same swresample filter as `resample(_:from:to:)`:
/// the concatenation of every `push` and the final `flush` is what
/// `resample` gives for the whole signal (time-aligned, output sample 0 at
/// input time 0), except for signals shorter than the filter, where the batch
/// function pads with zeros.
public final class StreamResampler {
    public let inputRate: Int
    public let outputRate: Int
    private var context: OpaquePointer?
    private var scratch: [Float] = []

    /// Rates either side may have: a model's (1 kHz and up) or an input's (`InputLimits.sampleRate`).
    public static let rates = 1000...768_000

    /// Throws `invalidArgument` for rates outside `rates`, `internal` if swresample refuses.
    public init(from: Int, to: Int) throws {
        guard StreamResampler.rates.contains(from), StreamResampler.rates.contains(to) else {
            throw ERIError.invalidArgument("resample: sample rates must be in \(StreamResampler.rates.lowerBound)…"
                                           + "\(StreamResampler.rates.upperBound) Hz (got \(from) → \(to))")
        }
        inputRate = from
        outputRate = to
        var inputLayout = AVChannelLayout(), outputLayout = AVChannelLayout()
        av_channel_layout_default(&inputLayout, 1)
        av_channel_layout_default(&outputLayout, 1)
        defer {
            av_channel_layout_uninit(&inputLayout)
            av_channel_layout_uninit(&outputLayout)
        }
        var status = swr_alloc_set_opts2(&context, &outputLayout, AV_SAMPLE_FMT_FLT, Int32(to),
                                         &inputLayout, AV_SAMPLE_FMT_FLT, Int32(from), 0, nil)
        if status >= 0 { status = swr_init(context) }
        guard status >= 0, context != nil else {
            swr_free(&context)
            throw ERIError(.internal, "resample: swresample cannot convert \(from) Hz to \(to) Hz (error \(status))")
        }
    }

    deinit { swr_free(&context) }

    /// Resamples the next `input.count` samples; appends what swresample emits to `output`.
    public func push(_ input: UnsafeBufferPointer<Float>, into output: inout [Float]) throws {
        // Pieces of at most about 2^20 output samples: the scratch stays a few MiB at any ratio,
        // and the Int32 counts far from overflow.
        let piece = max(256, min(1 << 20, (1 << 20) / max(1, (outputRate + inputRate - 1) / inputRate)))
        var offset = 0
        while offset < input.count {
            let count = min(piece, input.count - offset)
            try convert(input.baseAddress! + offset, count: count, into: &output)
            offset += count
        }
    }

    /// Emits what the filter still holds: the end of the signal. Push nothing
    /// after a flush; a new signal needs a new resampler.
    public func flush(into output: inout [Float]) throws {
        var calls = 0
        while try convert(nil, count: 0, into: &output) > 0 && calls < 64 { calls += 1 }
    }

    @discardableResult
    private func convert(_ input: UnsafePointer<Float>?, count: Int, into output: inout [Float]) throws -> Int {
        let capacity = max(Int(swr_get_out_samples(context, Int32(count))), 0) + 16
        if scratch.count < capacity { scratch = [Float](repeating: 0, count: capacity) }
        let produced: Int32 = scratch.withUnsafeMutableBufferPointer { buffer in
            var outPlane: UnsafeMutablePointer<UInt8>? = UnsafeMutableRawPointer(buffer.baseAddress!)
                .assumingMemoryBound(to: UInt8.self)
            var inPlane: UnsafePointer<UInt8>? = input.map { UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self) }
            return withUnsafeMutablePointer(to: &outPlane) { outPlanes in
                withUnsafeMutablePointer(to: &inPlane) { inPlanes in
                    swr_convert(context, outPlanes, Int32(capacity), input == nil ? nil : inPlanes, Int32(count))
                }
            }
        }
        guard produced >= 0 else { throw ERIError(.internal, "resample: swresample failed (error \(produced))") }
        output.append(contentsOf: scratch[0..<Int(produced)])
        return Int(produced)
    }
}
