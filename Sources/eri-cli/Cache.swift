import ArgumentParser
import ERICore
import ERIPipeline
import ERITrain
import Foundation

/// `eri cache`: the preprocessed-clip cache that `eri train` and `eri eval` read (docs/cache.md).
struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "Build the preprocessed-clip cache of a data folder (docs/cache.md).",
        subcommands: [CacheBuild.self, CacheBatch.self])
}

/// The options naming a preprocessing: the config (as `eri train`), the faces, the folders.
struct CacheOptions: ParsableArguments {
    @Option(help: "The data folder (data_info.csv + media).") var data: String
    @Option(help: "Preset name (default dbn-small).") var preset: String?
    @Option(help: "Config JSON file (instead of --preset).") var config: String?
    @Option(help: "Take the config of this .eri model (instead of --preset).") var model: String?
    @Option(help: "both, audio or video.") var modality: String = "both"
    @Option(help: "Cache folder (default DATA/.eri-cache).") var cache: String?
    @Option(help: "Where the faces come from: auto, detect or none (as eri train).") var faces: String = "auto"
    @Option(help: "The face detector's weights (default: $ERI_FACE_MODEL, else PREFIX/share/eri/face-mtcnn.safetensors).")
    var faceModel: String?
    @Option(help: "Compute threads (0 = all cores).") var threads: Int = 0

    func validate() throws {
        if faceModeNamed(faces) == nil { throw ValidationError("--faces is auto, detect or none") }
        if [preset, config, model].compactMap({ $0 }).count > 1 { throw ValidationError("--preset, --config and --model exclude each other") }
        if !["both", "audio", "video"].contains(modality) { throw ValidationError("--modality is both, audio or video") }
    }

    func resolvedConfig() throws -> ERIConfig {
        var c: ERIConfig
        if let config {
            c = try ERIConfig(jsonText: try String(contentsOfFile: config, encoding: .utf8))
        } else if let model {
            c = try Model(path: model).config
        } else {
            guard let p = ERIConfig.preset(named: preset ?? "dbn-small") else {
                throw ERIError.invalidArgument("unknown preset \(preset ?? ""); choose one of \(ERIConfig.presetNames.joined(separator: ", "))")
            }
            c = p
        }
        if modality == "audio" { c = c.audioOnly }
        if modality == "video" { c = c.videoOnly }
        return c
    }

    func loader() throws -> ClipLoader {
        if threads > 0 { setComputeThreads(threads) }
        let loader = try ClipLoader(config: try resolvedConfig(), cacheDirectory: cache ?? data + "/.eri-cache",
                                    faces: faceModeNamed(faces)!, faceModel: faceModel)
        if let why = loader.noDetector {
            printError("eri: warning: no face detector installed (\(why)): the cache holds the centred square of each frame")
        }
        return loader
    }
}

struct CacheBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build", abstract: "Preprocess a data folder's clips into the cache, all of them or one shard.",
        discussion: """
        Train clips are cached as eri train reads them (2F frames), Val and Test clips as eri eval does (F frames). \
        --shard K/N takes clip i of data_info.csv when i mod N = K − 1: N processes or machines sharing the cache \
        folder build it together. Each shard writes CACHE/index-PREPROCESSING-KofN.json naming its clips' entries.
        """)

    @OptionGroup var options: CacheOptions
    @Option(help: "K/N: build shard K (1…N) of N.") var shard: String = "1/1"

    func validate() throws {
        if CacheShard(shard) == nil { throw ValidationError("--shard is K/N with 1 ≤ K ≤ N") }
    }

    func run() throws {
        try reportingErrors {
            let s = CacheShard(shard)!
            let loader = try options.loader()
            let records = try readDataInfo(dataDirectory: options.data)
            let result = try loader.build(records, shard: s, log: { printError("eri: " + $0) })
            let dir = loader.cacheDirectory!
            let path = "\(dir)/index-\(loader.preprocessingKey)-\(s.index)of\(s.count).json"
            try (loader.index(result, shard: s, data: options.data).pretty() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            print("shard \(s.index)/\(s.count): \(result.entries.count) clips cached, \(result.failures.count) failed → \(path)")
            if result.entries.isEmpty && !result.failures.isEmpty { throw ExitCode(1) }
        }
    }
}

/// Writes the batch eri train / eri eval builds from cached clips: a hook to check other readers
/// of the cache (the PyTorch loader) against liberi's batching and augmentation.
struct CacheBatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch", abstract: "Write the batch eri train (--training) or eri eval builds from the named cached clips.")

    @OptionGroup var options: CacheOptions
    @Option(help: "Comma-separated File_IDs, in batch order.") var ids: String
    @Flag(help: "A training batch (frame jitter, augmentations, audio crop), else an evaluation batch.") var training = false
    @Option(help: "The seed of the batch's random draws (SeededGenerator).") var seed: UInt64 = 0
    @Option(name: .shortAndLong, help: "Output .safetensors file.") var output: String

    func run() throws {
        try reportingErrors {
            let loader = try options.loader()
            let records = try readDataInfo(dataDirectory: options.data)
            var clips: [PreparedClip] = []
            for id in ids.split(separator: ",").map(String.init) {
                guard let r = records.first(where: { $0.id == id }) else { throw ERIError.invalidArgument("no clip \(id) in data_info.csv") }
                clips.append(try loader.load(r, training: training))
            }
            guard !clips.isEmpty else { throw ERIError.invalidArgument("--ids names no clip") }
            try writeSafetensors(path: output, tensors: cacheBatch(clips, config: loader.config, training: training, seed: seed),
                                 metadata: [("training", training ? "true" : "false"), ("seed", "\(seed)"), ("ids", ids)])
            print("wrote \(output)")
        }
    }
}
