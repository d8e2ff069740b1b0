import Foundation
import Testing
@testable import ERICore

@testable import ERITrain
@testable import ERIModel
import ERITestSupport

/// The staged recipe: --init-from, per-group learning rates, the backbone freeze.
@Suite(.serialized) struct StagedTests {
    @Test func initFromCopiesExactlyTheBranchTensors() throws {
        let folder = TemporaryFolder("eri-staged"), dir = folder.path
        let c = ERIConfig.tiny
        try ModelFile.randomlyInitialised(config: c.audioOnly, seed: 11).save(path: dir + "/audio.eri")
        try ModelFile.randomlyInitialised(config: c.videoOnly, seed: 12).save(path: dir + "/video.eri")
        let audio = try ModelFile.load(path: dir + "/audio.eri"), video = try ModelFile.load(path: dir + "/video.eri")
        let fresh = ModelFile.randomlyInitialised(config: c, seed: 13)
        var file = fresh
        let copied = try initialiseBranches(&file, from: [dir + "/audio.eri", dir + "/video.eri"])
        #expect(copied.prefixes == ["audio.", "video."])
        var counts = (audio: 0, video: 0, head: 0)
        for spec in c.tensorSpecs {
            let t = try #require(file.tensors[spec.name])
            if spec.name.hasPrefix("audio.") {
                #expect(t == audio.tensors[spec.name], "\(spec.name) is not the audio model's"); counts.audio += 1
            } else if spec.name.hasPrefix("video.") {
                #expect(t == video.tensors[spec.name], "\(spec.name) is not the video model's"); counts.video += 1
            } else {
                #expect(t == fresh.tensors[spec.name], "\(spec.name) changed"); counts.head += 1
            }
        }
        #expect(counts.audio == c.audioOnly.tensorSpecs.filter { $0.name.hasPrefix("audio.") }.count && counts.audio > 10)
        #expect(counts.video == c.videoOnly.tensorSpecs.filter { $0.name.hasPrefix("video.") }.count && counts.video > 10)
        #expect(counts.head == 4)
        // The same config gives its head too (fine-tuning a finished model).
        try ModelFile.randomlyInitialised(config: c, seed: 14).save(path: dir + "/both.eri")
        var whole = fresh
        _ = try initialiseBranches(&whole, from: [dir + "/both.eri"])
        #expect(whole.tensors == (try ModelFile.load(path: dir + "/both.eri")).tensors)
    }

    @Test func initFromRefusesWhatDoesNotFit() throws {
        let folder = TemporaryFolder("eri-staged"), dir = folder.path
        try ModelFile.randomlyInitialised(config: ERIConfig.small.videoOnly, seed: 1).save(path: dir + "/small-video.eri")
        try ModelFile.randomlyInitialised(config: ERIConfig.tiny.videoOnly, seed: 2).save(path: dir + "/tiny-video.eri")
        try ModelFile.randomlyInitialised(config: ERIConfig.tiny, seed: 3).save(path: dir + "/tiny-both.eri")
        func message(_ target: ERIConfig, _ paths: [String]) -> String {
            var file = ModelFile.randomlyInitialised(config: target, seed: 0)
            do { _ = try initialiseBranches(&file, from: paths.map { dir + "/" + $0 }); return "" } catch let e as ERIError {
                return e.message
            } catch { return "\(error)" }
        }
        #expect(message(ERIConfig.tiny, ["small-video.eri"]).contains("configured differently"))
        #expect(message(ERIConfig.tiny.audioOnly, ["tiny-video.eri"]).contains("has none"))
        #expect(message(ERIConfig.tiny, ["tiny-video.eri", "tiny-both.eri"]).contains("give the video weights"))
        #expect(message(ERIConfig.tiny, ["missing.eri"]).contains("missing.eri"))
    }

