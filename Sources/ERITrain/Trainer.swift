import ERICore
import ERIMedia
import ERIModel
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

/// What `eri train` asks for.
public struct TrainOptions: Sendable {
    public var dataDirectory: String
    public var config: ERIConfig
    public var epochs = 10
    public var batchSize = 8
    public var learningRate: Float = 1e-3
    /// AdamW's decoupled weight decay (`TrainOptions.defaultWeightDecay`: PyTorch's AdamW default).
    public var weightDecay: Float = TrainOptions.defaultWeightDecay
    public static let defaultWeightDecay: Float = 0.01
    public var clipNorm: Float = 1.0
    public var threads = 0
    public var seed: UInt64 = 0
    public var output: String
    public var resume: String? = nil
    public var cacheDirectory: String? = nil
    /// Where the training faces come from (SPEC §4.1a), as for a prediction: `.auto` searches
    /// with the detector when one is installed, `.detect` requires it, `.none` takes the centred square.
    public var faces: FaceMode = .auto
    /// The detector's weights (nil: $ERI_FACE_MODEL, else the installed ones).
    public var faceModel: String? = nil
    public var recipe = ""
    /// The staged recipe: models whose branches initialise this one (`initialiseBranches`).
    public var initFrom: [String] = []
    /// Learning-rate factors per parameter group (backbone, temporal layers, head).
    public var groupRates = GroupRates()
    /// The video backbone is frozen (not updated) for this many first epochs.
    public var freezeBackboneEpochs = 0
    /// A pretrained ResNet the video backbone starts from (`config` already `configure`d with it).
    public var pretrainedBackbone: PretrainedBackbone? = nil
    /// Each residual block's last BatchNorm scale (`bn2.weight`) starts at 0, so every block
    /// starts as its shortcut (torchvision's `zero_init_residual`); only for a backbone
    /// trained from random weights (not one from --init-from or --backbone).
    public var zeroInitResidual = false
    public init(dataDirectory: String, config: ERIConfig, output: String) {
        self.dataDirectory = dataDirectory; self.config = config; self.output = output
    }
}

/// Evaluation of a model on clips: Pearson r per emotion and its mean (SPEC §1), MSE.
public struct Evaluation: Sendable {
    public var pearson: [Float]
    public var meanPearson: Float { pearson.reduce(0, +) / Float(max(pearson.count, 1)) }
    public var mse: Float
    public var predictions: [[Float]]
    public var clips: [ClipRecord]

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("mean_pcc", .number(Double(meanPearson))), ("mse", .number(Double(mse))), ("clips", .number(Double(clips.count)))]
        for (n, r) in zip(ERIConfig.emotionNames, pearson) { members.append(("pcc." + n, .number(Double(r)))) }
        return .object(members)
    }
}

/// Runs the network in inference mode (running BatchNorm statistics, no dropout) over prepared clips.
/// `withoutVideo` / `withoutAudio` withhold that modality, as when a camera or microphone fails
/// (the model then sees a zero vector for it, SPEC §5).
public func evaluate(model: Model, clips: [PreparedClip], batchSize: Int = 16,
                     withoutVideo: Bool = false, withoutAudio: Bool = false) throws -> Evaluation {
    var predictions: [[Float]] = []
    try forEachBatch(model: model, clips: clips, batchSize: batchSize) { input in
        var input = input
        if withoutVideo { input.frames = nil }
        if withoutAudio { input.mfcc = nil; input.audioLengths = nil }
        predictions += rows(try model.predict(input))
    }
    return scored(predictions, clips)
}

/// A two-branch model scored with both modalities, with the video withheld and with the audio
/// withheld, in one pass over the clips (each branch runs once): the three `evaluate` results.
public func evaluateWithheld(model: Model, clips: [PreparedClip], batchSize: Int = 16) throws
    -> (both: Evaluation, withoutVideo: Evaluation, withoutAudio: Evaluation) {
    var both: [[Float]] = [], noVideo: [[Float]] = [], noAudio: [[Float]] = []
    try forEachBatch(model: model, clips: clips, batchSize: batchSize) { input in
        let y = try model.predictWithheld(input)
        both += rows(y.both); noVideo += rows(y.withoutVideo); noAudio += rows(y.withoutAudio)
    }
    return (scored(both, clips), scored(noVideo, clips), scored(noAudio, clips))
}

