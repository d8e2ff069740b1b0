import Foundation
import Testing
import ERICore
@testable import ERIPipeline
@testable import ERIModel
import ERITestSupport

/// Issue 15 in the pipeline: many windows cost bounded memory (their number is capped, and the
/// network runs them a group at a time) without changing what each window gives.
@Suite struct PipelineLimitTests {
    /// ERI_LONG_INPUT_WINDOWS: at most Limits.maxBatchValues / (F·C·S²) windows; beyond, fewer and longer.
    @Test func windowsAreCappedByTheirFrames() throws {
        let model = try Model(file: ModelFile.randomlyInitialised(config: .tiny, seed: 1))
        let clip = ERIConfig.tiny.costs.clipValues   // 8 frames of 48² gray
        #expect(model.maxWindows == min(4096, Limits.maxBatchValues / clip))
        let (k, w) = try model.windowPlan(.windows(seconds: 0.1), duration: 1000)
        #expect(k == model.maxWindows && abs(w! - 1000 / Double(k)) < 1e-9)
        let (k2, w2) = try model.windowPlan(.windows(seconds: 10), duration: 95)
        #expect(k2 == 10 && w2 == 10)
        let base = try Model(file: ModelFile.randomlyInitialised(config: ERIConfig.base.videoOnly, seed: 1))
        #expect(base.maxWindows == 55)
    }

    /// A batch larger than the network's window group gives each clip what it gives alone.
    @Test func groupedWindowsMatchSingleClips() throws {
        var config = ERIConfig.tiny
        config.video!.frames = 64
        config.video!.imageSize = 256
        let network = Network(file: ModelFile.randomlyInitialised(config: config, seed: 3))
        let steps = 20
        let group = network.windowGroup(steps: steps)
        #expect(group >= 1 && group < 4, "group \(group)")
        let batch = group + 1
        var rng = TestRandom(seed: 5)
        let per = 64 * 256 * 256
        let frames = Tensor(shape: [batch, 64, 1, 256, 256], data: (0..<(batch * per)).map { _ in Float(rng.uniform() * 2 - 1) })
        let mfcc = Tensor(shape: [batch, steps, config.audio!.mfcc.nMFCC],
                          data: (0..<(batch * steps * config.audio!.mfcc.nMFCC)).map { _ in Float(rng.uniform() * 40 - 20) })
        let lengths = (0..<batch).map { steps - $0 }
        let all = try network.forward(NetworkInput(frames: frames, mfcc: mfcc, audioLengths: lengths))
        #expect(all.shape == [batch, 7])
        for b in 0..<batch {
            let one = try network.forward(NetworkInput(frames: frames, mfcc: mfcc, audioLengths: lengths).clips(b..<(b + 1)))
            let worst = zip(one.data, all.data[(b * 7)..<((b + 1) * 7)]).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-5, "clip \(b): \(worst)")
        }
    }
}
