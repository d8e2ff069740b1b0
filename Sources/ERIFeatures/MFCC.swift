import ERICore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// MFCC extraction exactly as librosa 0.11 computes it with the arguments of
/// SPEC §4.2 step 2:
///
///     S = power_to_db(melspectrogram(y, sr, n_fft, hop_length, win_length,
///         window="hann", center=True, pad_mode="constant", power=2, n_mels,
///         fmin, fmax, htk=False, norm="slaney"), ref=1.0, amin=1e-10, top_db=None)
///     M = mfcc(S=S, n_mfcc, dct_type=2, norm="ortho").T      // T_a × n_mfcc
///
/// The window, the mel filter bank and the DCT matrix are built once, in
/// float64 as librosa does, and stored as float32. The extractor is immutable,
/// so one instance can serve any number of threads at once: every `compute`
/// call owns its FFT contexts and scratch.
public final class MFCCExtractor: Sendable {
    /// The parameters this extractor was built for.
    public let config: ERIConfig.Audio
    let nFFT: Int
    let hop: Int
    let nMels: Int
    let nMFCC: Int
    /// Number of rfft bins, n_fft/2 + 1.
    let bins: Int
    /// The periodic Hann window of `win_length` points; within the n_fft frame
    /// it starts at `windowOffset` (librosa's `pad_center`), zero elsewhere.
    let window: [Float]
    let windowOffset: Int
    /// The Slaney mel filter bank in sparse form: filter i has the weights
    /// `melWeights[melOffsets[i] ..< melOffsets[i + 1]]` for the bins from
    /// `melFirstBin[i]` on. Each bin feeds at most two filters, so this costs
    /// ~2·bins multiply-adds per frame where the dense product costs n_mels·bins
    /// (32× more for dbn-base).
    let melFirstBin: [Int]
    let melOffsets: [Int]
    let melWeights: [Float]
    /// The DCT-II (ortho) matrix transposed, n_mels × `paddedMFCC`, its columns
    /// padded with zeros to a multiple of 8 for SIMD8 rows. Kept in float64:
    /// the dB values share a large offset (−100 dB for silence), and a float32
    /// sum of n_mels such terms drifts by ~3e-4 for n_mels = 40 (SPEC §1 allows 1e-3).
    let dctTransposed: [Double]
    let paddedMFCC: Int
    let plan: SpectrumPlan

    /// Builds the tables for `config.mfcc` at `config.sampleRate`. Throws
    /// `invalidArgument` for parameters that cannot describe an MFCC, and
    /// `unsupported` for an FFT size libavutil cannot transform.
    public init(config: ERIConfig.Audio) throws {
        let m = config.mfcc
        guard config.sampleRate >= 1 else { throw ERIError.invalidArgument("MFCC: sample rate \(config.sampleRate) must be positive") }
        guard m.nFFT >= 2, m.nFFT <= 1 << 20 else { throw ERIError.invalidArgument("MFCC: n_fft \(m.nFFT) is outside 2…\(1 << 20)") }
        guard m.winLength >= 1, m.winLength <= m.nFFT else {
            throw ERIError.invalidArgument("MFCC: win_length \(m.winLength) must be in 1…n_fft (\(m.nFFT))")
        }
        guard m.hopLength >= 1 else { throw ERIError.invalidArgument("MFCC: hop_length \(m.hopLength) must be positive") }
        guard m.nMels >= 1, m.nMels <= 4096 else { throw ERIError.invalidArgument("MFCC: n_mels \(m.nMels) is outside 1…4096") }
        guard m.nMFCC >= 1, m.nMFCC <= m.nMels else {
            throw ERIError.invalidArgument("MFCC: n_mfcc \(m.nMFCC) must be in 1…n_mels (\(m.nMels))")
        }
        guard m.fmin.isFinite, m.fmax.isFinite, m.fmin >= 0, m.fmin < m.fmax else {
            throw ERIError.invalidArgument("MFCC: need 0 ≤ fmin < fmax (got \(m.fmin), \(m.fmax))")
        }
        self.config = config
        nFFT = m.nFFT
        hop = m.hopLength
        nMels = m.nMels
        nMFCC = m.nMFCC
        bins = m.nFFT / 2 + 1

        // scipy.signal.get_window("hann", win_length, fftbins=True): the periodic
        // Hann window 0.5 − 0.5·cos(2πk/N); librosa.util.pad_center then centres
        // it in n_fft with ⌊(n_fft − win_length)/2⌋ zeros on the left.
        window = (0..<m.winLength).map { k in
            Float(0.5 - 0.5 * cos(2 * Double.pi * Double(k) / Double(m.winLength)))
        }
        windowOffset = (m.nFFT - m.winLength) / 2

        let bank = MFCCExtractor.slaneyMelBank(sampleRate: Double(config.sampleRate), nFFT: m.nFFT, nMels: m.nMels,
                                               fmin: m.fmin, fmax: m.fmax)
        var firstBin = [Int](), offsets = [0], weights = [Float]()
        for i in 0..<m.nMels {
            let row = bank[(i * bins)..<((i + 1) * bins)]
            if let lo = row.firstIndex(where: { $0 != 0 }), let hi = row.lastIndex(where: { $0 != 0 }) {
                firstBin.append(lo - i * bins)
                weights.append(contentsOf: row[lo...hi].map { Float($0) })
            } else {
                firstBin.append(0)  // an empty filter: its mel power is 0, hence amin
            }
            offsets.append(weights.count)
        }
        melFirstBin = firstBin
        melOffsets = offsets
        melWeights = weights

        // scipy.fft.dct(type=2, norm="ortho") over the mel axis, first n_mfcc rows:
        // D[k, j] = s_k · cos(πk(2j + 1) / (2·n_mels)), s_0 = √(1/n_mels), s_k = √(2/n_mels).
        let padded = (m.nMFCC + 7) / 8 * 8
        var dct = [Double](repeating: 0, count: m.nMels * padded)
        let melCount = Double(m.nMels)
        for k in 0..<m.nMFCC {
            let s = k == 0 ? (1 / melCount).squareRoot() : (2 / melCount).squareRoot()
            for j in 0..<m.nMels {
                dct[j * padded + k] = s * cos(Double.pi * Double(k) * Double(2 * j + 1) / (2 * melCount))
            }
        }
        dctTransposed = dct
        paddedMFCC = padded
        plan = try SpectrumPlan.make(size: m.nFFT)
        _ = try SpectrumWorkspace(size: m.nFFT, plan: plan)  // fail here, not on the first clip, if av_tx refuses
    }

