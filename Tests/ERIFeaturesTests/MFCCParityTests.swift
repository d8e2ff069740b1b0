import Foundation
import Testing
import ERICore
import ERIFeatures
import ERITestSupport

/// Test signals at 16 kHz.
enum Signal {
    /// Speech-like: a 120 Hz voice with 5 Hz vibrato, 20 harmonics falling as
    /// 1/k, a 3 Hz syllable envelope, and a little white noise.
    static func speech(_ count: Int, seed: UInt64 = 1) -> [Float] {
        var random = TestRandom(seed: seed)
        var phase = 0.0
        return (0..<count).map { i in
            let t = Double(i) / 16000
            phase += 2 * Double.pi * (120 + 8 * sin(2 * Double.pi * 5 * t)) / 16000
            var voice = 0.0
            for k in 1...20 { voice += sin(Double(k) * phase) / Double(k) }
            let envelope = 0.15 * (1.05 + sin(2 * Double.pi * 3 * t))
            return Float(envelope * voice + 0.005 * random.gaussian())
        }
    }

    static func whiteNoise(_ count: Int, seed: UInt64 = 2) -> [Float] {
        var random = TestRandom(seed: seed)
        return (0..<count).map { _ in Float(0.1 * random.gaussian()) }
    }

    static func silence(_ count: Int) -> [Float] { [Float](repeating: 0, count: count) }

    /// Silence with one full-scale click in the middle.
    static func click(_ count: Int) -> [Float] {
        var x = silence(count)
        if count > 0 { x[count / 2] = 0.95 }
        return x
    }
}

@Suite struct MFCCParityTests {
    struct Case {
        var name: String
        var preset: String
        var audio: ERIConfig.Audio
        var overrides: [String] = []
        var interleaved: [Float]
        var channels = 1
    }

    static func presetAudio(_ name: String) -> ERIConfig.Audio { ERIConfig.preset(named: name)!.audio! }

    /// Every case of the librosa comparison: both presets over the signals and
    /// lengths of the brief, then n_fft values that take each FFT path.
    static func cases() -> [Case] {
        var cases: [Case] = []
        for preset in ["dbn-base", "dbn-tiny"] {
            let audio = presetAudio(preset)
            for (name, signal) in [("speech", Signal.speech(16000)), ("noise", Signal.whiteNoise(16000)),
                                   ("silence", Signal.silence(16000)), ("click", Signal.click(16000))] {
                cases.append(Case(name: "\(preset) \(name) 16000", preset: preset, audio: audio, interleaved: signal))
            }
            for length in [0, 1, 100, 399, 400, 16000 * 10 + 37] {
                cases.append(Case(name: "\(preset) speech \(length)", preset: preset, audio: audio, interleaved: Signal.speech(length)))
            }
        }
        // Pooling 3 and capping to 7 steps on dbn-base.
        var capped = presetAudio("dbn-base")
        capped.pool = 3
        capped.maxSteps = 7
        cases.append(Case(name: "dbn-base pool 3 cap 7", preset: "dbn-base", audio: capped,
                          overrides: ["--pool", "3", "--max-steps", "7"], interleaved: Signal.speech(12345)))
        // Stereo: the channel mean (SPEC §4.2 step 1).
        let left = Signal.speech(8000), right = Signal.whiteNoise(8000)
        cases.append(Case(name: "dbn-base stereo", preset: "dbn-base", audio: presetAudio("dbn-base"),
                          interleaved: (0..<16000).map { $0 % 2 == 0 ? left[$0 / 2] : right[$0 / 2] }, channels: 2))
        // n_fft values for each FFT path (see SpectrumPlan): 480 and 30 the
        // packed real FFT (n/2 = 240 and 15, even and odd halves; 8 and 6 its
        // scalar tail alone); 400 and 401 Bluestein (even and odd); 15
        // libavutil's complex FFT (odd). Powers of two from 16 take mfcc.c's
        // lanes (the presets' 512 among them): 2048 (radix-4 stages only,
        // frames read in place), 1024, 256 and 16 (a radix-2 stage first;
        // windows off the 8-float grid, so every frame is copied); 512 with
        // an odd n_mels (the DCT's middle term) and n_mfcc not a multiple of 8.
        for (nFFT, win, hop, mels, coefficients) in [(480, 400, 160, 40, 20), (400, 400, 160, 40, 20), (401, 301, 160, 40, 20),
                                                     (30, 30, 10, 8, 6), (15, 12, 5, 4, 4), (8, 8, 4, 4, 3), (6, 5, 2, 3, 2),
                                                     (2048, 2048, 512, 64, 30), (1024, 1000, 256, 40, 20), (256, 200, 100, 32, 13),
                                                     (16, 12, 5, 4, 4), (512, 400, 160, 41, 27)] {
            var audio = presetAudio("dbn-base")
            audio.mfcc.nFFT = nFFT
            audio.mfcc.winLength = win
            audio.mfcc.hopLength = hop
            audio.mfcc.nMels = mels
            audio.mfcc.nMFCC = coefficients
            let overrides = ["--n-fft", "\(nFFT)", "--win-length", "\(win)", "--hop-length", "\(hop)",
                             "--n-mels", "\(mels)", "--n-mfcc", "\(coefficients)"]
            for length in [0, 1, 4000] {
                cases.append(Case(name: "n_fft \(nFFT) speech \(length)", preset: "dbn-base", audio: audio,
                                  overrides: overrides, interleaved: Signal.speech(length, seed: 3)))
            }
        }
        return cases
    }

