import ArgumentParser
import ERICore
import ERIModel
import ERIPipeline
import ERITrain
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `eri train`: trains a model on a Hume-Reaction-style folder.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on DATA/data_info.csv + DATA[/raw]/{train,val,test}/{mp4,wav}/ID.{mp4,wav}.",
        discussion: """
        Keeps the best model by validation mean PCC in --out (with eri.provenance and eri.metrics), a checkpoint \
        with the optimiser state in OUT.ckpt after every epoch (--resume continues it exactly), and training \
        curves in OUT.svg. A two-branch model is also validated with each modality withheld (as when a camera \
        or microphone fails), in the log and the curves. Decoded clips are cached in DATA/.eri-cache (safe to delete).

        The frames are prepared as a prediction prepares them (SPEC §4.1a): faces are detected, the subject \
        tracked, and each frame cropped around its face (or aligned, for a config with video.face "aligned"); a \
        clip without any face gets the centred square. --faces auto (the default) searches when the detector \
        is installed (make models; $ERI_FACE_MODEL or --face-model name other weights) and warns when it is \
        not; detect makes a missing detector an error; none takes the centred square of every frame. The log \
        and the model's eri.provenance ("faces") give the share of cached frames with a face of their own.
        """)

    @Option(help: "dbn-base, dbn-small or dbn-tiny (default dbn-small).") var preset: String?
    @Option(help: "A config JSON file (SPEC §3) instead of a preset.") var config: String?
    @Option(help: "The data folder.") var data: String
    @Option(help: "both, audio or video.") var modality: String = "both"
    @Option(help: "Epochs.") var epochs: Int = 10
    @Option(help: "Clips per batch.") var batch: Int = 8
    @Option(help: "Peak learning rate (AdamW, warm-up + cosine).") var lr: Float = 5e-4
    @Option(help: "AdamW's decoupled weight decay (on weight matrices and kernels, not on biases or norms).") var weightDecay: Float = TrainOptions.defaultWeightDecay
    @Option(help: "Compute threads (0 = all cores).") var threads: Int = 0
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Modality dropout probability (overrides the config's train section).") var modalityDropout: Double?
    @Option(name: .shortAndLong, help: "Output .eri model.") var out: String
    @Option(help: "A checkpoint (OUT.ckpt) to continue.") var resume: String?
    @Option(help: "Cache folder (default DATA/.eri-cache).") var cache: String?
    @Option(help: "Where the training faces come from: auto (the detector when installed), detect (the detector; an error without it), none (the centred square).")
    var faces: String = "auto"
    @Option(help: "The face detector's weights (default: $ERI_FACE_MODEL, else PREFIX/share/eri/face-mtcnn.safetensors).")
    var faceModel: String?
    @Option(help: "Comma-separated .eri models whose branches initialise this one (the staged recipe: an audio-only and a video-only model of the same preset; a model of the same config fine-tunes it whole).")
    var initFrom: String?
    @Option(help: "single (the default) or staged: an audio-only model (OUT.audio.eri), a video-only model (OUT.video.eri), then the two-branch model initialised from both (OUT); --epochs each, the video stage --video-epochs (from --video-init when given).")
    var recipe: String = "single"
    @Option(help: "The staged recipe's video-only stage: epochs (default twice --epochs: from random weights the video branch learns more slowly than the audio branch and the fine-tuning; docs/training.md).")
    var videoEpochs: Int?
    @Option(help: ArgumentHelp("The staged recipe's video-only stage starts from this model instead of random weights (a video-only "
                               + ".eri of the same preset, e.g. one trained on many more people: docs/training.md; a two-branch model "
                               + "is refused, as --init-from refuses a branch the model lacks) and fine-tunes it with the --lr-* factors "
                               + "and --freeze-backbone-epochs.", valueName: "FILE"))
    var videoInit: String?
    @Option(help: "Learning-rate factor of the video backbone (video.backbone.*).") var lrBackbone: Float = 1
    @Option(help: "Learning-rate factor of the temporal layers (spatial attention, projections, TCNs, temporal encoders).") var lrTemporal: Float = 1
    @Option(help: "Learning-rate factor of the head.") var lrHead: Float = 1
    @Option(help: "Freeze the video backbone (no updates) for this many first epochs.") var freezeBackboneEpochs: Int = 0
    @Flag(help: "Start each residual block of a randomly initialised video backbone as its shortcut (its last BatchNorm scale 0, torchvision's zero_init_residual).")
    var zeroInitResidual = false
    @Option(help: ArgumentHelp("A pretrained ResNet-18/34 the video backbone starts from (torchvision/timm state dict, .pth or "
                               + ".safetensors; see eri init --backbone).", valueName: "FILE")) var backbone: String?

    func validate() throws {
        if let backbone, access(backbone, R_OK) != 0 { throw ValidationError("--backbone \(backbone): no such file (or not readable)") }
        if backbone != nil && modality == "audio" { throw ValidationError("--backbone needs the video branch; --modality audio has none") }
        if !["single", "staged"].contains(recipe) { throw ValidationError("--recipe is single or staged") }
        if recipe == "staged" && (modality != "both" || initFrom != nil || resume != nil) {
            throw ValidationError("--recipe staged trains both modalities itself: no --modality, --init-from or --resume")
        }
        if let videoEpochs, recipe != "staged" || videoEpochs < 1 { throw ValidationError("--video-epochs is for --recipe staged, at least 1") }
        if let videoInit {
            if recipe != "staged" { throw ValidationError("--video-init is for --recipe staged (otherwise: --init-from)") }
            if backbone != nil { throw ValidationError("--video-init and --backbone both set the video backbone: choose one") }
            if access(videoInit, R_OK) != 0 { throw ValidationError("--video-init \(videoInit): no such file (or not readable)") }
        }
        for f in [lrBackbone, lrTemporal, lrHead] where !(f >= 0 && f <= 100) { throw ValidationError("--lr-backbone, --lr-temporal and --lr-head are factors in [0, 100]") }
        if freezeBackboneEpochs < 0 { throw ValidationError("--freeze-backbone-epochs must be at least 0") }
        if let initFrom {
            for path in initFrom.split(separator: ",").map(String.init) where access(path, R_OK) != 0 {
                throw ValidationError("--init-from \(path): no such file (or not readable)")
            }
        }
        if faceModeNamed(faces) == nil { throw ValidationError("--faces is auto, detect or none") }
        if let faceModel, access(faceModel, R_OK) != 0 { throw ValidationError("--face-model \(faceModel): no such file (or not readable)") }
        if preset != nil && config != nil { throw ValidationError("--preset and --config exclude each other") }
        if !["both", "audio", "video"].contains(modality) { throw ValidationError("--modality is both, audio or video") }
        if epochs < 1 || batch < 1 { throw ValidationError("--epochs and --batch must be at least 1") }
        if !(lr > 0 && lr < 1) { throw ValidationError("--lr must be in (0, 1)") }
        if !(weightDecay >= 0 && weightDecay <= 10) { throw ValidationError("--weight-decay must be in [0, 10]") }
    }

    func run() throws {
        try reportingErrors {
            var c: ERIConfig
            if let config {
                c = try ERIConfig(jsonText: try String(contentsOfFile: config, encoding: .utf8))
            } else {
                guard let p = ERIConfig.preset(named: preset ?? "dbn-small") else {
                    throw ERIError.invalidArgument("unknown preset \(preset ?? ""); choose one of \(ERIConfig.presetNames.joined(separator: ", "))")
                }
                c = p
            }
            if let modalityDropout { c.train.modalityDropout = modalityDropout }
            let pretrained = try backbone.map { try PretrainedBackbone(path: $0) }
            if let pretrained { c = try pretrained.configure(c) }
            if recipe == "staged" {
                let stem = out.hasSuffix(".eri") ? String(out.dropLast(4)) : out
                for (m, path) in [("audio", stem + ".audio.eri"), ("video", stem + ".video.eri")] {
                    fputs("== stage: \(m)-only → \(path)\n", stderr)
                    try train(m == "audio" ? c.audioOnly : c.videoOnly, modality: m, epochs: m == "audio" ? epochs : videoEpochs ?? 2 * epochs,
                              out: path, initFrom: m == "video" ? videoInit.map { [$0] } ?? [] : [], pretrained: pretrained)
                }
                fputs("== stage: both, initialised from \(stem).audio.eri and \(stem).video.eri → \(out)\n", stderr)
                try train(c, modality: "both", epochs: epochs, out: out, initFrom: [stem + ".audio.eri", stem + ".video.eri"], pretrained: pretrained)
            } else {
                if modality == "audio" { c = c.audioOnly }
                if modality == "video" { c = c.videoOnly }
                try train(c, modality: modality, epochs: epochs, out: out, initFrom: initFrom?.split(separator: ",").map(String.init) ?? [], pretrained: pretrained)
            }
        }
    }

    func train(_ c: ERIConfig, modality: String, epochs: Int, out: String, initFrom: [String], pretrained: PretrainedBackbone?) throws {
        do {
            var options = TrainOptions(dataDirectory: data, config: c, output: out)
            options.initFrom = initFrom
            options.pretrainedBackbone = pretrained
            // In the staged recipe the single-branch stages train from scratch at one rate:
            // the group rates and the freeze are for a model being initialised (the two-branch
            // stage, and the video stage with --video-init).
            let fineTuning = recipe == "single" || !initFrom.isEmpty
            options.groupRates = fineTuning ? GroupRates(backbone: lrBackbone, temporal: lrTemporal, head: lrHead) : GroupRates()
            options.freezeBackboneEpochs = fineTuning ? freezeBackboneEpochs : 0
            options.zeroInitResidual = zeroInitResidual
            options.epochs = epochs
            options.batchSize = batch
            options.learningRate = lr
            options.weightDecay = weightDecay
            options.threads = threads
            options.seed = seed
            options.resume = resume
            options.cacheDirectory = cache
            options.faces = faceModeNamed(faces)!
            options.faceModel = faceModel
            options.recipe = "eri train --preset \(preset ?? (config == nil ? "dbn-small" : "custom")) --modality \(modality) --epochs \(epochs) --batch \(batch) --lr \(lr) --seed \(seed)"
                + (modalityDropout.map { " --modality-dropout \($0)" } ?? "") + " --faces \(faces)"
                + (initFrom.isEmpty ? "" : " --init-from \(initFrom.joined(separator: ","))")
                + (backbone.map { " --backbone \($0)" } ?? "")
                + (!fineTuning || options.groupRates == GroupRates() ? "" : " --lr-backbone \(lrBackbone) --lr-temporal \(lrTemporal) --lr-head \(lrHead)")
                + (options.freezeBackboneEpochs > 0 ? " --freeze-backbone-epochs \(freezeBackboneEpochs)" : "")
                + (weightDecay != TrainOptions.defaultWeightDecay ? " --weight-decay \(weightDecay)" : "")
                + (zeroInitResidual ? " --zero-init-residual" : "")
            let trainer = Trainer(options: options)
            let terminal = isatty(2) != 0
            trainer.log = { line in
                if terminal { fputs("\r\u{1B}[K", stderr) }
                fputs(line + "\n", stderr)
            }
            trainer.onProgress = { p in
                guard terminal else { return }
                let width = 24, filled = width * p.step / max(p.stepsPerEpoch, 1)
                let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
                fputs(String(format: "\r\u{1B}[Kepoch %d/%d %@ loss %.4f  %.1f clips/s  ETA %dm%02ds", p.epoch, p.epochs, bar, p.loss,
                             p.clipsPerSecond, Int(p.secondsLeft) / 60, Int(p.secondsLeft) % 60), stderr)
            }
            let (best, _) = try trainer.run()
            if let best {
                print("best validation mean PCC \(String(format: "%.4f", best.meanPearson)) → \(out)")
                for (n, r) in zip(ERIConfig.emotionNames, best.pearson) { print("  \(n.padding(to: 14)) \(String(format: "%+.4f", r))") }
            } else {
                print("trained → \(out) (no validation clips)")
            }
        }
    }
}