    /// Number of frames librosa's centred STFT gives for `length` samples: the
    /// signal is padded with ⌊n_fft/2⌋ zeros on both sides, so
    /// 1 + ⌊(length + 2⌊n_fft/2⌋ − n_fft) / hop⌋ frames, which is SPEC §4.2's
    /// 1 + ⌊length / hop⌋ for even n_fft. Nil where librosa has no frame at all.
    public func frameCount(samples length: Int) -> Int? {
        // SPEC ambiguity: SPEC §4.2 states 1 + ⌊len/hop⌋ frames, which is what
        // librosa gives for even n_fft only. For odd n_fft librosa pads (n_fft−1)/2
        // per side and gives 1 + ⌊(len − 1)/hop⌋ frames (none for len = 0, where it
        // raises); since §4.2 says "identical to librosa 0.11", we follow librosa.
        let padded = length + 2 * (nFFT / 2)
        guard length >= 0, padded >= nFFT else { return nil }
        return 1 + (padded - nFFT) / hop
    }

    /// Computes the T_a × n_mfcc MFCC matrix of a mono signal at
    /// `config.sampleRate` (SPEC §4.2 step 2). Any length works, including 0
    /// (one frame of silence, as librosa's zero padding gives), except that
    /// an odd n_fft has no frame for an empty signal: that throws
    /// `invalidArgument`, as librosa raises. Thread-safe.
    public func compute(_ mono: UnsafeBufferPointer<Float>) throws -> Tensor {
        guard let frames = frameCount(samples: mono.count) else {
            throw ERIError.invalidArgument("MFCC: \(mono.count) samples give no frame with an odd n_fft of \(nFFT) (librosa raises too)")
        }
        return try compute(mono, frames: 0..<frames, signalStart: 0, signalLength: mono.count)
    }

    /// The signal samples frame `t` reads: its window's span, clipped to the
    /// signal [0, `signalLength`). Frame t is centred on sample t·hop (librosa's
    /// center=True); its window starts ⌊n_fft/2⌋ − windowOffset samples earlier.
    /// Empty (lowerBound = upperBound) when the window lies wholly in the padding.
    public func sampleRange(frame t: Int, signalLength: Int) -> Range<Int> {
        let start = t * hop - nFFT / 2 + windowOffset
        let lo = min(max(0, start), signalLength), hi = max(lo, min(signalLength, start + window.count))
        return lo..<hi
    }

