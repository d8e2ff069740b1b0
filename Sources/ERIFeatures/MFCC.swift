import CERISupport
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
/// float64 as librosa does, and stored as float32. For a power-of-two n_fft
/// (the presets' 512) they go to CERISupport's mfcc.c (`lanes`), which runs
/// eight frames a vector through the whole chain with its own FFT. Other
/// sizes go through in blocks of `dctBlock`: per frame the window and a packed real FFT
/// (`SpectrumPlan`), then per block the banded mel bank and a vectorised
/// log10 across the block's frames, and the DCT as one sgemm. The extractor is immutable, so one instance can serve
/// any number of threads at once: every `compute` call owns its FFT contexts
/// and scratch.
public final class MFCCExtractor: Sendable {
    /// The parameters this extractor was built for.
    public let config: ERIConfig.Audio
    let nFFT: Int, hop: Int, nMels: Int, nMFCC: Int
    /// Number of rfft bins, n_fft/2 + 1.
    let bins: Int
    /// The periodic Hann window of `win_length` points; within the n_fft frame
    /// it starts at `windowOffset` (librosa's `pad_center`), zero elsewhere.
    let window: [Float]
    let windowOffset: Int
    /// The Slaney mel filter bank, one band per filter: filter i's weights
    /// are nonzero on bins `firstBin ..< firstBin + count` only (a triangle),
    /// and those weights lie at `weightOffset` in `melBandWeights`. Each bin
    /// feeds at most two filters, so a frame costs ~2 · bins multiply-adds
    /// where the dense product costs n_mels · bins. The weights are divided by
    /// the spectrum's `powerScale` (a power of two, so exactly).
    struct MelBand {
        var firstBin: Int, count: Int, weightOffset: Int
    }
    let melBands: [MelBand]
    let melBandWeights: [Float]
    /// The DCT-II (ortho) matrix transposed, n_mels × n_mfcc, in float32 for
    /// one sgemm per block of frames, with column 0 zeroed. The dB values share
    /// a large offset (−100 dB for silence), and a float32 sum of n_mels such
    /// terms drifts by ~3e-4 for n_mels = 40; so each frame's mean μ is taken
    /// out first (the rows k ≥ 1 of the DCT sum to 0, so that changes nothing
    /// but the rounding), and coefficient 0 = s₀·Σⱼ Lⱼ is summed in float64.
    let dctFloat: [Float]
    /// Σⱼ Float(D[k, j]) for k ≥ 1, summed in float64 (0 in exact arithmetic,
    /// ~1e-8 after rounding D): μ times it is added back to coefficient k.
    let dctColumnSums: [Float]
    /// s₀ = √(1/n_mels), the DCT's constant row.
    let dctScale0: Double
    /// Frames per block B (32 unless the tables are large). A block's spectra
    /// and mel rows are stored frame-minor (bin or filter × B), so the mel
    /// bank, the log and the means run B frames a vector. Blocks are aligned
    /// to absolute frame indices (block b holds frames b·B ..< (b+1)·B) and
    /// the DCT product has the same shape whichever of its frames a call
    /// wants, so a frame always sits in the same lane and row and comes out
    /// bit for bit the same however the frames are split into calls. The DCT
    /// product's m·n·k stays under OpenBLAS's threshold for threading a GEMM
    /// (65536·4), so it always runs the same single-threaded kernel, whatever
    /// the thread count.
    let dctBlock: Int
    let plan: SpectrumPlan
    /// For a power-of-two n_fft (16 and up), the same tables in CERISupport's
    /// lane-parallel kernel (mfcc.c: eight frames a vector through the whole
    /// chain, its own FFT), which `compute` then uses; nil for other sizes,
    /// which take the frame loop below (libavutil's FFT or Bluestein).
    let lanes: LanePlan?

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
        // The DCT runs through sgemm: make sure OpenBLAS uses this CPU's
        // kernels (its Prescott fallback is ~5× slower here), before the first product,
        // so that every MFCC of the process comes from the same kernels.
        BLASKernels.selectFastKernels()
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
        let threadingThreshold = 65536 * 4  // OpenBLAS threads a GEMM from m·n·k = 65536 · 4 on
        dctBlock = max(1, min(32, (threadingThreshold - 1) / (m.nMels * m.nMFCC)))
        let bins = bins
        var bands: [MelBand] = [], bandWeights: [Float] = []
        for i in 0..<m.nMels {
            let row = bank[(i * bins)..<((i + 1) * bins)]
            // librosa warns of such empty filters; their mel value is 0 (−100 dB).
            guard let lo = row.firstIndex(where: { $0 != 0 }), let hi = row.lastIndex(where: { $0 != 0 }) else {
                bands.append(MelBand(firstBin: 0, count: 0, weightOffset: bandWeights.count))
                continue
            }
            bands.append(MelBand(firstBin: lo - i * bins, count: hi - lo + 1, weightOffset: bandWeights.count))
            bandWeights += row[lo...hi].map { Float($0) }
        }
        melBands = bands
        let spectrumPlan = try SpectrumPlan.make(size: m.nFFT)
        plan = spectrumPlan
        // The spectrum comes scaled by powerScale (a power of two): the weights are scaled back, exactly.
        let powerScale = try SpectrumWorkspace(size: m.nFFT, plan: spectrumPlan).powerScale  // fails here, not on the first clip, if av_tx refuses
        melBandWeights = bandWeights.map { $0 / powerScale }