private func forEachBatch(model: Model, clips: [PreparedClip], batchSize: Int, _ body: (NetworkInput) throws -> Void) throws {
    let batcher = Batcher(config: model.config)
    var rng = SeededGenerator(seed: 0)
    var start = 0
    while start < clips.count {
        let part = Array(clips[start..<min(clips.count, start + batchSize)])
        try body(batcher.batch(part, training: false, rng: &rng).input)
        start += batchSize
    }
}

private func rows(_ y: Tensor) -> [[Float]] {
    let k = ERIConfig.emotionCount
    return (0..<y.shape[0]).map { i in Array(y.data[(i * k)..<(i * k + k)]) }
}

private func scored(_ predictions: [[Float]], _ clips: [PreparedClip]) -> Evaluation {
    let flat = predictions.flatMap { $0 }, labels = clips.flatMap { $0.record.labels }
    var mse: Float = 0
    for i in 0..<flat.count { mse += (flat[i] - labels[i]) * (flat[i] - labels[i]) }
    return Evaluation(pearson: pearsonPerEmotion(predictions: flat, labels: labels, count: clips.count),
                      mse: flat.isEmpty ? 0 : mse / Float(flat.count), predictions: predictions, clips: clips.map(\.record))
}

/// Progress of a training run, for the CLI's bar.
public struct TrainProgress: Sendable {
    public var epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int
    public var loss: Float, clipsPerSecond: Double, secondsLeft: Double
}

public struct EpochRecord: Sendable {
    public var epoch: Int, trainLoss: Float, validation: [Float]  // per emotion
    /// For a two-branch model: validation mean PCC with the video / the audio withheld
    /// (a zero vector in its place, SPEC §5), to watch robustness to a failed camera or microphone.
    public var withoutVideo: Float? = nil, withoutAudio: Float? = nil
    public var meanValidation: Float { validation.reduce(0, +) / Float(max(1, validation.count)) }
    public init(epoch: Int, trainLoss: Float, validation: [Float], withoutVideo: Float? = nil, withoutAudio: Float? = nil) {
        self.epoch = epoch; self.trainLoss = trainLoss; self.validation = validation
        self.withoutVideo = withoutVideo; self.withoutAudio = withoutAudio
    }
}

/// The training loop: AdamW with warm-up + cosine, global-norm clipping,
/// seeded and deterministic for a given seed and thread count; a checkpoint
/// (weights + optimiser state) after every epoch, written atomically; the
/// best model by validation mean PCC written to `output`.
public final class Trainer {
    public let options: TrainOptions
    public var log: (String) -> Void = { _ in }
    public var onProgress: (TrainProgress) -> Void = { _ in }
    public private(set) var history: [EpochRecord] = []

    public init(options: TrainOptions) { self.options = options }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Loads every clip of `split`, reporting and skipping the ones that fail.
    func prepare(_ records: [ClipRecord], loader: ClipLoader, training: Bool) -> [PreparedClip] {
        var out: [PreparedClip] = []
        for r in records {
            do { out.append(try loader.load(r, training: training)) } catch let e as ERIError {
                log("skipping clip \(r.id) (data_info.csv line \(r.line)): \(e.message)")
            } catch { log("skipping clip \(r.id): \(error)") }
        }
        return out
    }