    /// Rows `frames` of the MFCC matrix of a signal of `signalLength` samples,
    /// given only the samples around them — for streaming, where the whole
    /// signal is never in memory at once.
    ///
    /// Frame t is centred on sample t·hop of the signal, which is zero outside
    /// [0, `signalLength`) (librosa's center=True, pad_mode="constant"), so
    /// the matrix has `frameCount(samples: signalLength)` rows. `mono` holds the
    /// signal's samples [`signalStart`, `signalStart` + mono.count); it must
    /// cover every sample the requested frames read (the union of
    /// `sampleRange(frame:signalLength:)` over `frames`) and lie within the
    /// signal. The result is frames.count × n_mfcc, bit-identical to those rows
    /// of `compute(_:)` on the whole signal: a frame's values depend only on its
    /// own samples and its index, never on which other frames are computed
    /// with it. `frames` may be empty (0 × n_mfcc).
    ///
    /// Throws `invalidArgument` when `frames` is not within
    /// 0 ..< frameCount(samples: signalLength), when `mono` does not lie within
    /// the signal or misses a sample the frames read, or when the signal has no
    /// frame at all (an odd n_fft and no samples, as librosa raises). Thread-safe.
    public func compute(_ mono: UnsafeBufferPointer<Float>, frames: Range<Int>, signalStart: Int,
                        signalLength: Int) throws -> Tensor {
        guard let total = frameCount(samples: signalLength) else {
            throw ERIError.invalidArgument("MFCC: \(signalLength) samples give no frame with an odd n_fft of \(nFFT) (librosa raises too)")
        }
        guard frames.lowerBound >= 0, frames.upperBound <= total else {
            throw ERIError.invalidArgument("MFCC: frames \(frames) are outside 0..<\(total) for \(signalLength) samples")
        }
        guard signalStart >= 0, signalStart <= signalLength - mono.count else {
            throw ERIError.invalidArgument("MFCC: samples \(signalStart)..<\(signalStart + mono.count) are outside the signal's 0..<\(signalLength)")
        }
        if let first = frames.first, let last = frames.last {
            let lo = sampleRange(frame: first, signalLength: signalLength).lowerBound
            let hi = sampleRange(frame: last, signalLength: signalLength).upperBound
            guard lo >= hi || (signalStart <= lo && hi <= signalStart + mono.count) else {
                throw ERIError.invalidArgument("MFCC: frames \(frames) read samples \(lo)..<\(hi), but only \(signalStart)..<\(signalStart + mono.count) were given")
            }
        }
        let count = frames.count
        let workspace = try SpectrumWorkspace(size: nFFT, plan: plan)
        var logMel = [Float](repeating: 0, count: count * nMels)  // (frames, n_mels)
        var power = [Float](repeating: 0, count: bins)

        // The frame loop runs on raw pointers: it touches every sample
        // n_fft/hop times, and bounds checks there would cost more than the FFT.
        logMel.withUnsafeMutableBufferPointer { logMelBuffer in
        power.withUnsafeMutableBufferPointer { powerBuffer in
        window.withUnsafeBufferPointer { windowBuffer in
        melWeights.withUnsafeBufferPointer { weights in
        melFirstBin.withUnsafeBufferPointer { firstBins in
        melOffsets.withUnsafeBufferPointer { offsets in
            let frame = workspace.input.pointer
            let w = windowBuffer.baseAddress!
            let p = powerBuffer.baseAddress!
            let offset = windowOffset
            for r in 0..<count {
                let t = frames.lowerBound + r
                // center=True, pad_mode="constant": frame t covers the padded signal's
                // samples t·hop … t·hop + n_fft − 1, i.e. the signal's from t·hop − ⌊n_fft/2⌋;
                // samples outside the signal are 0. Only the window's span is nonzero.
                let start = t * hop - nFFT / 2 + offset          // signal index of window point 0
                let span = sampleRange(frame: t, signalLength: signalLength)
                frame.update(repeating: 0, count: nFFT)
                if !span.isEmpty, let x = mono.baseAddress {
                    let dst = frame + offset, src = x + (span.lowerBound - signalStart)
                    for s in 0..<span.count {
                        let i = span.lowerBound - start + s
                        dst[i] = w[i] * src[s]
                    }
                }
                workspace.power(into: p)                        // |X|², n_fft/2 + 1 bins
                // mel = filters · power (sparse rows, see `melWeights`).
                let row = logMelBuffer.baseAddress! + r * nMels
                for i in 0..<nMels {
                    let bin = p + firstBins[i], begin = offsets[i], end = offsets[i + 1]
                    var sum: Float = 0
                    for j in begin..<end { sum += weights[j] * bin[j - begin] }
                    row[i] = sum
                }
            }
            // power_to_db(ref=1, amin=1e-10, top_db=None) = 10·log10(max(1e-10, mel)).
            for i in 0..<logMelBuffer.count {
                logMelBuffer[i] = 10 * log10(max(1e-10, logMelBuffer[i]))
            }
        }
        }
        }
        }
        }
        }
        return Tensor(shape: [count, nMFCC], data: dctRows(logMel, frames: count))
    }

