import Foundation
import Testing
@testable import ERICore

@testable import ERITrain
@testable import ERIModel
import ERIPipeline
import ERITestSupport

/// A small Hume-Reaction-layout folder made with the ffmpeg CLI in `dir`: moving
/// test patterns with tones whose pitch follows the labels.
func makeDataset(in dir: String, clips: Int, seed: UInt64) throws -> String {
    var rng = SeededGenerator(seed: seed)
    var csv = "File_ID,Split,Adoration,Amusement,Anxiety,Disgust,Empathic-Pain,Fear,Surprise,Age\n"
    for i in 0..<clips {
        let split = i % 5 == 4 ? "val" : "train"
        for kind in ["mp4", "wav"] { try FileManager.default.createDirectory(atPath: "\(dir)/raw/\(split)/\(kind)", withIntermediateDirectories: true) }
        let labels = (0..<7).map { _ in rng.uniform(0, 1) }
        let id = String(format: "%05d", i)
        let pitch = 200 + Int(labels[1] * 600)
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1.2", "-vf", "hue=h=\(Int(labels[0] * 360))",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "\(dir)/raw/\(split)/mp4/\(id).mp4"])
        try ffmpeg(["-f", "lavfi", "-i", "sine=frequency=\(pitch):sample_rate=16000:duration=1.2", "\(dir)/raw/\(split)/wav/\(id).wav"])
        csv += "[\(id)],\(split == "val" ? "Val" : "Train")," + labels.map { String(format: "%.4f", $0) }.joined(separator: ",") + ",30\n"
    }
    try csv.write(toFile: dir + "/data_info.csv", atomically: true, encoding: .utf8)
    return dir
}

@Suite(.serialized) struct TrainTests {
    /// Made once per test process; removed when it exits.
    static let data = try! makeDataset(in: TemporaryFolder.untilExit("eri-data"), clips: 10, seed: 3)

    func options(_ out: String, epochs: Int) -> TrainOptions {
        var c = ERIConfig.tiny
        c.train.dropout = 0.1
        var o = TrainOptions(dataDirectory: Self.data, config: c, output: out)
        o.epochs = epochs
        o.batchSize = 4
        o.learningRate = 2e-3
        o.threads = 1
        o.seed = 5
        return o
    }

    /// Train 2 epochs = 1 epoch + resume + 1 epoch, bit for bit (one thread).
    @Test func resumeContinuesExactly() throws {
        ComputeThreads.take()   // the trainer runs on 1 thread; no other test may change that meanwhile
        defer { ComputeThreads.giveBack() }
        let folder = TemporaryFolder("eri-train"), dir = folder.path
        let straight = Trainer(options: options(dir + "/straight.eri", epochs: 2))
        _ = try straight.run()
        _ = try Trainer(options: options(dir + "/split.eri", epochs: 1)).run()
        var resumed = options(dir + "/split.eri", epochs: 2)
        resumed.resume = dir + "/split.eri.ckpt"
        let continued = Trainer(options: resumed)
        _ = try continued.run()
        // The history (with the withheld-modality validation of a two-branch model) survives the checkpoint.
        #expect(continued.history.count == 2)
        for (x, y) in zip(straight.history, continued.history) {
            #expect(x.validation == y.validation && x.withoutVideo == y.withoutVideo && x.withoutAudio == y.withoutAudio)
            #expect(x.withoutVideo != nil && x.withoutAudio != nil)
        }
        let a = try SafetensorsFile(path: dir + "/straight.eri.ckpt"), b = try SafetensorsFile(path: dir + "/split.eri.ckpt")
        #expect(a.metadata["epoch"] == "2" && b.metadata["epoch"] == "2")
        var compared = 0
        for e in a.entries {
            let other = try #require(b.entry(named: e.name))
            #expect(a.floats(e) == b.floats(other), "\(e.name) differs after resume")
            compared += 1
        }
        #expect(compared > 100)
        // The weights moved from their initialisation, and the best model carries provenance and metrics.
        let model = try ModelFile.load(path: dir + "/straight.eri")
        #expect(model.provenance?.contains("\"train_clips\":8") == true)
        #expect(model.metrics?.contains("mean_pcc") == true)
        let curves = try String(contentsOfFile: dir + "/straight.eri.svg", encoding: .utf8)
        #expect(curves.contains("audio withheld") && curves.contains("stroke-dasharray"))
        // Each epoch's withheld-modality validation is what evaluate() gives the saved model without that modality.
        let epoch = try #require(model.provenance.flatMap { try? JSONValue.parse($0) }?["epoch"]?.numberValue)
        let record = straight.history[Int(epoch) - 1]
        let loader = try ClipLoader(config: model.config, cacheDirectory: Self.data + "/.eri-cache")
        let val = straight.prepare(try readDataInfo(dataDirectory: Self.data).filter { $0.split == .val }, loader: loader, training: false)
        let best = try Model(file: model, threads: 1)
        #expect(try evaluate(model: best, clips: val).meanPearson == record.meanValidation)
        #expect(try evaluate(model: best, clips: val, withoutVideo: true).meanPearson == record.withoutVideo)
        #expect(try evaluate(model: best, clips: val, withoutAudio: true).meanPearson == record.withoutAudio)
        // … and the saved model's eri.metrics carries them.
        let metrics = try #require(model.metrics.flatMap { try? JSONValue.parse($0) })
        #expect(metrics["mean_pcc_without_video"]?.numberValue.map(Float.init) == record.withoutVideo)
        #expect(metrics["mean_pcc_without_audio"]?.numberValue.map(Float.init) == record.withoutAudio)
        #expect(metrics["mean_pcc"]?.numberValue.map(Float.init) == record.meanValidation)
        // The training clips' length is recorded; a stream on the model uses it as its default window.
        let trained = try Model(file: model)
        let seconds = try #require(trained.trainedClipSeconds)
        #expect(seconds >= 1 && seconds <= 7, "clip_seconds \(seconds)")
        #expect(try ModelStream(model: trained).window == seconds)
    }

