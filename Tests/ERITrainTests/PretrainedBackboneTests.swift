import Foundation
import Testing
@testable import ERICore
import ERIModel
import ERIPipeline
import ERITrain
import ERITestSupport

/// Pretrained backbones (issue 14): torchvision's own ResNet (reference/torchvision_resnet.py runs
/// its resnet.py from the pinned wheel, random weights, BatchNorm statistics randomised) read from
/// its torch.save file and from .safetensors, against liberi's backbone on the same images.
@Suite struct PretrainedBackboneTests {
    static let frames = 2

    /// dbn-base video-only with two frames per clip: the two oracle images are one clip.
    static func model(from path: String, seed: UInt64 = 1) throws -> (ModelFile, String) {
        let pretrained = try PretrainedBackbone(path: path)
        var config = ERIConfig.base.videoOnly
        config.video!.frames = frames
        config = try pretrained.configure(config)
        var file = ModelFile.randomlyInitialised(config: config, seed: seed)
        let log = try pretrained.load(into: &file)
        return (file, log)
    }

    @Test(arguments: ["resnet.pth", "resnet.safetensors"])
    func torchvisionResNet18GivesTheSameFeatureMap(_ name: String) throws {
        let dir = try Oracle.cachedCase("torchvision_resnet.py", ["--arch", "resnet18", "--seed", "3", "--images", "\(Self.frames)", "--size", "112"])
        let (file, log) = try Self.model(from: dir + "/" + name)
        #expect(log.contains("stem 64 × 7×7, widths [64, 128, 256, 512], blocks [2, 2, 2, 2], 100 tensors"), "\(log)")
        #expect(file.config.video!.backbone.stemKernel == 7)
        // The configuration survives a save and a load (stem_kernel in the config JSON).
        let folder = TemporaryFolder("eri-pretrained")
        try file.save(path: folder.path + "/m.eri")
        let model = try Model(path: folder.path + "/m.eri")
        let images = try readFloats(dir + "/images.f32")
        let tokens = try model.backboneTokens(frames: Tensor(shape: [1, Self.frames, 3, 112, 112], data: images))   // (N, h·w, C)
        let features = try readFloats(dir + "/features.f32")                                                          // (N, C, h, w)
        let (c, hw) = (512, 16)
        #expect(tokens.shape == [Self.frames, hw, c])
        var want = [Float](repeating: 0, count: features.count)
        for n in 0..<Self.frames { for ch in 0..<c { for p in 0..<hw { want[(n * hw + p) * c + ch] = features[(n * c + ch) * hw + p] } } }
        _ = check("torchvision resnet18 (\(name)) layer4 vs liberi's backbone", tokens.data, want, tolerance: 1e-4)
    }

