import Foundation
import Testing
import ERICore
@testable import ERIPipeline
import ERIFeatures
@testable import ERIModel
import ERITestSupport

/// A synthetic live source: RGB24 frames of a moving pattern at `fps`, and a
/// 16 kHz tone with noise, both generated on demand from their timestamps.
struct LiveSource {
    let width = 72, height = 56
    var fps = 25.0
    var sampleRate = 16000

    func frame(_ i: Int) -> [UInt8] {
        var rng = SeededGenerator(seed: UInt64(1000 + i))
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let base = (y * width + x) * 3
                pixels[base] = UInt8((x * 3 + i * 5) & 255)
                pixels[base + 1] = UInt8((y * 4 + i * 3) & 255)
                pixels[base + 2] = UInt8(truncatingIfNeeded: Int(rng.uniform(0, 255)))
            }
        }
        return pixels
    }

    func sample(_ n: Int) -> Float {
        let t = Double(n) / Double(sampleRate)
        let envelope = 0.5 + 0.4 * sin(2 * Double.pi * 0.7 * t)
        var rng = SeededGenerator(seed: UInt64(n))
        return Float(envelope * 0.3 * sin(2 * Double.pi * (180 + 40 * sin(t)) * t)) + rng.uniform(-0.02, 0.02)
    }

    func image(_ pixels: UnsafeBufferPointer<UInt8>) -> ImageView {
        try! ImageView(data: UnsafeRawPointer(pixels.baseAddress!), width: width, height: height, stride: width * 3, format: .rgb24)
    }
}

@Suite struct StreamTests {
    static let tiny = try! Model(file: ModelFile.randomlyInitialised(config: ERIConfig.tiny, seed: 71))

    /// Checks a read against `predict` on exactly what it reports it used.
    func checkEqualsPredict(_ model: Model, _ stream: ModelStream, _ estimate: StreamEstimate, frames: [Double: [UInt8]],
                            source: LiveSource, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let audio = stream.lastWindowAudio()
        #expect(audio.count == estimate.audioSampleCount, sourceLocation: sourceLocation)
        var images: [[UInt8]] = []
        for t in estimate.frameTimestamps {
            guard let f = frames[t] else { Issue.record("read used an unknown frame at \(t) s", sourceLocation: sourceLocation); return }
            images.append(f)
        }
        let expected: [Float] = try withImages(images, source) { views in
            try audio.withUnsafeBufferPointer { pcm in
                try model.predict(frames: views.isEmpty ? nil : views,
                                  audio: pcm.isEmpty ? nil : PCMView(samples: pcm, sampleRate: estimate.audioSampleRate, channels: 1))
            }
        }
        check("read at \(estimate.windowEnd) s vs predict", estimate.intensities, expected, tolerance: 1e-5, sourceLocation: sourceLocation)
    }

