import Foundation
import Testing
import ERICore
import ERIPipeline
@testable import ERIModel
import ERITestSupport

@Suite struct BatchAndThreadTests {
    /// Checks each clip's row of a batch's output against `predict` on that clip alone.
    func checkRowsEqualAlone(_ model: Model, _ batched: Tensor, _ clips: [(name: String, input: NetworkInput)]) throws {
        for (b, clip) in clips.enumerated() {
            check(clip.name, Array(batched.data[(b * 7)..<(b * 7 + 7)]), try model.predict(clip.input).data, tolerance: 1e-5)
        }
    }

    /// SPEC §5: a padded batch gives the same numbers as each clip alone,
    /// whatever the padding holds.
    @Test func paddedAudioBatchEqualsClipByClip() throws {
        let model = try Model(file: ModelFile.randomlyInitialised(config: ERIConfig.tiny.audioOnly, seed: 21))
        var rng = SeededGenerator(seed: 5)
        let t = 64, n = 13
        let lengths = [64, 40, 17, 1]
        var batch = Tensor(zeros: [lengths.count, t, n])
        var singles: [Tensor] = []
        for (b, length) in lengths.enumerated() {
            let clip = randomTensor([1, length, n]) { rng.normal() * 20 - 5 }
            singles.append(clip)
            for i in 0..<(t * n) { batch.data[b * t * n + i] = i < length * n ? clip.data[i] : 1e3 + Float(i) }  // garbage padding
        }
        let batched = try model.predict(NetworkInput(mfcc: batch, audioLengths: lengths))
        try checkRowsEqualAlone(model, batched, singles.enumerated().map { ("clip \($0) (length \(lengths[$0]))", NetworkInput(mfcc: $1)) })
    }

    /// A stream's frames go through the backbone one at a time, where the Winograd layers on
    /// dbn-small's 4×4 and 2×2 maps run im2col + GEMM on their plain weight instead
    /// (`FoldedResNet.Layer.runsDirect`); the frame vectors agree with a pass of all 16 frames,
    /// which runs them through Winograd.
    @Test func singleFramesRunDirectAndMatchTheBatch() throws {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        setComputeThreads(1)
        let config = ERIConfig.small, v = config.video!
        let model = try Model(file: ModelFile.randomlyInitialised(config: config, seed: 23))
        let folded = try #require(model.network.video?.folded)
        let layers = folded.blocks.flatMap { [$0.conv1, $0.conv2] }
        #expect(layers.contains { $0.runsDirect(images: 1) } && !layers.contains { $0.runsDirect(images: v.frames) })
        var rng = SeededGenerator(seed: 7)
        let per = v.channels * v.imageSize * v.imageSize, dim = v.dim
        let frames = (0..<(v.frames * per)).map { _ in rng.uniform(-1, 1) }
        var batched = [Float](repeating: 0, count: v.frames * dim), single = batched
        frames.withUnsafeBufferPointer { f in
            batched.withUnsafeMutableBufferPointer { model.network.frameVectors(images: v.frames, f.baseAddress!, into: $0.baseAddress!) }
            single.withUnsafeMutableBufferPointer { out in
                for i in 0..<v.frames { model.network.frameVectors(images: 1, f.baseAddress! + i * per, into: out.baseAddress! + i * dim) }
            }
        }
        check("single frames against the batch", single, batched, tolerance: 1e-5)
        #expect(single != batched, "the two paths gave the same bits: is the direct path running?")
    }

    @Test func videoBatchEqualsClipByClip() throws {
        let config = ERIConfig.tiny
        let model = try Model(file: ModelFile.randomlyInitialised(config: config, seed: 22))
        let v = config.video!
        let per = v.frames * v.channels * v.imageSize * v.imageSize
        var rng = SeededGenerator(seed: 6)
        let batch = randomTensor([3, v.frames, v.channels, v.imageSize, v.imageSize]) { rng.uniform(-1, 1) }
        let batched = try model.predict(NetworkInput(frames: batch))
        try checkRowsEqualAlone(model, batched, (0..<3).map { b in
            ("video clip \(b)", NetworkInput(frames: Tensor(shape: [1, v.frames, v.channels, v.imageSize, v.imageSize],
                                                            data: Array(batch.data[(b * per)..<((b + 1) * per)]))))
        })
    }

    /// One pass scoring both / video withheld / audio withheld equals `predict` with both inputs,
    /// with the audio alone and with the frames alone, exactly (a padded batch of 3).
    @Test func withheldScoringEqualsPredictWithoutThatInput() throws {
        try withTinyModel(seed: 24) { model, config in try checkWithheld(model, config) }
    }

    /// A randomly initialised dbn-tiny for comparisons bit for bit across calls: the thread count
    /// (process-wide; a GEMM's slices depend on it) held so that no suite beside this one changes it.
    func withTinyModel(seed: UInt64, _ body: (Model, ERIConfig) throws -> Void) throws {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        try body(try Model(file: ModelFile.randomlyInitialised(config: ERIConfig.tiny, seed: seed)), ERIConfig.tiny)
    }

