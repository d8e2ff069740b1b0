import Testing
import ERICore
@testable import ERIModel
import ERITestSupport

/// The training backbone keeps the forward's im2col matrices for the backward
/// pass within `columnMemoryBudget`, else recomputes them: the step must not
/// depend on which, bit for bit (loss, gradients, BatchNorm running statistics).
@Suite(.serialized) struct TrainingMemoryTests {
    func step(budget: Int, threads: Int) throws -> (loss: Float, gradients: [[Float]], values: [[Float]]) {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        setComputeThreads(threads)
        let config = ERIConfig.tiny
        let parameters = Parameters(file: ModelFile.randomlyInitialised(config: config, seed: 11))
        let network = Network(training: parameters)
        network.columnMemoryBudget = budget
        let v = config.video!, a = config.audio!
        let b = 3, steps = 20
        var rng = SeededGenerator(seed: 7)
        let frames = Tensor(shape: [b, v.frames, v.channels, v.imageSize, v.imageSize],
                            data: (0..<(b * v.frames * v.channels * v.imageSize * v.imageSize)).map { _ in rng.uniform(-1, 1) })
        let mfcc = Tensor(shape: [b, steps, a.mfcc.nMFCC], data: (0..<(b * steps * a.mfcc.nMFCC)).map { _ in rng.uniform(-20, 20) })
        let targets = Tensor(shape: [b, 7], data: (0..<(b * 7)).map { _ in rng.uniform(0, 1) })
        var stepRNG = SeededGenerator(seed: 1)
        let (loss, _) = try network.step(TrainingBatch(input: NetworkInput(frames: frames, mfcc: mfcc, audioLengths: [20, 13, 7]),
                                                       targets: targets), rng: &stepRNG)
        return (loss, parameters.all.map(\.gradients), parameters.all.map(\.values))
    }

    @Test(arguments: [1, 2])
    func keptAndRecomputedColumnsAgree(threads: Int) throws {
        let kept = try step(budget: 256 << 20, threads: threads)
        let partly = try step(budget: 200 << 10, threads: threads)   // some layers' columns only
        let recomputed = try step(budget: 0, threads: threads)
        for other in [partly, recomputed] {
            #expect(other.loss == kept.loss)
            #expect(other.gradients == kept.gradients)
            #expect(other.values == kept.values)   // running statistics
        }
        #expect(kept.gradients.contains { $0.contains { $0 != 0 } })
    }
}