    /// A model started from the checkpoint trains (its backbone moves, the loss is finite) and,
    /// saved, predicts seven intensities in [0, 1].
    @Test func aModelFromTheCheckpointTrainsAndPredicts() throws {
        let dir = try Oracle.cachedCase("torchvision_resnet.py", ["--arch", "resnet18", "--seed", "3", "--images", "\(Self.frames)", "--size", "112"])
        let (file, _) = try Self.model(from: dir + "/resnet.pth")
        let parameters = Parameters(file: file)
        let network = Network(training: parameters)
        let optimiser = AdamW(parameters: parameters.all, learningRate: 1e-3)
        let schedule = LearningRateSchedule(peak: 1e-3, warmupSteps: 1, totalSteps: 3)
        var rng = SeededGenerator(seed: 5)
        let frames = Tensor(shape: [2, Self.frames, 3, 112, 112], data: (0..<(2 * Self.frames * 3 * 112 * 112)).map { _ in rng.uniform(-1, 1) })
        let targets = Tensor(shape: [2, 7], data: (0..<14).map { _ in rng.uniform(0, 1) })
        let before = file.tensors["video.backbone.stem.conv.weight"]!.data
        var losses: [Float] = []
        for _ in 0..<3 {
            losses.append(try optimisationStep(network, TrainingBatch(input: NetworkInput(frames: frames), targets: targets), optimiser: optimiser,
                                               schedule: schedule, clipNorm: 1, rng: &rng))
        }
        #expect(losses.allSatisfy { $0.isFinite })
        let trained = parameters.modelFile()
        #expect(trained.tensors["video.backbone.stem.conv.weight"]!.data != before)
        let y = try Model(file: trained).predict(NetworkInput(frames: Tensor(shape: [1, Self.frames, 3, 112, 112], data: Array(frames.data[0..<(Self.frames * 3 * 112 * 112)]))))
        #expect(y.shape == [1, 7] && y.data.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    /// The torch.save reader on a small state dict: a strided view (sizes, strides and offset of a
    /// shared storage), float16, float64, a scalar, an integer tensor left out; then the file with
    /// bytes changed at random, cut short and grown: an error or a result, never a crash.
    @Test func torchSaveReaderReadsViewsAndSurvivesDamage() throws {
        let dir = try Oracle.cachedCase("torchvision_resnet.py", ["--arch", "resnet18", "--seed", "3", "--images", "\(Self.frames)", "--size", "112"])
        let checkpoint = try TorchCheckpoint(path: dir + "/small.pth")
        // base = arange(24).reshape(4, 6); t = base[1:, ::2].t(): 3 × 3, t[i][j] = base[1 + j][2i].
        #expect(checkpoint.tensors["t"]?.shape == [3, 3])
        var transposed: [Float] = []
        for i in 0..<3 { for j in 0..<3 { transposed.append(Float((1 + j) * 6 + 2 * i)) } }
        #expect(checkpoint.tensors["t"]?.data == transposed)
        #expect(checkpoint.tensors["h"]?.data == [0.5, -2])
        #expect(checkpoint.tensors["d"]?.data == [1.25] && checkpoint.tensors["d"]?.shape == [1, 1])
        #expect(checkpoint.tensors["s"]?.data == [7.5] && checkpoint.tensors["s"]?.shape == [])
        #expect(checkpoint.skipped == ["n"])
        let folder = TemporaryFolder("eri-torch-damage")
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/small.pth")))
        var rng = SeededGenerator(seed: 9)
        var outcomes = (read: 0, refused: 0)
        for trial in 0..<400 {
            var bytes = original
            switch trial % 3 {
            case 0: for _ in 0..<(1 + trial % 4) { bytes[Int(rng.uniform(0, Float(bytes.count - 1)))] = UInt8(Int(rng.uniform(0, 255.99))) }
            case 1: bytes = Array(bytes.prefix(Int(rng.uniform(0, Float(bytes.count)))))
            default: bytes += (0..<Int(rng.uniform(1, 64))).map { _ in UInt8(Int(rng.uniform(0, 255.99))) }
            }
            let path = folder.path + "/damaged.pth"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do { _ = try TorchCheckpoint(path: path); outcomes.read += 1 } catch is ERIError { outcomes.refused += 1 }
        }
        #expect(outcomes.read + outcomes.refused == 400 && outcomes.refused > 0)

        // A pickle that only pushes: refused at the stack's bound, not grown without one.
        let pushes = [UInt8]([0x80, 2]) + [UInt8](repeating: 0x4E, count: Unpickler.maxStack + 1) + [0x2E]
        let message = pushes.withUnsafeBytes { raw -> String? in
            var unpickler = Unpickler(bytes: raw, path: "pushes.pkl", storage: { _ in throw ERIError.invalidArgument("no storage") })
            do { _ = try unpickler.load(); return nil } catch let e as ERIError { return "\(e)" } catch { return "\(error)" }
        }
        #expect(message?.contains("values on the stack") == true, "\(message ?? "read")")
    }

    /// What does not fit is refused, naming the file and the tensor.
    @Test func misfitsAreRefusedWithAMessage() throws {
        let folder = TemporaryFolder("eri-pretrained-bad"), dir = folder.path
        func expectError(_ path: String, _ fragment: String, gray: Bool = false) {
            do {
                let pretrained = try PretrainedBackbone(path: path)
                var config = ERIConfig.base.videoOnly
                if gray { config.video!.color = .gray; config.video!.mean = [0.5]; config.video!.std = [0.5] }
                var file = ModelFile.randomlyInitialised(config: try pretrained.configure(config), seed: 1)
                _ = try pretrained.load(into: &file)
                Issue.record("\(path) was accepted")
            } catch let e as ERIError {
                #expect(e.message.contains(fragment), "\(e.message)")
            } catch { Issue.record("\(error)") }
        }
        func write(_ name: String, _ tensors: [(String, [Int])]) throws -> String {
            try writeSafetensors(path: dir + "/" + name, tensors: tensors.map { NamedTensor(name: $0.0, shape: $0.1, values: [Float](repeating: 0.1, count: $0.1.reduce(1, *))) },
                                 metadata: [])
            return dir + "/" + name
        }
        let oracle = try Oracle.cachedCase("torchvision_resnet.py", ["--arch", "resnet18", "--seed", "3", "--images", "\(Self.frames)", "--size", "112"])
        expectError(oracle + "/resnet.pth", "stem takes 3 channels; the model's video is gray", gray: true)
        expectError(try write("bottleneck.safetensors", [("conv1.weight", [64, 3, 7, 7]), ("layer1.0.conv1.weight", [64, 64, 1, 1]),
                                                         ("layer1.0.conv3.weight", [256, 64, 1, 1])]), "Bottleneck")
        expectError(try write("nostem.safetensors", [("features.0.weight", [8, 3, 3, 3])]), "no conv1.weight")
        expectError(try write("partial.safetensors", [("conv1.weight", [64, 3, 7, 7]), ("layer1.0.conv1.weight", [64, 64, 3, 3])]),
                    "bn1.weight (for video.backbone.stem.bn.weight) is missing")
        let text = dir + "/text.pth"
        try "not a checkpoint".write(toFile: text, atomically: true, encoding: .utf8)
        expectError(text, "not a PyTorch checkpoint")
        // A torch.save file cut short: its zip directory is gone.
        let whole = try Data(contentsOf: URL(fileURLWithPath: oracle + "/resnet.pth"))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: dir + "/cut.pth"))
        expectError(dir + "/cut.pth", "not a PyTorch checkpoint")
    }
}