        // scipy.fft.dct(type=2, norm="ortho") over the mel axis, first n_mfcc rows:
        // D[k, j] = s_k · cos(πk(2j + 1) / (2·n_mels)), s_0 = √(1/n_mels), s_k = √(2/n_mels).
        var dct = [Float](repeating: 0, count: m.nMels * m.nMFCC)
        var columnSums = [Double](repeating: 0, count: m.nMFCC)
        let melCount = Double(m.nMels)
        for k in 1..<m.nMFCC {
            let s = (2 / melCount).squareRoot()
            for j in 0..<m.nMels {
                let value = Float(s * cos(Double.pi * Double(k) * Double(2 * j + 1) / (2 * melCount)))
                dct[j * m.nMFCC + k] = value
                columnSums[k] += Double(value)
            }
        }
        dctFloat = dct
        dctColumnSums = columnSums.map { Float($0) }
        dctScale0 = (1 / melCount).squareRoot()
        if case .packedReal = spectrumPlan, powerScale == 4 {
            var rows = [Float](repeating: 0, count: m.nMFCC * m.nMels)   // the DCT as n_mfcc × n_mels
            for k in 1..<m.nMFCC { for j in 0..<m.nMels { rows[k * m.nMels + j] = dct[j * m.nMFCC + k] } }
            lanes = LanePlan(liberi_mfcc_plan_create(
                Int32(m.nFFT), Int32(m.hopLength), Int32(m.winLength), Int32(windowOffset), window, Int32(m.nMels),
                bands.map { Int32($0.firstBin) }, bands.map { Int32($0.count) }, melBandWeights, Int32(m.nMFCC),
                rows, dctColumnSums, dctScale0))
        } else {
            lanes = nil
        }
    }

    /// mfcc.c's plan, freed with the extractor.
    final class LanePlan: @unchecked Sendable {   // immutable after creation; the kernel only reads it
        let pointer: OpaquePointer
        init?(_ pointer: OpaquePointer?) {
            guard let pointer else { return nil }
            self.pointer = pointer
        }
        deinit { liberi_mfcc_plan_free(pointer) }
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

    /// How far before its centre t·hop frame t's analysis window starts
    /// (librosa's centred frame, the window centred in n_fft): frame t reads
    /// samples [t·hop − lead, t·hop − lead + win_length). The stream's window
    /// geometry comes from here.
    public var analysisLead: Int { nFFT / 2 - windowOffset }

    /// The signal samples frame `t` reads: its window's span, clipped to the
    /// signal [0, `signalLength`). Frame t is centred on sample t·hop (librosa's
    /// center=True); its window starts ⌊n_fft/2⌋ − windowOffset samples earlier.
    /// Empty (lowerBound = upperBound) when the window lies wholly in the padding.
    public func sampleRange(frame t: Int, signalLength: Int) -> Range<Int> {
        let start = t * hop - analysisLead
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
    /// Streaming: frame t reads samples up to
    /// `sampleRange(frame: t, signalLength: .max).upperBound` (t·hop − ⌊n_fft/2⌋
    /// + windowOffset + win_length). Once the stream holds that many samples,
    /// frame t can be computed with `signalLength` = the samples so far: its
    /// values do not depend on the length beyond its own window, so they are
    /// final. Only the last frames, whose windows cross the end, wait for the
    /// stream's true length. Samples before
    /// `sampleRange(frame: next, signalLength:).lowerBound` of the next frame
    /// to compute may be dropped:
    ///
    ///     // `pending` holds the stream's samples [pendingStart, pendingStart + pending.count).
    ///     let rows = try pending.withUnsafeBufferPointer {
    ///         try extractor.compute($0, frames: next..<ready, signalStart: pendingStart,
    ///                               signalLength: pendingStart + pending.count)
    ///     }
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
        guard count > 0 else { return Tensor(shape: [0, nMFCC], data: []) }
        if let lanes {
            let scratch = AlignedFloats(count: liberi_mfcc_scratch_floats(lanes.pointer))
            // The kernel writes every value: no zero fill first (for 60 s, 1 MB written twice).
            let result = [Float](unsafeUninitializedCapacity: count * nMFCC) { buffer, initialized in
                liberi_mfcc_frames(lanes.pointer, mono.baseAddress, signalStart, signalLength, Int64(frames.lowerBound),
                                   Int64(count), buffer.baseAddress, scratch.pointer, laneKernelsSIMD ? 1 : 0)
                initialized = count * nMFCC
            }
            return Tensor(shape: [count, nMFCC], data: result)
        }
        var result = [Float](repeating: 0, count: count * nMFCC)
        let workspace = try SpectrumWorkspace(size: nFFT, plan: plan)
        let block = dctBlock
        let melBlock = AlignedFloats(count: nMels * block)   // (n_mels, B): one block's log-mel values, then centred
        let dctOut = AlignedFloats(count: block * nMFCC)     // (B, n_mfcc)
        let powerStride = (bins + 15) / 16 * 16
        let spectra = AlignedFloats(count: block * powerStride)  // (B, bins): the block's |X|², one row a frame
        let powerBlock = AlignedFloats(count: bins * block)      // (bins, B): the same, frame r in column r
        var sums = [Double](repeating: 0, count: block)      // Σⱼ Lⱼ per row, in float64
        var means = [Float](repeating: 0, count: block)

        // The frame loop runs on raw pointers: it touches every sample
        // n_fft/hop times, and bounds checks there would cost more than the FFT.
        result.withUnsafeMutableBufferPointer { resultBuffer in
        sums.withUnsafeMutableBufferPointer { sumBuffer in
        means.withUnsafeMutableBufferPointer { meanBuffer in
        window.withUnsafeBufferPointer { windowBuffer in
        melBandWeights.withUnsafeBufferPointer { melWeights in
        dctFloat.withUnsafeBufferPointer { dct in
        dctColumnSums.withUnsafeBufferPointer { columnSums in
            let frame = workspace.input.pointer                  // zero outside the window's span, always
            let w = windowBuffer.baseAddress!
            let offset = windowOffset, winLength = window.count
            let mel = melBlock.pointer
            var blockStart = frames.lowerBound / block * block
            while blockStart < frames.upperBound {
                let first = max(blockStart, frames.lowerBound), end = min(blockStart + block, frames.upperBound)
                for t in first..<end {
                    // center=True, pad_mode="constant": frame t covers the padded signal's
                    // samples t·hop … t·hop + n_fft − 1, i.e. the signal's from t·hop − ⌊n_fft/2⌋;
                    // samples outside the signal are 0. Only the window's span is nonzero.
                    let start = t * hop - nFFT / 2 + offset          // signal index of window point 0
                    let span = sampleRange(frame: t, signalLength: signalLength)
                    let dst = frame + offset
                    if span.count == winLength, let x = mono.baseAddress {
                        windowed(x + (start - signalStart), w, dst, winLength)
                    } else {
                        dst.update(repeating: 0, count: winLength)
                        if !span.isEmpty, let x = mono.baseAddress {
                            let src = x + (span.lowerBound - signalStart)
                            for s in 0..<span.count {
                                let i = span.lowerBound - start + s
                                dst[i] = w[i] * src[s]
                            }
                        }
                    }
                    workspace.power(into: spectra.pointer + (t - blockStart) * powerStride)  // |X|²·powerScale, n_fft/2 + 1 bins
                }
                liberi_transpose(spectra.pointer, powerStride, powerBlock.pointer, block, Int32(block), Int32(bins))
                // mel = filters · power, band by band, B frames a vector. Columns of the block
                // outside this call's frames hold finite leftovers (or zeros) and only feed
                // their own columns.
                for (i, band) in melBands.enumerated() {
                    let row = mel + i * block
                    row.update(repeating: 0, count: block)
                    for j in 0..<band.count {
                        addScaled(row, melWeights[band.weightOffset + j], powerBlock.pointer + (band.firstBin + j) * block,
                                  into: row, count: block)
                    }
                }
                // power_to_db(ref=1, amin=1e-10, top_db=None) = 10·log10(max(1e-10, mel)),
                // then each frame less its mean (see `dctFloat`), the sum in float64.
                let rows = (first - blockStart)..<(end - blockStart)
                decibels(mel, count: nMels * block)
                for r in rows { sumBuffer[r] = 0 }
                for i in 0..<nMels {
                    let row = mel + i * block
                    for r in rows { sumBuffer[r] += Double(row[r]) }
                }
                for r in rows { meanBuffer[r] = Float(sumBuffer[r] / Double(nMels)) }
                for i in 0..<nMels {
                    let row = mel + i * block
                    for r in rows { row[r] -= meanBuffer[r] }
                }
                // The shape never changes with the frames asked for.
                gemm(transposeA: true, m: block, n: nMFCC, k: nMels, a: mel, lda: block, b: dct.baseAddress!, ldb: nMFCC,
                     c: dctOut.pointer, ldc: nMFCC)
                for r in rows {
                    let src = dctOut.pointer + r * nMFCC
                    let dst = resultBuffer.baseAddress! + (blockStart + r - frames.lowerBound) * nMFCC
                    // Σⱼ D[k, j]·(Lⱼ − μ) + μ·Σⱼ D[k, j]: the second term is ~1e-6, so float32 is exact enough.
                    addScaled(src, meanBuffer[r], columnSums.baseAddress!, into: dst, count: nMFCC)
                    dst[0] = Float(sumBuffer[r] * dctScale0)
                }
                blockStart += block
            }
        }
        }
        }
        }
        }
        }
        }
        return Tensor(shape: [count, nMFCC], data: result)
    }

    /// Array convenience for `compute(_:)`.
    public func compute(_ mono: [Float]) throws -> Tensor {
        try mono.withUnsafeBufferPointer { try compute($0) }
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

/// mfcc.c's AVX2 + FMA path where the CPU has it (and ERI_PORTABLE_KERNELS does not ask for the portable one).
private let laneKernelsSIMD = liberi_avx2_fma() != 0

/// dst[i] = w[i] · x[i], i < n: SIMD8, then the tail.
@inline(__always)
private func windowed(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    let xr = UnsafeRawPointer(x), wr = UnsafeRawPointer(w), dr = UnsafeMutableRawPointer(dst)
    while i + 8 <= n {
        let v = xr.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) * wr.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        dr.storeBytes(of: v, toByteOffset: 4 * i, as: SIMD8<Float>.self)
        i += 8
    }
    while i < n {
        dst[i] = w[i] * x[i]
        i += 1
    }
}

/// dst[i] = x[i] + a·y[i], i < n.
@inline(__always)
private func addScaled(_ x: UnsafePointer<Float>, _ a: Float, _ y: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count n: Int) {
    var i = 0
    let xr = UnsafeRawPointer(x), yr = UnsafeRawPointer(y), dr = UnsafeMutableRawPointer(dst)
    while i + 8 <= n {
        let v = xr.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) + a * yr.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        dr.storeBytes(of: v, toByteOffset: 4 * i, as: SIMD8<Float>.self)
        i += 8
    }
    while i < n {
        dst[i] = x[i] + a * y[i]
        i += 1
    }
}