    @Test func sameSeedSameWeights() throws {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        let folder = TemporaryFolder("eri-train"), dir = folder.path
        _ = try Trainer(options: options(dir + "/a.eri", epochs: 1)).run()
        _ = try Trainer(options: options(dir + "/b.eri", epochs: 1)).run()
        #expect(try ModelFile.load(path: dir + "/a.eri").tensors == ModelFile.load(path: dir + "/b.eri").tensors)
    }

    @Test func malformedRowsNameTheirLine() throws {
        let folder = TemporaryFolder("eri-csv"), dir = folder.path
        let header = "File_ID,Split,Adoration,Amusement,Anxiety,Disgust,Empathic-Pain,Fear,Surprise\n"
        for (body, needle) in [("[1],Train,0,0,0,0,0,0\n", "line 2"), ("[1],Train,0,0,0,0,0,0,0\n[2],Tran,0,0,0,0,0,0,0\n", "line 3"),
                               ("[1],Train,0,0,x,0,0,0,0\n", "Anxiety"), ("[1],Train,0,0,0,0,0,0,1.5\n", "Surprise"),
                               ("[1],Train,0,0,0,0,0,0,0\n1,Val,0,0,0,0,0,0,0\n", "duplicate")] {
            try (header + body).write(toFile: dir + "/data_info.csv", atomically: true, encoding: .utf8)
            do {
                _ = try readDataInfo(dataDirectory: dir)
                Issue.record("accepted: \(body)")
            } catch let e as ERIError {
                #expect(e.message.contains(needle), "\(e.message)")
            }
        }
        try (header + "\"[7]\",val,0.1,0.2,0.3,0.4,0.5,0.6,1\n").write(toFile: dir + "/data_info.csv", atomically: true, encoding: .utf8)
        let records = try readDataInfo(dataDirectory: dir)
        #expect(records.count == 1 && records[0].id == "7" && records[0].split == .val && records[0].video == nil)
    }

    @Test func missingClipsAreSkippedNotFatal() throws {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        let folder = TemporaryFolder("eri-skip"), dir = folder.path
        // Copy the data set, then break one clip and remove another.
        try FileManager.default.copyItem(atPath: Self.data, toPath: dir + "/data")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/data/raw/train/mp4/00000.mp4"))
        try FileManager.default.removeItem(atPath: dir + "/data/raw/train/wav/00001.wav")
        try FileManager.default.removeItem(atPath: dir + "/data/raw/train/mp4/00001.mp4")
        var o = options(dir + "/m.eri", epochs: 1)
        o.dataDirectory = dir + "/data"
        let trainer = Trainer(options: o)
        var messages: [String] = []
        trainer.log = { messages.append($0) }
        _ = try trainer.run()
        #expect(messages.contains { $0.contains("00000") && $0.contains("skipping") })
        #expect(messages.contains { $0.contains("00001") && $0.contains("skipping") })
        #expect(messages.contains { $0.contains("6 train") })
    }

    @Test func adamWMatchesTheUpdateRule() {
        // One parameter through two steps, against the formulas written out (PyTorch's AdamW).
        let spec = TensorSpec(name: "w", shape: [2, 1], kind: .weight(fanIn: 1))
        let p = Parameter(spec: spec, values: [1, -2], gradients: true)
        let adam = AdamW(parameters: [p], learningRate: 0.1, weightDecay: 0.01)
        var w: [Double] = [1, -2], m: [Double] = [0, 0], v: [Double] = [0, 0]
        for step in 1...2 {
            let g: [Double] = [0.5 * Double(step), -0.25]
            p.gradient![0] = Float(g[0]); p.gradient![1] = Float(g[1])
            adam.update()
            for i in 0..<2 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
                let mh = m[i] / (1 - pow(0.9, Double(step))), vh = v[i] / (1 - pow(0.999, Double(step)))
                w[i] = w[i] - 0.1 * 0.01 * w[i] - 0.1 * mh / (vh.squareRoot() + 1e-8)
            }
        }
        let got = p.values
        #expect(abs(Double(got[0]) - w[0]) < 1e-6 && abs(Double(got[1]) - w[1]) < 1e-6)
        // Global-norm clipping.
        p.gradient![0] = 3; p.gradient![1] = 4
        #expect(adam.clipGradients(maxNorm: 1) == 5)
        #expect(abs(p.gradient![0] - 0.6) < 1e-4 && abs(p.gradient![1] - 0.8) < 1e-4)
    }

    @Test func scheduleWarmsUpThenDecays() {
        let s = LearningRateSchedule(peak: 1, warmupSteps: 4, totalSteps: 20)
        #expect(s.rate(at: 0) == 0.25 && s.rate(at: 3) == 1)
        #expect(s.rate(at: 10) < 1 && s.rate(at: 10) > s.rate(at: 19))
        #expect(abs(s.rate(at: 20) - 0.05) < 1e-6)
    }
}