    func checkWithheld(_ model: Model, _ config: ERIConfig) throws {
        let v = config.video!
        var rng = SeededGenerator(seed: 8)
        let frames = randomTensor([3, v.frames, v.channels, v.imageSize, v.imageSize]) { rng.uniform(-1, 1) }
        let mfcc = randomTensor([3, 30, 13]) { rng.normal() * 10 }
        let lengths = [30, 12, 5]
        let y = try model.predictWithheld(NetworkInput(frames: frames, mfcc: mfcc, audioLengths: lengths))
        #expect(y.both.data == (try model.predict(NetworkInput(frames: frames, mfcc: mfcc, audioLengths: lengths))).data)
        #expect(y.withoutVideo.data == (try model.predict(NetworkInput(mfcc: mfcc, audioLengths: lengths))).data)
        #expect(y.withoutAudio.data == (try model.predict(NetworkInput(frames: frames))).data)
        #expect(y.both.data != y.withoutVideo.data && y.both.data != y.withoutAudio.data)
        // It needs a two-branch model and both inputs.
        #expect(throws: ERIError.self) { try model.predictWithheld(NetworkInput(frames: frames)) }
        let audioOnly = try Model(file: ModelFile.randomlyInitialised(config: config.audioOnly, seed: 24))
        #expect(throws: ERIError.self) { try audioOnly.predictWithheld(NetworkInput(frames: frames, mfcc: mfcc)) }
    }

    /// API.md rule 5: one model, many threads at once, results bit-identical to serial.
    @Test func concurrentPredictionsAreBitIdentical() throws {
        try withTinyModel(seed: 23) { model, config in try checkConcurrent(model, config) }
    }

    func checkConcurrent(_ model: Model, _ config: ERIConfig) throws {
        let v = config.video!
        var inputs: [NetworkInput] = []
        var rng = SeededGenerator(seed: 7)
        for i in 0..<4 {
            let frames = randomTensor([1, v.frames, v.channels, v.imageSize, v.imageSize]) { rng.uniform(-1, 1) }
            let mfcc = randomTensor([1, 10 + 13 * i, 13]) { rng.normal() * 10 }
            inputs.append(NetworkInput(frames: frames, mfcc: mfcc))
        }
        let serial = try inputs.map { try model.predict($0).data }
        let results = UnsafeMutableBufferPointer<[Float]>.allocate(capacity: 4 * 25)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        let failures = NSLock()
        var errors: [String] = []
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for k in 0..<25 {
                do {
                    results[thread * 25 + k] = try model.predict(inputs[(thread + k) % 4]).data
                } catch {
                    failures.lock(); errors.append("\(error)"); failures.unlock()
                }
            }
        }
        #expect(errors.isEmpty)
        for thread in 0..<4 {
            for k in 0..<25 {
                #expect(results[thread * 25 + k] == serial[(thread + k) % 4], "thread \(thread) call \(k) differs from serial")
            }
        }
    }

    /// Several threads split a clip (`Network.concurrentBranches`): at 2 and 3 threads a
    /// two-branch and a video-only dbn-tiny give what one thread gives (to 1e-5), the same
    /// bits on every call and on concurrent calls, and exactly the same with a modality
    /// withheld as without it; an audio error raised inside a task reaches the caller.
    @Test func threadsSplitTheClipRepeatably() throws {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        let v = ERIConfig.tiny.video!
        var rng = SeededGenerator(seed: 9)
        let frames = randomTensor([2, v.frames, v.channels, v.imageSize, v.imageSize]) { rng.uniform(-1, 1) }
        let mfcc = randomTensor([2, 40, 13]) { rng.normal() * 10 }
        for config in [ERIConfig.tiny, ERIConfig.tiny.videoOnly] {
            let model = try Model(file: ModelFile.randomlyInitialised(config: config, seed: 25))
            let input = NetworkInput(frames: frames, mfcc: config.audio == nil ? nil : mfcc)
            setComputeThreads(1)
            let one = try model.predict(input).data
            for threads in [2, 3] {
                setComputeThreads(threads)
                let runs = model.network.videoRuns(batch: 2, audio: config.audio != nil)
                // One equal run per thread; with audio, the last one cut into one run per thread.
                #expect(runs.count == (config.audio == nil ? threads + 1 : 2 * threads), "\(config.presetName) at \(threads) threads: runs \(runs)")
                #expect(runs.first == 0 && runs.last == 2 * v.frames && zip(runs, runs.dropFirst()).allSatisfy { $0 < $1 })
                let y = try model.predict(input).data
                check("\(config.presetName), \(threads) threads against 1", y, one, tolerance: 1e-5)
                #expect(try model.predict(input).data == y)
                if config.audio != nil {
                    try checkWithheld(model, config)
                    try checkConcurrent(model, config)
                    #expect(throws: ERIError.self) { try model.predict(NetworkInput(frames: frames, mfcc: Tensor(zeros: [2, 40, 12]))) }
                }
            }
        }
    }

    @Test func rejectsWrongModalityAndShapes() throws {
        let audioOnly = try Model(file: ModelFile.randomlyInitialised(config: ERIConfig.tiny.audioOnly, seed: 1))
        let frames = Tensor(zeros: [1, 8, 1, 48, 48])
        #expect(throws: ERIError(.missingModality, "this model is audio-only (dbn-tiny-audio); it cannot use video frames")) {
            try audioOnly.predict(NetworkInput(frames: frames))
        }
        #expect(throws: ERIError.self) { try audioOnly.predict(NetworkInput()) }
        #expect(throws: ERIError.self) { try audioOnly.predict(NetworkInput(mfcc: Tensor(zeros: [1, 65, 13]))) }
        #expect(throws: ERIError.self) { try audioOnly.predict(NetworkInput(mfcc: Tensor(zeros: [1, 10, 12]))) }
        #expect(throws: ERIError.self) { try audioOnly.predict(NetworkInput(mfcc: Tensor(zeros: [2, 10, 13]), audioLengths: [10, 0])) }
        let videoOnly = try Model(file: ModelFile.randomlyInitialised(config: ERIConfig.tiny.videoOnly, seed: 1))
        #expect(throws: ERIError.self) { try videoOnly.predict(NetworkInput(frames: Tensor(zeros: [1, 7, 1, 48, 48]))) }
    }
}