    public func run() throws -> (best: Evaluation?, model: ModelFile) {
        let o = options
        if o.threads > 0 { setComputeThreads(o.threads) }
        let records = try readDataInfo(dataDirectory: o.dataDirectory)
        let loader = try ClipLoader(config: o.config, cacheDirectory: o.cacheDirectory ?? o.dataDirectory + "/.eri-cache",
                                    faces: o.faces, faceModel: o.faceModel)
        if let why = loader.noDetector {
            log("warning: no face detector installed (\(why)): the model is trained on the centred square of each frame "
                + "(run `make models` or set ERI_FACE_MODEL; --faces none says this is meant)")
        }
        let trainClips = prepare(records.filter { $0.split == .train }, loader: loader, training: true)
        let valClips = prepare(records.filter { $0.split == .val }, loader: loader, training: false)
        clipSeconds = medianDuration(trainClips.map(\.record))
        guard !trainClips.isEmpty else { throw ERIError.invalidArgument("\(o.dataDirectory): no usable training clips") }
        log("clips: \(trainClips.count) train, \(valClips.count) val")
        faceCounts = (FaceCounts(trainClips), FaceCounts(valClips))
        searchedFaces = loader.searchesFaces
        if o.config.video != nil {
            if loader.searchesFaces {
                log("faces: detected in \(percent(faceCounts.train.rate)) of \(faceCounts.train.frames) train frames "
                    + "(\(faceCounts.train.clipsWithoutFace) of \(faceCounts.train.clips) clips without any: centred square), "
                    + "\(percent(faceCounts.val.rate)) of \(faceCounts.val.frames) val frames "
                    + "(\(faceCounts.val.clipsWithoutFace) of \(faceCounts.val.clips) clips without any); \(o.config.video!.face.rawValue) faces")
            } else {
                log("faces: not searched (--faces \(o.faces == .none ? "none" : "auto, no detector")): the centred square of every frame")
            }
        }

        // Parameters: from the checkpoint, or initialised with the training split's MFCC statistics.
        var file = ModelFile.randomlyInitialised(config: o.config, seed: o.seed)
        var startEpoch = 0, bestMean = -Float.infinity
        var checkpoint: SafetensorsFile? = nil
        if let resume = o.resume {
            let ck = try SafetensorsFile(path: resume)
            guard ck.metadata["format"] == "eri-checkpoint", let text = ck.metadata["eri.config"],
                  try ERIConfig(jsonText: text) == o.config else {
                throw ERIError.format("\(resume): not a checkpoint of this config")
            }
            for spec in o.config.tensorSpecs {
                guard let e = ck.entry(named: spec.name), e.shape == spec.shape else { throw ERIError.format("\(resume): missing \(spec.name)") }
                file.tensors[spec.name] = Tensor(shape: e.shape, data: ck.floats(e))
            }
            startEpoch = Int(ck.metadata["epoch"] ?? "") ?? 0
            bestMean = Float(ck.metadata["best_mean_pcc"] ?? "") ?? -.infinity
            history = parseHistory(ck.metadata["history"] ?? "")
            checkpoint = ck
        } else {
            var copied: Set<String> = []
            if !o.initFrom.isEmpty {
                let result = try initialiseBranches(&file, from: o.initFrom)
                for line in result.log { log(line) }
                copied = result.prefixes
            }
            // A video branch from --init-from brings its backbone (the staged recipe's third
            // stage: the video stage started from the pretrained one); else the file's is copied.
            if let pretrained = o.pretrainedBackbone, o.config.video != nil {
                if copied.contains("video.") {
                    log("video backbone: from --init-from, not \(pretrained.path) again")
                } else {
                    log(try pretrained.load(into: &file))
                }
            }
            if o.zeroInitResidual, let v = o.config.video {
                if copied.contains("video.") || o.pretrainedBackbone != nil {
                    log("--zero-init-residual: not applied, the video backbone starts from "
                        + (copied.contains("video.") ? "--init-from" : o.pretrainedBackbone!.path))
                } else {
                    for block in v.backboneBlocks { file.tensors[block.prefix + ".bn2.weight"] = Tensor(zeros: [block.outputs]) }
                    log("video backbone: its \(v.backboneBlocks.count) residual blocks start as their shortcuts (bn2 scales 0)")
                }
            }
            let initialised = copied.contains("audio.")
            // An audio branch from --init-from keeps the normalisation it was trained with.
            if let a = o.config.audio, !initialised {
                let (mean, std) = mfccStatistics(trainClips, coefficients: a.mfcc.nMFCC)
                file.tensors["audio.norm.mean"] = Tensor(shape: [mean.count], data: mean)
                file.tensors["audio.norm.std"] = Tensor(shape: [std.count], data: std)
            }
        }
        let parameters = Parameters(file: file)
        let network = Network(training: parameters)
        let optimiser = AdamW(parameters: parameters.all, learningRate: o.learningRate, weightDecay: o.weightDecay)
        let stepsPerEpoch = (trainClips.count + o.batchSize - 1) / o.batchSize
        let schedule = LearningRateSchedule(peak: o.learningRate, warmupSteps: max(1, stepsPerEpoch / 2), totalSteps: stepsPerEpoch * o.epochs)
        if let checkpoint { try optimiser.restore(from: checkpoint, step: startEpoch * stepsPerEpoch) }
        let batcher = Batcher(config: o.config)
        var best: Evaluation? = nil
        var bestFile: ModelFile? = nil

        for epoch in startEpoch..<o.epochs {
            // Each epoch's shuffling, augmentation and dropout come from (seed, epoch) alone,
            // so a resumed run continues exactly.
            var rng = SeededGenerator(seed: o.seed &* 0x9E37_79B9 &+ UInt64(epoch) &+ 1)
            var order = Array(0..<trainClips.count)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            optimiser.rateScales = o.groupRates.scales(for: optimiser.parameters, freezeBackbone: epoch < o.freezeBackboneEpochs)
            if epoch == startEpoch && o.groupRates != GroupRates() {
                log("learning-rate factors: backbone \(o.groupRates.backbone), temporal layers \(o.groupRates.temporal), head \(o.groupRates.head)")
            }
            if epoch == 0 && o.freezeBackboneEpochs > 0 && o.config.video != nil {
                log("video backbone frozen for the first \(o.freezeBackboneEpochs) epoch\(o.freezeBackboneEpochs == 1 ? "" : "s")")
            }
            let started = Trainer.now()
            var lossSum: Float = 0
            for s in 0..<stepsPerEpoch {
                let part = order[(s * o.batchSize)..<min(order.count, (s + 1) * o.batchSize)].map { trainClips[$0] }
                let batch = batcher.batch(part, training: true, rng: &rng)
                lossSum += try optimisationStep(network, batch, optimiser: optimiser, schedule: schedule, clipNorm: o.clipNorm, rng: &rng)
                let elapsed = Trainer.now() - started
                let done = min((s + 1) * o.batchSize, trainClips.count)
                onProgress(TrainProgress(epoch: epoch + 1, epochs: o.epochs, step: s + 1, stepsPerEpoch: stepsPerEpoch,
                                         loss: lossSum / Float(s + 1), clipsPerSecond: Double(done) / max(elapsed, 1e-9),
                                         secondsLeft: elapsed / Double(s + 1) * Double(stepsPerEpoch * (o.epochs - epoch) - s - 1)))
            }
            let snapshot = parameters.modelFile()
            var validation = [Float](repeating: 0, count: ERIConfig.emotionCount)
            var evaluation: Evaluation? = nil
            var withheld: (video: Float, audio: Float)? = nil
            if !valClips.isEmpty {
                let model = try Model(file: snapshot, threads: o.threads)
                if o.config.video != nil && o.config.audio != nil {  // the loader gives every clip both modalities
                    let e = try evaluateWithheld(model: model, clips: valClips)
                    evaluation = e.both
                    withheld = (e.withoutVideo.meanPearson, e.withoutAudio.meanPearson)
                } else {
                    evaluation = try evaluate(model: model, clips: valClips)
                }
                validation = evaluation!.pearson
            }
            let record = EpochRecord(epoch: epoch + 1, trainLoss: lossSum / Float(stepsPerEpoch), validation: validation,
                                     withoutVideo: withheld?.video, withoutAudio: withheld?.audio)
            history.append(record)
            let withheldText = withheld.map { "; without video \(format($0.video)), without audio \(format($0.audio))" } ?? ""
            log("epoch \(epoch + 1)/\(o.epochs): train loss \(format(record.trainLoss)), val mean PCC \(format(record.meanValidation)) ("
                + zip(ERIConfig.emotionNames, validation).map { "\($0) \(format($1))" }.joined(separator: ", ") + ")" + withheldText)
            if record.meanValidation > bestMean || bestFile == nil && o.resume == nil && epoch == startEpoch {
                bestMean = max(bestMean, record.meanValidation)
                best = evaluation
                bestFile = snapshot
                try saveModel(snapshot, evaluation: evaluation, withheld: withheld,
                              trainCount: trainClips.count, valCount: valClips.count, epoch: epoch + 1)
            }
            try saveCheckpoint(parameters: parameters, optimiser: optimiser, epoch: epoch + 1, bestMean: bestMean)
        }
        try writeCurves(history, to: o.output + ".svg")
        if let bestFile { return (best, bestFile) }
        return (best, try ModelFile.load(path: o.output))
    }

