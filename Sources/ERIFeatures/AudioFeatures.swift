import CFFmpeg
import ERICore

/// Resamples a mono signal from `from` Hz to `to` Hz with libswresample's
/// default filter (what the ffmpeg command line's `-ar` and ERIMedia use).
///
/// The output has exactly round(count · to / from) samples (half away from
/// zero), time-aligned with the input (output sample 0 is at input time 0).
/// That is what swresample gives when it is flushed at the end of the signal;
/// for a signal shorter than its filter, where the flush yields nothing, the
/// signal is followed by zeros instead, so that even a few samples give the
/// proportional count. Throws `invalidArgument` for rates outside
/// `StreamResampler.rates`, and before any work when the output would exceed
/// `Limits.maxAudioSamples`.
public func resample(_ mono: [Float], from: Int, to: Int) throws -> [Float] {
    try mono.withUnsafeBufferPointer { try resample(interleaved: $0, channels: 1, from: from, to: to) }
}

/// SPEC §4.2 steps 1 and the resampling: the channel mean of `interleaved`
/// (frames of `channels` values) resampled from `from` Hz to `to` Hz, as
/// `resample(downmix(…), from:to:)` gives it, but mixed a piece at a time as
/// it is fed to the resampler, so that memory holds the output alone.
public func resample(interleaved: UnsafeBufferPointer<Float>, channels: Int, from: Int, to: Int) throws -> [Float] {
    precondition(channels >= 1, "resample needs at least one channel")
    guard StreamResampler.rates.contains(from), StreamResampler.rates.contains(to) else {
        throw ERIError.invalidArgument("resample: sample rates must be in \(StreamResampler.rates.lowerBound)…"
                                       + "\(StreamResampler.rates.upperBound) Hz (got \(from) → \(to))")
    }
    let frames = interleaved.count / channels
    // SPEC ambiguity: SPEC §4.2 only says "resample to sample_rate"; the length
    // round(len·to/from) and swresample's default filter are our choice.
    guard let expected = Limits.resampledCount(frames, from: from, to: to) else {
        throw ERIError.invalidArgument("resample: \(frames) samples at \(from) Hz would be more than \(Limits.audioLimitText(rate: to))")
    }
    if from == to || frames == 0 { return downmix(interleaved: interleaved, channels: channels) }
    let resampler = try StreamResampler(from: from, to: to)
    var out = [Float]()
    out.reserveCapacity(expected + 64)
    let piece = 1 << 16
    var start = 0
    while start < frames {
        let n = min(piece, frames - start)
        let part = UnsafeBufferPointer(rebasing: interleaved[(start * channels)..<((start + n) * channels)])
        if channels == 1 {
            try resampler.push(part, into: &out)
        } else {
            try downmix(interleaved: part, channels: channels).withUnsafeBufferPointer { try resampler.push($0, into: &out) }
        }
        start += n
    }
    try resampler.flush(into: &out)
    if out.count < expected {
        // A short signal: swresample only emits what its filter has fully seen.
        out = try swresample(downmix(interleaved: interleaved, channels: channels), zerosUntil: expected, from: from, to: to)
    }
    if out.count > expected { out.removeLast(out.count - expected) }
    if out.count < expected { out.append(contentsOf: repeatElement(0, count: expected - out.count)) }
    return out
}

/// One swresample pass over `mono` (a `StreamResampler` fed the whole
/// signal), then zeros until at least `target` samples came out.
private func swresample(_ mono: [Float], zerosUntil target: Int, from: Int, to: Int) throws -> [Float] {
    let resampler = try StreamResampler(from: from, to: to)
    var result = [Float]()
    result.reserveCapacity(target + 1024)
    try mono.withUnsafeBufferPointer { try resampler.push($0, into: &result) }
    // Zeros in steps of about the filter's half-length in input samples
    // (16 taps at the lower rate), until the output reaches `target`.
    let zeros = [Float](repeating: 0, count: 16 * ((from + to - 1) / to) + 16)
    var steps = 0
    while result.count < target && steps < 1000 {
        try zeros.withUnsafeBufferPointer { try resampler.push($0, into: &result) }
        steps += 1
    }
    return result
}

/// SPEC §4.2 steps 3–4: mean over non-overlapping groups of `pool` frames (the
/// last group may be shorter), T = ⌈T_a / pool⌉ steps; then, if T > `maxSteps`,
/// keep steps ⌊(j + 0.5) · T / maxSteps⌋, j < maxSteps. `mfcc` is T_a × n;
/// the result is T' × n with T' = min(T, maxSteps). Not normalised (step 5 is
/// the model's). `pool` and `maxSteps` must be at least 1.
public func pooledFeatures(_ mfcc: Tensor, pool: Int, maxSteps: Int) -> Tensor {
    precondition(mfcc.shape.count == 2, "pooledFeatures needs a T_a × n_mfcc tensor")
    precondition(pool >= 1 && maxSteps >= 1, "pool and maxSteps must be positive")
    let frames = mfcc.shape[0], n = mfcc.shape[1]
    let steps = (frames + pool - 1) / pool
    let kept = cappedIndices(steps: steps, maxSteps: maxSteps)
    var out = [Float](repeating: 0, count: kept.count * n)
    var sum = [Double](repeating: 0, count: n)
    mfcc.data.withUnsafeBufferPointer { m in
        for (row, step) in kept.enumerated() {
            let begin = step * pool, end = min(begin + pool, frames)
            for c in 0..<n { sum[c] = 0 }
            for t in begin..<end {
                for c in 0..<n { sum[c] += Double(m[t * n + c]) }
            }
            let count = Double(end - begin)
            for c in 0..<n { out[row * n + c] = Float(sum[c] / count) }
        }
    }
    return Tensor(shape: [kept.count, n], data: out)
}