    /// One AdamW step with factors per group, against the update rule written out in double
    /// (first step: m̂ = g, v̂ = g²), with the global-norm clipping over the updated parameters only.
    @Test func groupRatesScaleTheStep() {
        let c = ERIConfig.tiny
        let parameters = Parameters(file: ModelFile.randomlyInitialised(config: c, seed: 4))
        var rng = SeededGenerator(seed: 9)
        for p in parameters.all { for i in 0..<p.count { p.gradient![i] = rng.uniform(-1, 1) } }
        let before = parameters.all.map(\.values), gradients = parameters.all.map(\.gradients)
        let adam = AdamW(parameters: parameters.all, learningRate: 1e-3, weightDecay: 0.05)
        let rates = GroupRates(backbone: 0.25, temporal: 2, head: 0.5)
        adam.rateScales = rates.scales(for: adam.parameters, freezeBackbone: false)
        // Freeze the backbone instead: the factors of the others stay.
        adam.rateScales = rates.scales(for: adam.parameters, freezeBackbone: true)
        var total = 0.0
        for (p, g) in zip(parameters.all, gradients) where p.trainable && !p.name.hasPrefix("video.backbone.") {
            for x in g { total += Double(x) * Double(x) }
        }
        let norm = total.squareRoot(), clip = norm > 1 ? 1 / (norm + 1e-6) : 1
        #expect(abs(Double(adam.clipGradients(maxNorm: 1)) - norm) < 1e-3 * norm)
        adam.update()
        var checked = [ParameterGroup: Int]()
        for (k, p) in parameters.all.enumerated() {
            let after = p.values
            guard p.trainable else { #expect(after == before[k]); continue }
            let group = ParameterGroup(parameterNamed: p.name)
            let factor: Double = group == .backbone ? 0 : Double(rates[group])
            let lr = 1e-3 * factor, decay = p.shape.count > 1 ? lr * 0.05 : 0
            var worst = 0.0
            for i in 0..<p.count {
                let g = Double(gradients[k][i]) * clip, w = Double(before[k][i])
                let expected = factor == 0 ? w : w - decay * w - lr * g / (abs(g) + 1e-8)
                worst = max(worst, abs(Double(after[i]) - expected))
            }
            #expect(worst < 2e-7, "\(p.name): off by \(worst)")
            if group == .backbone { #expect(after == before[k], "\(p.name) moved while frozen") }
            checked[group, default: 0] += 1
        }
        #expect(checked[.backbone]! > 10 && checked[.temporal]! > 10 && checked[.head]! == 4)
    }

    /// `freezeBackboneEpochs`: a trained model's backbone parameters are still the ones it started
    /// from (its BatchNorm running statistics follow the batches), everything else moved.
    @Test func frozenBackboneDoesNotMove() throws {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        let folder = TemporaryFolder("eri-staged"), dir = folder.path
        var o = TrainOptions(dataDirectory: TrainTests.data, config: ERIConfig.tiny, output: dir + "/frozen.eri")
        o.epochs = 1; o.batchSize = 4; o.learningRate = 2e-3; o.threads = 1; o.seed = 5
        o.freezeBackboneEpochs = 1
        o.groupRates = GroupRates(backbone: 1, temporal: 1, head: 3)
        let trainer = Trainer(options: o)
        var messages: [String] = []
        trainer.log = { messages.append($0) }
        _ = try trainer.run()
        #expect(messages.contains { $0.contains("frozen") })
        let start = ModelFile.randomlyInitialised(config: o.config, seed: o.seed)
        let trained = try ModelFile.load(path: o.output)
        var frozen = 0, moved = 0
        for spec in o.config.tensorSpecs where spec.isTrainable {
            if spec.name.hasPrefix("video.backbone.") {
                #expect(trained.tensors[spec.name] == start.tensors[spec.name], "\(spec.name) moved"); frozen += 1
            } else if trained.tensors[spec.name] != start.tensors[spec.name] { moved += 1 }
        }
        #expect(frozen > 10 && moved > 20)
    }
}