    /// The face stage over the training and the validation clips (SPEC §4.1a).
    public private(set) var faceCounts = (train: FaceCounts(), val: FaceCounts())
    /// Whether the training frames were searched for faces.
    public private(set) var searchedFaces = false

    func percent(_ x: Float) -> String { "\(Int((x * 1000).rounded()) / 10).\(Int((x * 1000).rounded()) % 10) %" }

    /// The provenance's `faces` (nil without a video branch): whether the training faces were
    /// searched ("detector") or not ("none": the centred square), how they were prepared, and the
    /// share of cached frames with a face of their own (train: 2F per clip, val: F).
    var facesJSON: JSONValue? {
        guard let v = options.config.video else { return nil }
        let (t, val) = faceCounts
        return .object([("mode", .string(searchedFaces ? "detector" : "none")), ("preparation", .string(v.face.rawValue)),
                        ("detection_rate", Self.rate(t)), ("frames", .number(Double(t.frames))),
                        ("clips_without_face", .number(Double(t.clipsWithoutFace))),
                        ("val_detection_rate", Self.rate(val)), ("val_frames", .number(Double(val.frames)))])
    }

    /// A detection rate for JSON: detected / frames to 6 decimals (0 without frames).
    static func rate(_ c: FaceCounts) -> JSONValue {
        .number(c.frames == 0 ? 0 : (Double(c.detected) / Double(c.frames) * 1e6).rounded() / 1e6)
    }