/// `eri eval`: PCC per emotion and mean, MSE, and per-clip predictions.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate a model on a split of a data folder.")

    @Option(name: .shortAndLong, help: "The .eri model.") var model: String
    @Option(help: "The data folder.") var data: String
    @Option(help: "train, val, test, or all (every clip: for a corpus held out from training altogether).") var split: String = "val"
    @Option(help: "Write per-clip predictions as CSV here (default: MODEL.SPLIT.csv).") var predictions: String?
    @Option(help: "Compute threads (0 = all cores).") var threads: Int = 0
    @Option(help: "Cache folder (default DATA/.eri-cache).") var cache: String?
    @Option(help: "Withhold a modality at test time: video or audio (the model sees zeros for it).") var drop: String?
    @Option(help: "Where the faces come from: auto, detect or none (default: as the model was trained, per its provenance, else auto).")
    var faces: String?
    @Option(help: "The face detector's weights (default: $ERI_FACE_MODEL, else PREFIX/share/eri/face-mtcnn.safetensors).")
    var faceModel: String?

    func validate() throws {
        if let drop, !["video", "audio"].contains(drop) { throw ValidationError("--drop is video or audio") }
        if let faces, faceModeNamed(faces) == nil { throw ValidationError("--faces is auto, detect or none") }
        if let faceModel, access(faceModel, R_OK) != 0 { throw ValidationError("--face-model \(faceModel): no such file (or not readable)") }
    }

    func run() throws {
        try reportingErrors {
            let splits = split.lowercased() == "all" ? ClipRecord.Split.allCases : ClipRecord.Split.allCases.filter { $0.folder == split.lowercased() }
            guard !splits.isEmpty else { throw ERIError.invalidArgument("--split is train, val, test or all") }
            let m = try Model(path: model, threads: threads)
            let mode = faces.flatMap(faceModeNamed) ?? (trainedFaceMode(m) == "none" ? .none : .auto)
            let loader = try ClipLoader(config: m.config, cacheDirectory: cache ?? data + "/.eri-cache", faces: mode, faceModel: faceModel)
            if let why = loader.noDetector {
                printError("eri: warning: no face detector installed (\(why)): the model sees the centred square of each frame")
            }
            var clips: [PreparedClip] = []
            for r in try readDataInfo(dataDirectory: data) where splits.contains(r.split) {
                do { clips.append(try loader.load(r, training: false)) } catch let e as ERIError {
                    printError("eri: skipping clip \(r.id): \(e.message)")
                }
            }
            guard !clips.isEmpty else { throw ERIError.invalidArgument("\(data): no usable \(split) clips") }
            let e = try evaluate(model: m, clips: clips, withoutVideo: drop == "video", withoutAudio: drop == "audio")
            print("\(split)\(drop.map { " without \($0)" } ?? ""): \(clips.count) clips, mean PCC \(String(format: "%.4f", e.meanPearson)), MSE \(String(format: "%.4f", e.mse))")
            for (n, r) in zip(ERIConfig.emotionNames, e.pearson) { print("  \(n.padding(to: 14)) \(String(format: "%+.4f", r))") }
            let counts = FaceCounts(clips)
            if counts.frames > 0 {
                print(loader.searchesFaces
                      ? "faces: detected in \(String(format: "%.1f", 100 * counts.rate)) % of \(counts.frames) frames "
                        + "(\(counts.clipsWithoutFace) of \(counts.clips) clips without any: centred square)"
                      : "faces: not searched (the centred square of every frame)")
            }
            let path = predictions ?? "\(model).\(split).csv"
            var csv = (["File_ID"] + ERIConfig.emotionNames.map { "pred_" + $0 } + ERIConfig.emotionNames).joined(separator: ",") + "\n"
            for (clip, y) in zip(e.clips, e.predictions) {
                csv += (["[\(clip.id)]"] + y.map { String(format: "%.5f", $0) } + clip.labels.map { String(format: "%.4f", $0) }).joined(separator: ",") + "\n"
            }
            // Atomic (temp + rename) only for regular files: renaming over /dev/null would replace it.
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let regular = !exists || (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular
            try csv.write(toFile: path, atomically: regular, encoding: .utf8)
            print("predictions: \(path)")
        }
    }
}

/// `--faces`: auto, detect or none.
func faceModeNamed(_ name: String) -> FaceMode? {
    switch name.lowercased() {
    case "auto": return .auto
    case "detect": return .detect
    case "none": return FaceMode.none
    default: return nil
    }
}

/// How the model's training faces were found, from its provenance's `faces.mode` ("detector", "none"), if recorded.
func trainedFaceMode(_ model: Model) -> String? {
    guard let text = model.file.provenance, let json = try? JSONValue.parse(text) else { return nil }
    return json["faces"]?["mode"]?.stringValue
}
