import Testing
import ERICore
import ERIFeatures

/// `MFCCExtractor.compute(_:frames:signalStart:signalLength:)`: any rows of the
/// MFCC matrix, from only the samples they read, equal (bit for bit) those rows
/// of the whole signal's matrix.
@Suite struct MFCCRangeTests {
    /// The configs of the parity test that take each FFT path (RDFT, Bluestein
    /// even and odd, libavutil's complex FFT) and the presets.
    static func configs() -> [(String, ERIConfig.Audio)] {
        var result: [(String, ERIConfig.Audio)] = []
        for preset in ["dbn-small", "dbn-base", "dbn-tiny"] {
            result.append((preset, ERIConfig.preset(named: preset)!.audio!))
        }
        for (nFFT, win, hop, mels, coefficients) in [(480, 400, 160, 40, 20), (400, 400, 160, 40, 20), (401, 301, 160, 40, 20),
                                                     (30, 30, 10, 8, 6), (15, 12, 5, 4, 4), (512, 400, 512, 64, 40),
                                                     (1024, 1000, 256, 40, 20), (16, 12, 5, 4, 4)] {
            var audio = ERIConfig.preset(named: "dbn-base")!.audio!
            audio.mfcc.nFFT = nFFT
            audio.mfcc.winLength = win
            audio.mfcc.hopLength = hop
            audio.mfcc.nMels = mels
            audio.mfcc.nMFCC = coefficients
            result.append(("n_fft \(nFFT) win \(win) hop \(hop)", audio))
        }
        return result
    }

    /// Rows `frames` of `full` (T × n).
    static func rows(_ full: Tensor, _ frames: Range<Int>) -> [Float] {
        let n = full.shape[1]
        return Array(full.data[(frames.lowerBound * n)..<(frames.upperBound * n)])
    }

    /// The smallest slice of `signal` that `frames` read, and where it starts.
    static func minimalSlice(_ extractor: MFCCExtractor, _ signal: [Float], _ frames: Range<Int>) -> (start: Int, samples: [Float]) {
        guard let first = frames.first, let last = frames.last else { return (0, []) }
        let lo = extractor.sampleRange(frame: first, signalLength: signal.count).lowerBound
        let hi = extractor.sampleRange(frame: last, signalLength: signal.count).upperBound
        return hi > lo ? (lo, Array(signal[lo..<hi])) : (lo, [])
    }

    func piece(_ extractor: MFCCExtractor, _ samples: [Float], _ frames: Range<Int>, start: Int, length: Int) throws -> Tensor {
        try samples.withUnsafeBufferPointer {
            try extractor.compute($0, frames: frames, signalStart: start, signalLength: length)
        }
    }

    @Test func piecesEqualTheWholeSignal() throws {
        for (name, audio) in Self.configs() {
            let extractor = try MFCCExtractor(config: audio)
            for length in [1, 100, 399, 400, 401, 16000 + 37, 3 * 16000 + 5] {
                let signal = Signal.speech(length, seed: UInt64(length))
                let full = try extractor.compute(signal)
                let total = full.shape[0]
                #expect(total == extractor.frameCount(samples: length))
                // Every frame alone (minimal slice), near both edges and a few inside.
                let singles = Set(Array(0..<min(total, 6)) + Array(max(0, total - 6)..<total) + [total / 2, total / 3])
                for t in singles.sorted() {
                    let (start, samples) = Self.minimalSlice(extractor, signal, t..<(t + 1))
                    let got = try piece(extractor, samples, t..<(t + 1), start: start, length: length)
                    #expect(got.shape == [1, audio.mfcc.nMFCC])
                    #expect(got.data == Self.rows(full, t..<(t + 1)), "\(name), \(length) samples: frame \(t) alone")
                }
                // Consecutive chunks of uneven sizes covering every frame, each from its minimal slice.
                for chunk in [1, 7, 64, 100] {
                    var t = 0, i = 0
                    while t < total {
                        let end = min(total, t + chunk + (i % 3))
                        let (start, samples) = Self.minimalSlice(extractor, signal, t..<end)
                        let got = try piece(extractor, samples, t..<end, start: start, length: length)
                        #expect(got.shape == [end - t, audio.mfcc.nMFCC])
                        #expect(got.data == Self.rows(full, t..<end), "\(name), \(length) samples: frames \(t)..<\(end)")
                        t = end
                        i += 1
                    }
                }
                // More samples than needed, starting before the first one read.
                if total > 4 {
                    let frames = 2..<(total - 1)
                    let (lo, _) = Self.minimalSlice(extractor, signal, frames)
                    let start = max(0, lo - 3)
                    let got = try piece(extractor, Array(signal[start...]), frames, start: start, length: length)
                    #expect(got.data == Self.rows(full, frames), "\(name), \(length) samples: frames \(frames) from \(start)")
                }
                // The whole range through the new entry point, and no frames at all.
                #expect(try piece(extractor, signal, 0..<total, start: 0, length: length) == full)
                #expect(try piece(extractor, [], 0..<0, start: 0, length: length) == Tensor(shape: [0, audio.mfcc.nMFCC], data: []))
            }
        }
    }

