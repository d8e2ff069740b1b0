import CFFmpeg
import ERICore

/// SPEC §4.2 step 1: the mono signal is the mean of the channels. `interleaved`
/// holds frames of `channels` samples; a trailing incomplete frame is ignored.
/// `channels` must be at least 1 (a programmer error otherwise; the checked
/// entry point is `AudioPreprocessor.features`).
public func downmix(interleaved: UnsafeBufferPointer<Float>, channels: Int) -> [Float] {
    precondition(channels >= 1, "downmix needs at least one channel")
    if channels == 1 { return Array(interleaved) }
    let frames = interleaved.count / channels
    guard frames > 0, let base = interleaved.baseAddress else { return [] }
    let scale = Float(channels)
    return [Float](unsafeUninitializedCapacity: frames) { out, initialized in
        // One pass over the interleaved samples on raw pointers: this runs over
        // every sample of every clip.
        for t in 0..<frames {
            let frame = base + t * channels
            var sum: Float = 0
            for c in 0..<channels { sum += frame[c] }
            out[t] = sum / scale
        }
        initialized = frames
    }
}

/// Resamples a mono signal from `from` Hz to `to` Hz with libswresample's
/// default filter (what the ffmpeg command line's `-ar` and ERIMedia use).
///
/// The output has exactly round(count · to / from) samples (half away from
/// zero), time-aligned with the input (output sample 0 is at input time 0).
/// That is what swresample gives when it is flushed at the end of the signal;
/// for a signal shorter than its filter, where the flush yields nothing, the
/// signal is followed by zeros instead, so that even a few samples give the
/// proportional count. Throws `invalidArgument` for rates outside 1…768000.
public func resample(_ mono: [Float], from: Int, to: Int) throws -> [Float] {
    guard (1...768_000).contains(from), (1...768_000).contains(to) else {
        throw ERIError.invalidArgument("resample: sample rates must be in 1…768000 Hz (got \(from) → \(to))")
    }
    if from == to || mono.isEmpty { return mono }
    guard mono.count <= 1 << 40 else { throw ERIError.invalidArgument("resample: \(mono.count) samples is absurd") }
    // SPEC ambiguity: SPEC §4.2 only says "resample to sample_rate"; the length
    // round(len·to/from) and swresample's default filter are our choice.
    let expected = (mono.count * to + from / 2) / from  // < 2^60: no overflow
    guard expected <= 1 << 32 else {
        throw ERIError.invalidArgument("resample: \(mono.count) samples at \(from) Hz would give \(expected) samples at \(to) Hz")
    }
    var out = try swresample(mono, zerosUntil: nil, from: from, to: to)
    if out.count < expected {
        // A short signal: swresample only emits what its filter has fully seen.
        out = try swresample(mono, zerosUntil: expected, from: from, to: to)
    }
    if out.count > expected { out.removeLast(out.count - expected) }
    if out.count < expected { out.append(contentsOf: repeatElement(0, count: expected - out.count)) }
    return out
}

/// One swresample pass over `mono` (a `StreamResampler` fed the whole
/// signal), then either a flush (`target` nil) or zeros until at least
/// `target` samples came out.
private func swresample(_ mono: [Float], zerosUntil target: Int?, from: Int, to: Int) throws -> [Float] {
    let resampler = try StreamResampler(from: from, to: to)
    var result = [Float]()
    result.reserveCapacity(target ?? Int(Double(mono.count) * Double(to) / Double(from)) + 1024)
    try mono.withUnsafeBufferPointer { try resampler.push($0, into: &result) }
    if let target {
        // Zeros in steps of about the filter's half-length in input samples
        // (16 taps at the lower rate), until the output reaches `target`.
        let zeros = [Float](repeating: 0, count: 16 * ((from + to - 1) / to) + 16)
        var steps = 0
        while result.count < target && steps < 1000 {
            try zeros.withUnsafeBufferPointer { try resampler.push($0, into: &result) }
            steps += 1
        }
    } else {
        try resampler.flush(into: &result)
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

/// SPEC §4.2 step 4 (and §4.1 step 1): ⌊(j + 0.5) · T / maxSteps⌋ in exact
/// integer arithmetic, ((2j + 1) · T) / (2 · maxSteps); all of 0…T−1 when T ≤ maxSteps.
func cappedIndices(steps: Int, maxSteps: Int) -> [Int] {
    if steps <= maxSteps { return Array(0..<steps) }
    return (0..<maxSteps).map { j in spreadIndex(j, available: steps, count: maxSteps) }
}

/// ⌊(j + 0.5) · n / f⌋ = ⌊(2j + 1) · n / (2f)⌋ without overflow for any Int inputs ≥ 0.
func spreadIndex(_ j: Int, available n: Int, count f: Int) -> Int {
    let product = (2 * j + 1).multipliedFullWidth(by: n)
    return (2 * f).dividingFullWidth(product).quotient
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

    /// Turns interleaved PCM of `channels` channels at `sampleRate` Hz into the
    /// T × n_mfcc pooled and capped MFCC steps (T ≤ `max_steps`), not yet
    /// normalised by `audio.norm` (the model does that). Throws
    /// `invalidArgument` for no samples, channels outside 1…8, a rate outside
    /// 1…768000 Hz, a sample count that is not a multiple of `channels`, and
    /// any NaN or infinite sample.
    public func features(interleaved: UnsafeBufferPointer<Float>, sampleRate: Int, channels: Int) throws -> Tensor {
        guard !interleaved.isEmpty else { throw ERIError.invalidArgument("audio: no samples") }
        try checkPCM(interleaved, sampleRate: sampleRate, channels: channels)
        var mono = downmix(interleaved: interleaved, channels: channels)             // SPEC §4.2 step 1
        if sampleRate != config.sampleRate {
            mono = try resample(mono, from: sampleRate, to: config.sampleRate)
        }
        let mfcc = try extractor.compute(mono)                                         // (T_a, n_mfcc), step 2
        return pooledFeatures(mfcc, pool: config.pool, maxSteps: config.maxSteps)     // (T, n_mfcc), steps 3–4
    }

    /// Array convenience for `features(interleaved:sampleRate:channels:)`.
    public func features(interleaved: [Float], sampleRate: Int, channels: Int) throws -> Tensor {
        try interleaved.withUnsafeBufferPointer { try features(interleaved: $0, sampleRate: sampleRate, channels: channels) }
    }
}

/// The checks every PCM input gets (SPEC §4.2 input): channels in 1…8, a rate
/// in 1…768000 Hz, whole frames of `channels` values, no NaN or infinity.
/// Throws `invalidArgument` naming the problem. An empty buffer passes.
public func checkPCM(_ interleaved: UnsafeBufferPointer<Float>, sampleRate: Int, channels: Int) throws {
    guard (1...8).contains(channels) else {
        throw ERIError.invalidArgument("audio: \(channels) channels is outside 1…8")
    }
    guard (1...768_000).contains(sampleRate) else {
        throw ERIError.invalidArgument("audio: sample rate \(sampleRate) Hz is outside 1…768000")
    }
    guard interleaved.count % channels == 0 else {
        throw ERIError.invalidArgument("audio: \(interleaved.count) interleaved values is not a multiple of \(channels) channels")
    }
    if let bad = firstNonFinite(interleaved) {
        throw ERIError.invalidArgument("audio: sample \(bad / channels) of channel \(bad % channels) is \(interleaved[bad]) (NaN or infinite)")
    }
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