    func format(_ x: Float) -> String {
        let scaled = (x * 1000).rounded() / 1000
        return "\(scaled)"
    }

    func mfccStatistics(_ clips: [PreparedClip], coefficients n: Int) -> ([Float], [Float]) {
        var sum = [Double](repeating: 0, count: n), sq = [Double](repeating: 0, count: n)
        var count = 0.0
        for c in clips {
            guard let m = c.mfcc else { continue }
            for t in 0..<m.shape[0] { for j in 0..<n { let v = Double(m.data[t * n + j]); sum[j] += v; sq[j] += v * v } }
            count += Double(m.shape[0])
        }
        guard count > 1 else { return ([Float](repeating: 0, count: n), [Float](repeating: 1, count: n)) }
        let mean = sum.map { $0 / count }
        let std = (0..<n).map { Float(max((sq[$0] / count - mean[$0] * mean[$0]).squareRoot(), 1e-3)) }
        return (mean.map(Float.init), std)
    }

    /// The median length of the training clips (from their headers; up to 256
    /// of them), saved as `clip_seconds` in the provenance: a stream on the
    /// model uses it as its default window.
    var clipSeconds: Double?

    func medianDuration(_ records: [ClipRecord]) -> Double? {
        let stride = max(1, records.count / 256)
        var durations: [Double] = []
        for r in Swift.stride(from: 0, to: records.count, by: stride).map({ records[$0] }) {
            guard let path = r.video ?? r.audio, let d = try? probeMedia(path: path).duration, d.isFinite, d > 0 else { continue }
            durations.append(d)
        }
        guard !durations.isEmpty else { return nil }
        durations.sort()
        return durations[durations.count / 2]
    }