    @Test func mfccMatchesLibrosa() throws {
        let folder = TemporaryFolder("eri-features-mfcc")
        let cases = Self.cases()
        var manifest: [[String]] = []
        for (i, c) in cases.enumerated() {
            try writeFloats(c.interleaved, to: folder.file("\(i).f32"))
            manifest.append(["--input", folder.file("\(i).f32"), "--out", folder.file("\(i)"), "--preset", c.preset,
                             "--channels", "\(c.channels)"] + c.overrides)
        }
        // Every case in one Python process (librosa's import costs seconds); a
        // case where librosa raises leaves OUT.error instead of OUT.f32.
        try writeJSON(manifest, to: folder.file("manifest.json"))
        try Oracle.run("dump_mfcc.py", ["--batch", folder.file("manifest.json")])

        for (i, c) in cases.enumerated() {
            let extractor = try MFCCExtractor(config: c.audio)
            let mono = c.interleaved.withUnsafeBufferPointer { downmix(interleaved: $0, channels: c.channels) }
            if FileManager.default.fileExists(atPath: folder.file("\(i).error")) {
                // librosa raises (odd n_fft, no samples): so must we, with invalidArgument.
                print("\(c.name): librosa raises; expecting invalidArgument")
                expectInvalidArgument("\(c.name)") { _ = try extractor.compute(mono) }
                continue
            }
            let raw = try extractor.compute(mono)
            let wantRaw = try readFloats(folder.file("\(i).f32"))
            #expect(raw.shape[1] == c.audio.mfcc.nMFCC)
            #expect(raw.count == wantRaw.count, "\(c.name): \(raw.shape[0]) frames")
            check("\(c.name) MFCC \(raw.shape)", raw.data, wantRaw, tolerance: 1e-3)

            let wantPooled = try readFloats(folder.file("\(i).pooled.f32"))
            let pooled = pooledFeatures(raw, pool: c.audio.pool, maxSteps: c.audio.maxSteps)
            check("\(c.name) pooled \(pooled.shape)", pooled.data, wantPooled, tolerance: 1e-3)
            // The preprocessor takes clips of at least one analysis window; shorter ones are refused.
            let preprocessor = try AudioPreprocessor(config: c.audio)
            if mono.count >= c.audio.mfcc.winLength {
                let features = try preprocessor.features(interleaved: c.interleaved, sampleRate: c.audio.sampleRate, channels: c.channels)
                check("\(c.name) preprocessor", features.data, wantPooled, tolerance: 1e-3)
            } else {
                expectInvalidArgument("\(c.name): shorter than one analysis window") {
                    _ = try preprocessor.features(interleaved: c.interleaved, sampleRate: c.audio.sampleRate, channels: c.channels)
                }
            }
        }
    }

    /// One extractor used from several threads at once gives what it gives alone.
    @Test func extractorIsThreadSafe() throws {
        let extractor = try MFCCExtractor(config: Self.presetAudio("dbn-base"))
        let signals = (0..<8).map { Signal.speech(8000 + 997 * $0, seed: UInt64($0)) }
        let alone = try signals.map { try extractor.compute($0) }
        let results = UnsafeMutableBufferPointer<Tensor?>.allocate(capacity: signals.count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: signals.count) { i in
            results[i] = try? extractor.compute(signals[i])
        }
        for i in 0..<signals.count { #expect(results[i] == alone[i]) }
    }

    /// Not an assertion: the speed of MFCC on 60 s of 16 kHz audio.
    @Test func timing() throws {
        let signal = Signal.speech(60 * 16000)
        for preset in ["dbn-base", "dbn-tiny"] {
            let extractor = try MFCCExtractor(config: Self.presetAudio(preset))
            _ = try extractor.compute(Array(signal.prefix(16000)))
            let clock = ContinuousClock()
            var best = Duration.seconds(1000)
            for _ in 0..<3 {
                let start = clock.now
                _ = try extractor.compute(signal)
                best = min(best, clock.now - start)
            }
            let ms = Double(best.components.seconds) * 1000 + Double(best.components.attoseconds) / 1e15
            #if DEBUG
            let build = "debug build"
            #else
            let build = "release build"
            #endif
            print("MFCC timing (\(preset), \(build)): 60 s of 16 kHz audio in \(String(format: "%.2f", ms)) ms = \(String(format: "%.3f", ms / 60)) ms per second of audio")
        }
    }
}
