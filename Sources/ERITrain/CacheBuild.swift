import ERICore
import ERIPipeline

/// One shard of a cache build: clip i of data_info.csv (0-based, in file order) belongs
/// to shard `index` (1-based) of `count` when i mod count = index − 1.
public struct CacheShard: Sendable, Equatable {
    public var index: Int, count: Int
    public init(index: Int, count: Int) { self.index = index; self.count = count }
    /// "K/N" with 1 ≤ K ≤ N.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, k >= 1, k <= n else { return nil }
        index = k; count = n
    }
    public func contains(position i: Int) -> Bool { i % count == index - 1 }
}

/// What `eri cache build` did for one shard (docs/cache.md).
public struct CacheBuildResult: Sendable {
    public struct Entry: Sendable { public var record: ClipRecord; public var training: Bool; public var file: String }
    public var entries: [Entry] = []
    public var failures: [(record: ClipRecord, message: String)] = []
}

extension ClipLoader {
    /// The cache entry's file name for a clip: the 16-hex-digit key + ".safetensors".
    public func entryName(_ record: ClipRecord, training: Bool) throws -> String {
        try cacheKey(record, training: training) + ".safetensors"
    }

    /// The preprocessing's part of the key (config's video and audio sections, face stage),
    /// 16 hex digits: it names the index files, so caches of several configs can share a folder.
    public var preprocessingKey: String {
        var h = Hash()
        h.add(ClipLoader.cacheVersion)
        h.add(config.video.map { var c = config; c.audio = nil; c.video = $0; return c.json["video"]!.serialized } ?? "-")
        h.add(config.audio.map { var c = config; c.video = nil; c.audio = $0; return c.json["audio"]!.serialized } ?? "-")
        if config.video != nil { h.add(faceKey) }
        let hex = String(h.value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Preprocesses the shard's clips into the cache as `eri train` (Train split: 2F frames for
    /// the jitter) and `eri eval` (Val and Test: F frames) will read them. A clip that fails is
    /// reported and left out; an entry that cannot be written is a failure too.
    public func build(_ records: [ClipRecord], shard: CacheShard, log: (String) -> Void = { _ in }) throws -> CacheBuildResult {
        guard let dir = cacheDirectory else { throw ERIError.invalidArgument("cache build: no cache folder") }
        var result = CacheBuildResult()
        for (i, r) in records.enumerated() where shard.contains(position: i) {
            let training = r.split == .train
            do {
                _ = try load(r, training: training)
                let name = try entryName(r, training: training)
                guard fileExists(dir + "/" + name) else { throw ERIError.io("\(dir)/\(name): could not be written") }
                result.entries.append(.init(record: r, training: training, file: name))
            } catch let e as ERIError {
                log("skipping clip \(r.id) (data_info.csv line \(r.line)): \(e.message)")
                result.failures.append((r, e.message))
            }
        }
        return result
    }

    /// The shard's index (docs/cache.md): JSON naming each clip's entry.
    public func index(_ result: CacheBuildResult, shard: CacheShard, data: String) -> JSONValue {
        let clips: [JSONValue] = result.entries.map { e in
            .object([("id", .string(e.record.id)), ("split", .string(e.record.split.rawValue)),
                     ("training", .bool(e.training)), ("entry", .string(e.file)),
                     ("labels", .array(e.record.labels.map { .number(Double($0)) }))])
        }
        let failed: [JSONValue] = result.failures.map { .object([("id", .string($0.record.id)), ("message", .string($0.message))]) }
        return .object([("format", .string("eri-cache-index")), ("version", .string(ClipLoader.cacheVersion)),
                        ("preprocessing", .string(preprocessingKey)), ("config", config.json),
                        ("faces", .string(searchesFaces ? "detector" : "none")),
                        ("shard", .string("\(shard.index)/\(shard.count)")), ("data", .string(data)),
                        ("clips", .array(clips)), ("failed", .array(failed))])
    }
}

/// The batch `eri train` (training: with the augmentations drawn from `SeededGenerator(seed:)`)
/// or `eri eval` (training: false) builds from these cached clips, in this order: the tensors
/// `frames` (B, F, C, S, S), `mfcc` (B, T, n_mfcc), `audio_lengths` (B, as floats) and `targets`
/// (B, 7). A hook for checking other readers of the cache (`eri cache batch`, docs/cache.md).
public func cacheBatch(_ clips: [PreparedClip], config: ERIConfig, training: Bool, seed: UInt64) -> [NamedTensor] {
    var rng = SeededGenerator(seed: seed)
    let batch = Batcher(config: config).batch(clips, training: training, rng: &rng)
    var out: [NamedTensor] = []
    if let f = batch.input.frames { out.append(NamedTensor(name: "frames", shape: f.shape, values: f.data)) }
    if let m = batch.input.mfcc { out.append(NamedTensor(name: "mfcc", shape: m.shape, values: m.data)) }
    if let l = batch.input.audioLengths { out.append(NamedTensor(name: "audio_lengths", shape: [l.count], values: l.map(Float.init))) }
    out.append(NamedTensor(name: "targets", shape: batch.targets.shape, values: batch.targets.data))
    return out
}