    /// `withheld`: validation mean PCC with the video / the audio withheld (two-branch models),
    /// kept in eri.metrics as `mean_pcc_without_video` / `mean_pcc_without_audio`.
    func saveModel(_ snapshot: ModelFile, evaluation: Evaluation?, withheld: (video: Float, audio: Float)? = nil,
                   trainCount: Int, valCount: Int, epoch: Int) throws {
        var m = snapshot
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var members: [(String, JSONValue)] = [
            ("data", .string(options.dataDirectory)), ("train_clips", .number(Double(trainCount))), ("val_clips", .number(Double(valCount))),
            ("recipe", .string(options.recipe)), ("seed", .number(Double(options.seed))), ("epoch", .number(Double(epoch))),
            ("unix_time", .number(Double(time.tv_sec))), ("trainer", .string("liberi \(ERIVersion.major).\(ERIVersion.minor).\(ERIVersion.patch) eri train")),
        ]
        if let clipSeconds { members.append(("clip_seconds", .number((clipSeconds * 1000).rounded() / 1000))) }
        if let facesJSON { members.append(("faces", facesJSON)) }
        m.provenance = JSONValue.object(members).serialized
        m.metrics = evaluation.map { e -> String in
            var j = e.json
            if case var .object(members) = j {
                members.insert(("split", .string("val")), at: 0)
                if options.config.video != nil && searchedFaces {
                    members.append(("face_detection_rate", Self.rate(faceCounts.val)))
                }
                if let withheld {
                    members.insert(("mean_pcc_without_audio", .number(Double(withheld.audio))), at: 2)
                    members.insert(("mean_pcc_without_video", .number(Double(withheld.video))), at: 2)
                }
                j = .object(members)
            }
            return j.serialized
        }
        try m.save(path: options.output)
    }

    func saveCheckpoint(parameters: Parameters, optimiser: AdamW, epoch: Int, bestMean: Float) throws {
        var tensors = parameters.all.map { NamedTensor(name: $0.name, shape: $0.shape, values: $0.values) }
        tensors += optimiser.stateTensors()
        let history = JSONValue.array(self.history.map { r in
            var members: [(String, JSONValue)] = [("epoch", .number(Double(r.epoch))), ("loss", .number(Double(r.trainLoss))),
                                                  ("val", .array(r.validation.map { .number(Double($0)) }))]
            if let v = r.withoutVideo { members.append(("val_without_video", .number(Double(v)))) }
            if let a = r.withoutAudio { members.append(("val_without_audio", .number(Double(a)))) }
            return .object(members)
        }).serialized
        try writeSafetensors(path: options.output + ".ckpt", tensors: tensors, metadata: [
            ("format", "eri-checkpoint"), ("eri.config", options.config.json.serialized), ("epoch", "\(epoch)"),
            ("best_mean_pcc", "\(bestMean)"), ("history", history),
        ])
    }

    func parseHistory(_ text: String) -> [EpochRecord] {
        guard let items = (try? JSONValue.parse(text))?.arrayValue else { return [] }
        return items.compactMap { item in
            guard let e = item["epoch"]?.numberValue, let l = item["loss"]?.numberValue,
                  let v = item["val"]?.arrayValue?.compactMap({ $0.numberValue }) else { return nil }
            return EpochRecord(epoch: Int(e), trainLoss: Float(l), validation: v.map(Float.init),
                               withoutVideo: item["val_without_video"]?.numberValue.map(Float.init),
                               withoutAudio: item["val_without_audio"]?.numberValue.map(Float.init))
        }
    }
}