    func withImages<R>(_ images: [[UInt8]], _ source: LiveSource, _ body: ([ImageView]) throws -> R) rethrows -> R {
        var views: [ImageView] = []
        var buffers: [UnsafeMutableBufferPointer<UInt8>] = []
        defer { buffers.forEach { $0.deallocate() } }
        for img in images {
            let b = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: img.count)
            _ = b.initialize(from: img)
            buffers.append(b)
            views.append(source.image(UnsafeBufferPointer(b)))
        }
        return try body(views)
    }

    /// Pushes the source from `from` to `to` seconds: frames at fps, audio in 20 ms chunks, interleaved by time.
    func feed(_ stream: ModelStream, _ source: LiveSource, from: Double, to: Double, frames: inout [Double: [UInt8]],
              video: Bool = true, audio: Bool = true, skipFrames: Range<Double>? = nil) throws {
        let chunk = source.sampleRate / 50
        // The first frame and chunk at or after `from`, by the same comparison as the loop's `< to`.
        var i = max(0, Int((from * source.fps).rounded(.down)) - 1)
        while Double(i) / source.fps < from { i += 1 }
        var n = max(0, Int((from * Double(source.sampleRate)).rounded(.down)) / chunk * chunk - chunk)
        while Double(n) / Double(source.sampleRate) < from { n += chunk }
        while true {
            let tf = Double(i) / source.fps, ta = Double(n) / Double(source.sampleRate)
            if (tf >= to || !video) && (ta >= to || !audio) { break }
            if video && tf < to && (tf <= ta || !audio || ta >= to) {
                if skipFrames?.contains(tf) != true {
                    let pixels = source.frame(i)
                    frames[tf] = pixels
                    try pixels.withUnsafeBufferPointer { try stream.pushFrame(source.image($0), timestamp: tf) }
                }
                i += 1
            } else if audio && ta < to {
                let pcm = (n..<(n + chunk)).map { source.sample($0) }
                try pcm.withUnsafeBufferPointer { try stream.pushPCM(PCMView(samples: $0, sampleRate: source.sampleRate, channels: 1), timestamp: ta) }
                n += chunk
            } else {
                break
            }
        }
    }

    /// A new stream on the tiny model with a 4 s window, fed the source from 0 to `seconds`.
    func tinyStream(fedUntil seconds: Double, _ source: LiveSource, frames: inout [Double: [UInt8]],
                    video: Bool = true, audio: Bool = true, skipFrames: Range<Double>? = nil) throws -> ModelStream {
        let stream = try ModelStream(model: Self.tiny, options: StreamOptions(window: 4))
        try feed(stream, source, from: 0, to: seconds, frames: &frames, video: video, audio: audio, skipFrames: skipFrames)
        return stream
    }

    @Test func readsEqualPredictOverWhatTheyUsed() throws {
        let model = StreamTests.tiny
        let stream = try ModelStream(model: model, options: StreamOptions(window: 4))
        #expect(stream.step == 0.5)
        let source = LiveSource()
        var frames: [Double: [UInt8]] = [:]
        #expect(throws: ERIError.self) { try stream.read() }
        var t = 0.0
        var reads = 0
        while t < 9 {
            try feed(stream, source, from: t, to: t + 0.37, frames: &frames)
            t += 0.37
            let e = try stream.read()
            reads += 1
            // The window end is the last grid point at or before the newest input.
            #expect(e.windowEnd <= t + 1e-9 && e.windowEnd > t - 0.5 - 0.05)
            #expect(e.frameTimestamps.count == 8)
            // Each sample time's frame is the nearest 25 fps frame (the gap is a quarter second).
            for (j, ts) in e.frameTimestamps.enumerated() {
                let s = e.windowStart + (Double(j) + 0.5) * 0.5
                let newest = Double(Int((t * 25).rounded(.up)) - 1) / 25
                let nearest = min(max((s * 25).rounded() / 25, 0), newest)
                if s >= 0 { #expect(abs(ts - nearest) < 1e-9, "sample time \(s): frame \(ts), nearest \(nearest)") }
            }
            // The audio is the source's samples from the snapped window start.
            let grid = 160 * 4
            let first = max(0, Int(((e.windowEnd - 4) * 16000).rounded(.down)) / grid * grid)
            #expect(e.audioFirstSample == first)
            let window = stream.lastWindowAudio()
            let expected = (first..<(first + window.count)).map { source.sample($0) }
            let mismatch = zip(window, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            #expect(mismatch == nil, "the window's audio (\(window.count) from \(first)) differs from the source's at \(mismatch ?? -1), t \(t): \(mismatch.map { Array(window[($0 - 2)..<($0 + 3)]) } ?? []) vs \(mismatch.map { Array(expected[($0 - 2)..<($0 + 3)]) } ?? []); source at −320: \(mismatch.map { source.sample(first + $0 - 320) } ?? 0)")
            try checkEqualsPredict(model, stream, e, frames: frames, source: source)
        }
        #expect(reads > 20)
    }

    /// A read whose window and contents are the previous read's returns that
    /// estimate without running the network; any new frame or sample inside
    /// the window, or a new grid point, runs it again.
    @Test func readsWithoutNewInputReuseTheEstimate() throws {
        let source = LiveSource()
        var frames: [Double: [UInt8]] = [:]
        let stream = try tinyStream(fedUntil: 4.8, source, frames: &frames)
        let first = try stream.read()
        #expect(stream.networkRuns == 1 && first.windowEnd == 4.5)
        let again = try stream.read()
        #expect(stream.networkRuns == 1 && again.intensities == first.intensities && again.windowEnd == first.windowEnd)
        // Frames after the window's end, before the next grid point (5 s): the window holds the same.
        try feed(stream, source, from: 4.8, to: 4.99, frames: &frames, audio: false)
        let same = try stream.read()
        #expect(stream.networkRuns == 1 && same.intensities == first.intensities && same.frameTimestamps == first.frameTimestamps)
        // New grid points: a new window, computed.
        try feed(stream, source, from: 4.8, to: 5.6, frames: &frames, video: false)
        let moved = try stream.read()
        #expect(stream.networkRuns == 2 && moved.windowEnd > first.windowEnd)
        try checkEqualsPredict(StreamTests.tiny, stream, moved, frames: frames, source: source)

        // Audio behind the video: samples arriving inside an unmoved window are used.
        var frames2: [Double: [UInt8]] = [:]
        let lagging = try ModelStream(model: StreamTests.tiny, options: StreamOptions(window: 4))
        try feed(lagging, source, from: 0, to: 5.0, frames: &frames2, audio: false)
        try feed(lagging, source, from: 0, to: 4.0, frames: &frames2, video: false)
        let before = try lagging.read()
        try feed(lagging, source, from: 4.0, to: 4.5, frames: &frames2, video: false)
        let after = try lagging.read()
        #expect(lagging.networkRuns == 2 && after.windowEnd == before.windowEnd && after.audioSampleCount > before.audioSampleCount)
        try checkEqualsPredict(StreamTests.tiny, lagging, after, frames: frames2, source: source)
        lagging.reset()
        #expect(throws: ERIError.self) { try lagging.read() }
    }

    @Test func dbnSmallReadEqualsPredict() throws {
        let model = try Model(file: ModelFile.randomlyInitialised(config: ERIConfig.small, seed: 72))
        let stream = try ModelStream(model: model, options: StreamOptions(window: 3.2))
        let source = LiveSource()
        var frames: [Double: [UInt8]] = [:]
        try feed(stream, source, from: 0, to: 4.05, frames: &frames)
        try checkEqualsPredict(model, stream, try stream.read(), frames: frames, source: source)
        // Later windows share most TCN rows with the one before (TemporalReuse, where the packed
        // kernel runs): each read still equals predict bit for bit.
        var last: StreamEstimate?
        for end in [4.6, 5.1, 5.6, 7.3] {
            try feed(stream, source, from: end - 0.5, to: end, frames: &frames)
            last = try stream.read()
            try checkEqualsPredict(model, stream, last!, frames: frames, source: source)
        }
        // Bit for bit: a stream fed the same and read once (every row computed) gives the same floats.
        var frames2: [Double: [UInt8]] = [:]
        let fresh = try ModelStream(model: model, options: StreamOptions(window: 3.2))
        try feed(fresh, source, from: 0, to: 4.05, frames: &frames2)
        for end in [4.6, 5.1, 5.6, 7.3] { try feed(fresh, source, from: end - 0.5, to: end, frames: &frames2) }
        let once = try fresh.read()
        #expect(once.windowEnd == last!.windowEnd && once.intensities.map(\.bitPattern) == last!.intensities.map(\.bitPattern))
        #expect(fresh.reuse.rows().reused == 0)
        let rows = stream.reuse.rows(), audio = stream.reuse.rows(of: "audio")
        if PackedWeights([Float](repeating: 0, count: 64), outputs: 1, inputs: 64) != nil {
            #expect(rows.reused > 0 && rows.computed > 0, "TCN rows computed \(rows.computed), reused \(rows.reused)")
            // The audio TCN's rows: the first read computes all 80 steps' rows of its 6 convolutions;
            // each 0.5 s move shifts the window by 12 or 13 steps, whose rows and those their taps
            // reach are computed again (a third to a half of them), and the 1.7 s move by 42 or 43.
            // (When the projection's rows were not the same floats at every position, none was reused.)
            let share = Double(audio.reused) / Double(audio.computed + audio.reused)
            #expect(share > 0.3, "audio TCN rows computed \(audio.computed), reused \(audio.reused)")
        } else {
            #expect(rows.reused == 0 && rows.computed == 0)
        }
    }

    @Test func otherRatesAndChannelsAreResampled() throws {
        let model = StreamTests.tiny
        let stream = try ModelStream(model: model, options: StreamOptions(window: 2))
        var source = LiveSource()
        source.sampleRate = 44100
        let frames: [Double: [UInt8]] = [:]
        // Stereo at 44.1 kHz: both channels the source, in 10 ms chunks.
        var n = 0
        while Double(n) / 44100 < 3 {
            let mono = (n..<(n + 441)).map { source.sample($0) }
            let stereo = mono.flatMap { [$0, $0 * 0.5] }
            try stereo.withUnsafeBufferPointer { try stream.pushPCM(PCMView(samples: $0, sampleRate: 44100, channels: 2), timestamp: Double(n) / 44100) }
            n += 441
        }
        let e = try stream.read()
        #expect(e.frameTimestamps.isEmpty && e.audioSampleRate == 16000)
        #expect(abs(Double(e.audioSampleCount) - 2 * 16000) < 700)
        // The stream's resampled audio matches resampling the whole signal (away from its end).
        let whole = try resample((0..<n).map { source.sample($0) * 0.75 }, from: 44100, to: 16000)
        let used = stream.lastWindowAudio()
        let reference = Array(whole[e.audioFirstSample..<(e.audioFirstSample + used.count)])
        let worst = zip(used.dropLast(64), reference).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5, "streamed vs whole-signal resampling: \(worst)")
        try checkEqualsPredict(model, stream, e, frames: frames, source: source)
    }

    @Test func cameraDropoutsAndAudioGaps() throws {
        let model = StreamTests.tiny
        let source = LiveSource()
        var frames: [Double: [UInt8]] = [:]
        // Frames stop between 2 s and 3.6 s; audio has a 0.8 s hole at 5 s.
        let stream = try tinyStream(fedUntil: 5, source, frames: &frames, skipFrames: 2.0..<3.6)
        try feed(stream, source, from: 5.8, to: 7, frames: &frames)
        let e = try stream.read()
        // Sample times 2.25 … 3.25 had no frame within a quarter second: they repeat neighbours.
        #expect(Set(e.frameTimestamps).count < 8)
        #expect(e.frameTimestamps.allSatisfy { $0 < 2.0 || $0 >= 3.6 })
        // The audio hole is silence in the window.
        let audio = stream.lastWindowAudio()
        let hole = Int(5.1 * 16000) - e.audioFirstSample
        #expect(audio[hole..<(hole + 8000)].allSatisfy { $0 == 0 })
        #expect(audio[0..<1000].contains { $0 != 0 })
        try checkEqualsPredict(model, stream, e, frames: frames, source: source)

        // A camera that stops for longer than the window: the estimate becomes audio-only.
        try feed(stream, source, from: 7, to: 12, frames: &frames, video: false)
        let audioOnly = try stream.read()
        #expect(audioOnly.frameTimestamps.isEmpty && audioOnly.audioSampleCount > 0)
        try checkEqualsPredict(model, stream, audioOnly, frames: frames, source: source)
    }

    @Test func aModalityThatNeverArrives() throws {
        let model = StreamTests.tiny
        let source = LiveSource()
        var frames: [Double: [UInt8]] = [:]
        let videoOnly = try tinyStream(fedUntil: 6, source, frames: &frames, audio: false)
        let v = try videoOnly.read()
        #expect(v.audioSampleCount == 0 && v.frameTimestamps.count == 8)
        try checkEqualsPredict(model, videoOnly, v, frames: frames, source: source)

        let audioOnly = try tinyStream(fedUntil: 6, source, frames: &frames, video: false)
        let a = try audioOnly.read()
        #expect(a.frameTimestamps.isEmpty && a.audioSampleCount == 64000)
        try checkEqualsPredict(model, audioOnly, a, frames: frames, source: source)
    }

    @Test func badTimestampsAreRefusedAndChangeNothing() throws {
        let model = StreamTests.tiny
        let source = LiveSource()
        var frames: [Double: [UInt8]] = [:]
        let stream = try tinyStream(fedUntil: 5, source, frames: &frames)
        let before = try stream.read()
        let pixels = source.frame(0)
        try pixels.withUnsafeBufferPointer { p in
            for bad in [4.96, 4.0, -1, .nan, .infinity, 1e12] {
                #expect(throws: ERIError.self) { try stream.pushFrame(source.image(p), timestamp: bad) }
            }
        }
        let pcm = [Float](repeating: 0.1, count: 320)
        try pcm.withUnsafeBufferPointer { p in
            for bad in [4.5, 0, .nan, -.infinity] {
                #expect(throws: ERIError.self) { try stream.pushPCM(PCMView(samples: p, sampleRate: 16000, channels: 1), timestamp: bad) }
            }
            let nan = [Float](repeating: .nan, count: 4)
            try nan.withUnsafeBufferPointer { n in
                #expect(throws: ERIError.self) { try stream.pushPCM(PCMView(samples: n, sampleRate: 16000, channels: 1), timestamp: 5) }
            }
            #expect(throws: ERIError.self) { try stream.pushPCM(PCMView(samples: p, sampleRate: 16000, channels: 3), timestamp: 5) }
        }
        let after = try stream.read()
        #expect(after.intensities == before.intensities && after.windowEnd == before.windowEnd)
        // Jitter within 30 ms is contiguous.
        try pcm.withUnsafeBufferPointer { try stream.pushPCM(PCMView(samples: $0, sampleRate: 16000, channels: 1), timestamp: 4.99) }
        stream.reset()
        #expect(throws: ERIError.self) { try stream.read() }
        // Options and modalities the model lacks.
        #expect(throws: ERIError.self) { try ModelStream(model: model, options: StreamOptions(window: 0)) }
        #expect(throws: ERIError.self) { try ModelStream(model: model, options: StreamOptions(window: .nan)) }
        #expect(throws: ERIError.self) { try ModelStream(model: model, options: StreamOptions(maxFrameGap: -1)) }
        let audioModel = try Model(file: ModelFile.randomlyInitialised(config: ERIConfig.tiny.audioOnly, seed: 73))
        let audioStream = try ModelStream(model: audioModel)
        #expect(audioStream.window == 10 && abs(audioStream.step - 0.04) < 1e-12)
        try pixels.withUnsafeBufferPointer { p in
            #expect(throws: ERIError.self) { try audioStream.pushFrame(source.image(p), timestamp: 0) }
        }
    }

    /// A long session keeps a bounded state; timestamps far from zero work.
    @Test func longSessionsStayBounded() throws {
        let model = StreamTests.tiny
        let stream = try ModelStream(model: model, options: StreamOptions(window: 2))
        let source = LiveSource()
        let frames: [Double: [UInt8]] = [:]
        let start = 86_400.0 * 3  // three days into the host's clock
        var maxSamples = 0, maxCells = 0, maxMFCC = 0
        var t = 0.0
        let pixels = source.frame(1)
        let pcm = (0..<1600).map { source.sample($0) }
        // 10 minutes at 5 fps and 100 ms audio chunks.
        while t < 600 {
            try pixels.withUnsafeBufferPointer { try stream.pushFrame(source.image($0), timestamp: start + t) }
            if Int((t * 10).rounded()) % 2 == 0 {
                try pcm.withUnsafeBufferPointer { try stream.pushPCM(PCMView(samples: $0, sampleRate: 16000, channels: 1), timestamp: start + t) }
                try pcm.withUnsafeBufferPointer { try stream.pushPCM(PCMView(samples: $0, sampleRate: 16000, channels: 1), timestamp: start + t + 0.1) }
            }
            if Int((t * 10).rounded()) % 50 == 0 { _ = try stream.read() }
            maxSamples = max(maxSamples, stream.audio!.held.samples)
            maxMFCC = max(maxMFCC, stream.audio!.held.mfccValues)
            maxCells = max(maxCells, stream.cells.count)
            t += 0.2
        }
        #expect(maxCells <= 8 + 2)
        #expect(maxSamples <= 3 * 2 * 16000)
        #expect(maxMFCC <= 3 * 2 * 100 * 13)
        _ = frames
        let e = try stream.read()
        #expect(e.windowEnd > start + 599 && e.frameTimestamps.count == 8)
    }

    /// A jump of the host's clock costs the cells a stream keeps, not a step per
    /// cell in between (a fuzzed file made the eviction walk ~10⁹ indices).
    @Test func clockJumpsAreCheap() throws {
        let stream = try ModelStream(model: StreamTests.tiny, options: StreamOptions(window: 2))
        let source = LiveSource()
        let pixels = source.frame(1)
        let elapsed = try ContinuousClock().measure {
            try pixels.withUnsafeBufferPointer { p in
                for t in [0.0, 0.2, 0.4, 1e8, 1e8 + 0.2, 9e8, 9e8 + 0.2] { try stream.pushFrame(source.image(p), timestamp: t) }
            }
        }
        #expect(elapsed < .seconds(5), "seven frames took \(elapsed)")
        #expect(stream.cells.count <= 8 + 2)
        #expect(stream.cells.keys.allSatisfy { Double($0) * stream.step > 8e8 })
        #expect(try stream.read().frameTimestamps.allSatisfy { $0 >= 9e8 })
    }
}