    /// The streaming recipe of the documentation: frames computed as soon as
    /// their windows are complete, with the length so far, then the tail with
    /// the true length, from a buffer that drops what no later frame reads.
    @Test func streamingWithTheLengthSoFar() throws {
        for (name, audio) in Self.configs() {
            let extractor = try MFCCExtractor(config: audio)
            let signal = Signal.speech(16000 * 2 + 123, seed: 9)
            let full = try extractor.compute(signal)
            var rows: [Float] = [], pending: [Float] = [], pendingStart = 0, next = 0
            func emit(_ frames: Range<Int>, length: Int) throws {
                guard !frames.isEmpty else { return }
                let got = try pending.withUnsafeBufferPointer {
                    try extractor.compute($0, frames: frames, signalStart: pendingStart, signalLength: length)
                }
                rows += got.data
                next = frames.upperBound
                // Keep only what the next frame reads.
                let keep = extractor.sampleRange(frame: next, signalLength: .max).lowerBound
                let drop = min(pending.count, max(0, keep - pendingStart))
                pending.removeFirst(drop)
                pendingStart += drop
            }
            for chunk in stride(from: 0, to: signal.count, by: 777) {
                pending += signal[chunk..<min(signal.count, chunk + 777)]
                let have = pendingStart + pending.count
                var ready = next
                while extractor.sampleRange(frame: ready, signalLength: .max).upperBound <= have { ready += 1 }
                try emit(next..<ready, length: have)
            }
            try emit(next..<full.shape[0], length: signal.count)
            let same = rows == full.data  // a Bool, so that a failure does not print every value
            #expect(same, "\(name): streamed \(rows.count / audio.mfcc.nMFCC) rows differ from the \(full.shape[0]) of the whole signal")
        }
    }

    @Test func sampleRangesAndTheEmptySignal() throws {
        // dbn-base: n_fft 512, win 400 (centred: offset 56), so frame t reads t·hop − 200 ..< t·hop + 200.
        var audio = ERIConfig.preset(named: "dbn-base")!.audio!
        audio.mfcc.hopLength = 1000
        let extractor = try MFCCExtractor(config: audio)
        #expect(extractor.frameCount(samples: 2600) == 3)
        #expect(extractor.sampleRange(frame: 0, signalLength: 2600) == 0..<200)
        #expect(extractor.sampleRange(frame: 2, signalLength: 2600) == 1800..<2200)
        #expect(extractor.sampleRange(frame: 2, signalLength: 2100) == 1800..<2100)
        // A zero-length signal: one frame of silence, and no samples needed for it.
        let silence = try extractor.compute([Float]())
        #expect(silence.shape == [1, audio.mfcc.nMFCC])
        #expect(try piece(extractor, [], 0..<1, start: 0, length: 0) == silence)
    }

    @Test func rejectsBadRanges() throws {
        let extractor = try MFCCExtractor(config: ERIConfig.preset(named: "dbn-small")!.audio!)
        let signal = Signal.speech(16000)
        let total = extractor.frameCount(samples: signal.count)!
        expectInvalidArgument("frames past the end") { _ = try piece(extractor, signal, 0..<(total + 1), start: 0, length: 16000) }
        expectInvalidArgument("negative frames") { _ = try piece(extractor, signal, -1..<3, start: 0, length: 16000) }
        expectInvalidArgument("samples past the signal") { _ = try piece(extractor, signal, 0..<3, start: 1, length: 16000) }
        expectInvalidArgument("negative start") { _ = try piece(extractor, signal, 0..<3, start: -1, length: 16001) }
        let (start, samples) = Self.minimalSlice(extractor, signal, 10..<20)
        expectInvalidArgument("one sample short at the end") {
            _ = try piece(extractor, Array(samples.dropLast()), 10..<20, start: start, length: 16000)
        }
        expectInvalidArgument("one sample short at the start") {
            _ = try piece(extractor, Array(samples.dropFirst()), 10..<20, start: start + 1, length: 16000)
        }
        var odd = ERIConfig.preset(named: "dbn-base")!.audio!
        odd.mfcc.nFFT = 401
        odd.mfcc.winLength = 301
        let oddExtractor = try MFCCExtractor(config: odd)
        expectInvalidArgument("odd n_fft, no samples") { _ = try piece(oddExtractor, [], 0..<0, start: 0, length: 0) }
    }
}