/// x[i] ← 10·log10(max(1e-10, x[i])) in place, 8 lanes at a time: librosa's
/// power_to_db(ref=1, amin=1e-10, top_db=None). The logarithm is fdlibm's
/// logf (the argument reduced to m ∈ [√½, √2) times 2^e, then
/// log m = f − f²/2 + s·(f²/2 + R(s²)), s = f/(2 + f)), within ~1 ulp; the
/// exponent's share e·10·log10(2) is added in two parts so that e·C_hi is exact.
@inline(__always)
func decibels(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    var i = 0
    let raw = UnsafeMutableRawPointer(x)
    while i + 8 <= n {
        let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        raw.storeBytes(of: decibels8(v), toByteOffset: 4 * i, as: SIMD8<Float>.self)
        i += 8
    }
    if i < n {
        var tail = SIMD8<Float>(repeating: 1)
        for l in 0..<(n - i) { tail[l] = x[i + l] }
        let out = decibels8(tail)
        for l in 0..<(n - i) { x[i + l] = out[l] }
    }
}

@inline(__always)
private func decibels8(_ value: SIMD8<Float>) -> SIMD8<Float> {
    // max(1e-10, x), as Swift's max gives it (1e-10 for a NaN too).
    let v = value.replacing(with: SIMD8<Float>(repeating: 1e-10), where: .!(value .> 1e-10))
    // The float's exponent and mantissa, the mantissa moved into [√½, √2) (musl/fdlibm logf).
    var bits = unsafeBitCast(v, to: SIMD8<UInt32>.self)
    bits &+= SIMD8<UInt32>(repeating: 0x3f80_0000 &- 0x3f35_04f3)
    let e = SIMD8<Int32>(truncatingIfNeeded: bits &>> 23) &- 0x7f
    bits = (bits & 0x007f_ffff) &+ 0x3f35_04f3
    let m = unsafeBitCast(bits, to: SIMD8<Float>.self)
    let f = m - 1
    let s = f / (2 + f)
    let z = s * s, w = z * z
    let t1 = w * (0.40000972152 + w * 0.24279078841)          // Lg2, Lg4
    let t2 = z * (0.66666662693 + w * 0.28498786688)          // Lg1, Lg3
    let r = t2 + t1
    let hfsq = 0.5 * f * f
    let logm = f - (hfsq - s * (hfsq + r))                    // ln m
    let ef = SIMD8<Float>(e)
    // 10·log10(2) = C_hi + C_lo, C_hi with 12 significant bits so that e·C_hi is exact for |e| < 2^11.
    let cHi: Float = 3.0107421875, cLo: Float = -4.4223086e-04  // 10·log10(2) − C_hi
    let scale: Float = 4.3429448190                            // 10/ln(10)
    let db = ef * cHi + (ef * cLo + logm * scale)
    return db.replacing(with: .infinity, where: v .== .infinity)   // the bit tricks would give a finite value
}