    /// Array convenience for `compute(_:)`.
    public func compute(_ mono: [Float]) throws -> Tensor {
        try mono.withUnsafeBufferPointer { try compute($0) }
    }

    /// (T, n_mels) · Dᵀ (n_mels, n_mfcc) → (T, n_mfcc): a small GEMM, accumulated
    /// in float64 (see `dctTransposed`). Each frame's row accumulates n_mels
    /// rank-1 updates in SIMD8 blocks of the output; Dᵀ (20 KB for dbn-base)
    /// stays in L1 across frames.
    func dctRows(_ logMel: [Float], frames: Int) -> [Float] {
        var out = [Float](repeating: 0, count: frames * nMFCC)
        let blocks = paddedMFCC / 8
        out.withUnsafeMutableBufferPointer { outBuffer in
        logMel.withUnsafeBufferPointer { melBuffer in
        dctTransposed.withUnsafeBufferPointer { dctBuffer in
            let d = UnsafeRawPointer(dctBuffer.baseAddress!)
            let rowBytes = paddedMFCC * MemoryLayout<Double>.stride
            for t in 0..<frames {
                let row = melBuffer.baseAddress! + t * nMels
                let dst = outBuffer.baseAddress! + t * nMFCC
                for b in 0..<blocks {
                    var acc = SIMD8<Double>()
                    var column = d + b * 8 * MemoryLayout<Double>.stride
                    for j in 0..<nMels {
                        // `a + b * c`, not addingProduct: without -target-cpu that is a libm fma call.
                        acc = acc + SIMD8<Double>(repeating: Double(row[j])) * column.loadUnaligned(as: SIMD8<Double>.self)
                        column += rowBytes
                    }
                    for l in 0..<min(8, nMFCC - b * 8) { dst[b * 8 + l] = Float(acc[l]) }
                }
            }
        }
        }
        }
        return out
    }

    /// librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False,
    /// norm="slaney") in float64: triangles between consecutive Slaney mel
    /// points, each scaled to unit area (2 / (f_{i+2} − f_i)). n_mels × bins.
    static func slaneyMelBank(sampleRate: Double, nFFT: Int, nMels: Int, fmin: Double, fmax: Double) -> [Double] {
        let bins = nFFT / 2 + 1
        // np.fft.rfftfreq(n_fft, d=1/sr): k · 1/(n·d).
        let binHz = 1.0 / (Double(nFFT) * (1.0 / sampleRate))
        let fftFreqs = (0..<bins).map { Double($0) * binHz }
        // librosa.mel_frequencies(n_mels + 2, fmin, fmax): np.linspace in mel, then back to Hz.
        let minMel = hzToMel(fmin), maxMel = hzToMel(fmax)
        let count = nMels + 2
        let step = (maxMel - minMel) / Double(count - 1)
        var melHz = (0..<count).map { melToHz(Double($0) * step + minMel) }
        melHz[count - 1] = melToHz(maxMel)  // linspace sets its endpoint exactly
        var bank = [Double](repeating: 0, count: nMels * bins)
        for i in 0..<nMels {
            let lowerWidth = melHz[i + 1] - melHz[i], upperWidth = melHz[i + 2] - melHz[i + 1]
            let enorm = 2.0 / (melHz[i + 2] - melHz[i])
            for k in 0..<bins {
                let lower = -(melHz[i] - fftFreqs[k]) / lowerWidth   // −ramps[i] / fdiff[i]
                let upper = (melHz[i + 2] - fftFreqs[k]) / upperWidth // ramps[i + 2] / fdiff[i + 1]
                bank[i * bins + k] = max(0, min(lower, upper)) * enorm
            }
        }
        return bank
    }

    /// librosa.hz_to_mel(htk=False): linear below 1 kHz, logarithmic above (Slaney).
    static func hzToMel(_ hz: Double) -> Double {
        let fSp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fSp, logStep = log(6.4) / 27.0
        return hz >= minLogHz ? minLogMel + log(hz / minLogHz) / logStep : hz / fSp
    }

    /// librosa.mel_to_hz(htk=False), the inverse of `hzToMel`.
    static func melToHz(_ mel: Double) -> Double {
        let fSp = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / fSp, logStep = log(6.4) / 27.0
        return mel >= minLogMel ? minLogHz * exp(logStep * (mel - minLogMel)) : fSp * mel
    }
}
