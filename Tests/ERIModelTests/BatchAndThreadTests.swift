import Foundation
import Testing
import ERICore
import ERIPipeline
@testable import ERIModel

@Suite struct BatchAndThreadTests {
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
            var clip = Tensor(zeros: [1, length, n])
            for i in 0..<(length * n) { clip.data[i] = rng.normal() * 20 - 5 }
            singles.append(clip)
            for i in 0..<(t * n) { batch.data[b * t * n + i] = i < length * n ? clip.data[i] : 1e3 + Float(i) }  // garbage padding
        }
        let batched = try model.predict(NetworkInput(mfcc: batch, audioLengths: lengths))
        for (b, clip) in singles.enumerated() {
            let alone = try model.predict(NetworkInput(mfcc: clip))
            check("clip \(b) (length \(lengths[b]))", Array(batched.data[(b * 7)..<(b * 7 + 7)]), alone.data, tolerance: 1e-5)
        }
    }

    @Test func videoBatchEqualsClipByClip() throws {
        let config = ERIConfig.tiny
        let model = try Model(file: ModelFile.randomlyInitialised(config: config, seed: 22))
        let v = config.video!
        let per = v.frames * v.channels * v.imageSize * v.imageSize
        var rng = SeededGenerator(seed: 6)
        var batch = Tensor(zeros: [3, v.frames, v.channels, v.imageSize, v.imageSize])
        for i in 0..<batch.count { batch.data[i] = rng.uniform(-1, 1) }
        let batched = try model.predict(NetworkInput(frames: batch))
        for b in 0..<3 {
            let clip = Tensor(shape: [1, v.frames, v.channels, v.imageSize, v.imageSize], data: Array(batch.data[(b * per)..<((b + 1) * per)]))
            let alone = try model.predict(NetworkInput(frames: clip))
            check("video clip \(b)", Array(batched.data[(b * 7)..<(b * 7 + 7)]), alone.data, tolerance: 1e-5)
        }
    }

    /// One pass scoring both / video withheld / audio withheld equals `predict` with both inputs,
    /// with the audio alone and with the frames alone, exactly (a padded batch of 3).
    @Test func withheldScoringEqualsPredictWithoutThatInput() throws {
        let config = ERIConfig.tiny
        let model = try Model(file: ModelFile.randomlyInitialised(config: config, seed: 24))
        let v = config.video!
        var rng = SeededGenerator(seed: 8)
        var frames = Tensor(zeros: [3, v.frames, v.channels, v.imageSize, v.imageSize])
        for i in 0..<frames.count { frames.data[i] = rng.uniform(-1, 1) }
        var mfcc = Tensor(zeros: [3, 30, 13])
        for i in 0..<mfcc.count { mfcc.data[i] = rng.normal() * 10 }
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
        let config = ERIConfig.tiny
        let model = try Model(file: ModelFile.randomlyInitialised(config: config, seed: 23))
        let v = config.video!
        var inputs: [NetworkInput] = []
        var rng = SeededGenerator(seed: 7)
        for i in 0..<4 {
            var frames = Tensor(zeros: [1, v.frames, v.channels, v.imageSize, v.imageSize])
            for j in 0..<frames.count { frames.data[j] = rng.uniform(-1, 1) }
            var mfcc = Tensor(zeros: [1, 10 + 13 * i, 13])
            for j in 0..<mfcc.count { mfcc.data[j] = rng.normal() * 10 }
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