/// The audio half of SPEC §4.2 up to, not including, normalisation: channel
/// mean, resampling to the model's rate, MFCC, pooling and capping. It holds
/// an `MFCCExtractor`, so it is cheap to copy and safe to use from many
/// threads at once.
public struct AudioPreprocessor: Sendable {
    /// The audio section this preprocessor implements.
    public let config: ERIConfig.Audio
    /// The MFCC stage (window, mel bank and DCT, built once).
    public let extractor: MFCCExtractor

    /// Builds the MFCC tables for `config`; throws as `MFCCExtractor.init`.
    public init(config: ERIConfig.Audio) throws {
        self.config = config
        extractor = try MFCCExtractor(config: config)
    }

    /// Turns PCM into the T × n_mfcc pooled and capped MFCC steps
    /// (T ≤ `max_steps`, SPEC §4.2 steps 1–4), not yet normalised by
    /// `audio.norm` (the network does that). Throws `invalidArgument` for no
    /// samples, for audio longer than `Limits.maxAudioSamples` at the model's
    /// rate (before anything is resampled), or for fewer than one analysis
    /// window (`win_length`) at the model's rate.
    ///
    /// Memory holds the mono signal at the model's rate and no more: the
    /// channels are mixed a piece at a time as they are resampled, and only
    /// the MFCC frames of the pooled steps that are kept are computed (a
    /// frame's values do not depend on which others are computed with it).
    public func features(_ pcm: PCMView) throws -> Tensor {
        guard !pcm.samples.isEmpty else { throw ERIError.invalidArgument("audio: no samples") }
        let rate = config.sampleRate
        guard Limits.resampledCount(pcm.frameCount, from: pcm.sampleRate, to: rate) != nil else {
            let seconds = Double(pcm.frameCount) / Double(pcm.sampleRate)
            throw ERIError.invalidArgument("audio: \(Double(Int(seconds * 10)) / 10) s at \(pcm.sampleRate) Hz is longer than one call reads: "
                                           + Limits.audioLimitText(rate: rate))
        }
        if pcm.channels == 1 && pcm.sampleRate == rate { return try features(mono: pcm.samples) }   // read in place
        let mono = pcm.sampleRate == rate ? downmix(interleaved: pcm.samples, channels: pcm.channels)  // SPEC §4.2 step 1
                                          : try resample(interleaved: pcm.samples, channels: pcm.channels, from: pcm.sampleRate, to: rate)
        return try mono.withUnsafeBufferPointer { try features(mono: $0) }
    }

    /// Whether `frames` samples at `rate` give `features` at least one analysis
    /// window at the model's rate (it refuses shorter audio). Audio too long
    /// for one call counts as analysable here: `features` says why it is not.
    public func analyses(frames: Int, rate: Int) -> Bool {
        guard let n = Limits.resampledCount(frames, from: rate, to: config.sampleRate) else { return true }
        return n >= config.mfcc.winLength
    }

    /// Steps 2–4 on a mono signal at the model's rate.
    func features(mono: UnsafeBufferPointer<Float>) throws -> Tensor {
        guard analyses(frames: mono.count, rate: config.sampleRate) else {
            let ms = { (n: Int) in Double(Int(Double(n) / Double(config.sampleRate) * 10000)) / 10 }
            throw ERIError.invalidArgument("audio: \(ms(mono.count)) ms is shorter than one analysis window (\(config.mfcc.winLength) samples, "
                                           + "\(ms(config.mfcc.winLength)) ms at \(config.sampleRate) Hz)")
        }
        let pool = config.pool, maxSteps = config.maxSteps
        guard let frames = extractor.frameCount(samples: mono.count) else {
            throw ERIError.invalidArgument("MFCC: \(mono.count) samples give no frame with an odd n_fft of \(extractor.nFFT)")
        }
        let steps = (frames + pool - 1) / pool
        if steps <= maxSteps {
            let mfcc = try extractor.compute(mono)                                      // (T_a, n_mfcc), step 2
            return pooledFeatures(mfcc, pool: pool, maxSteps: maxSteps)                // (T, n_mfcc), steps 3–4
        }
        // Step 4 keeps maxSteps of the steps: only their frames are computed.
        let n = config.mfcc.nMFCC
        let kept = cappedIndices(steps: steps, maxSteps: maxSteps)
        var out = [Float](repeating: 0, count: kept.count * n)
        for (row, step) in kept.enumerated() {
            let range = (step * pool)..<min(step * pool + pool, frames)
            let mfcc = try extractor.compute(mono, frames: range, signalStart: 0, signalLength: mono.count)
            let mean = pooledFeatures(mfcc, pool: pool, maxSteps: 1)                    // the one step: its frames' mean
            out.replaceSubrange((row * n)..<((row + 1) * n), with: mean.data)
        }
        return Tensor(shape: [kept.count, n], data: out)
    }

    /// Interleaved floats in memory: validates them as a `PCMView`, then `features(_:)`.
    public func features(interleaved: [Float], sampleRate: Int, channels: Int) throws -> Tensor {
        try interleaved.withUnsafeBufferPointer { try features(PCMView(samples: $0, sampleRate: sampleRate, channels: channels)) }
    }
}
