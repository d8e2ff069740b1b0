import ERICore
import ERIFaces
import ERIFeatures
import ERIMedia
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

/// One clip of a Hume-Reaction-style data set (`data_info.csv` + media).
public struct ClipRecord: Sendable {
    public enum Split: String, Sendable, CaseIterable {
        case train = "Train", val = "Val", test = "Test"
        public var folder: String { rawValue.lowercased() }
    }
    public var id: String          // without brackets: "00017"
    public var split: Split
    public var labels: [Float]     // ERIConfig.emotionCount of them, SPEC §1 order
    public var line: Int           // in data_info.csv, for messages
    public var video: String?      // .../mp4/ID.mp4 when it exists
    public var audio: String?      // .../wav/ID.wav when it exists, else the video (its audio track)
}

/// Splits one CSV line (RFC 4180 quoting).
func csvFields(_ line: Substring) -> [String]? {
    var fields: [String] = [], field = "", quoted = false, i = line.startIndex
    while i < line.endIndex {
        let c = line[i]
        if quoted {
            if c == "\"" {
                let next = line.index(after: i)
                if next < line.endIndex && line[next] == "\"" { field.append("\""); i = line.index(after: next); continue }
                quoted = false
            } else { field.append(c) }
        } else if c == "\"" && field.isEmpty {
            quoted = true
        } else if c == "," {
            fields.append(field); field = ""
        } else if c != "\r" {
            field.append(c)
        }
        i = line.index(after: i)
    }
    if quoted { return nil }
    fields.append(field)
    return fields
}

func fileExists(_ path: String) -> Bool {
    var s = stat()
    return stat(path, &s) == 0 && (s.st_mode & S_IFMT) == S_IFREG
}

func directoryExists(_ path: String) -> Bool {
    var s = stat()
    return stat(path, &s) == 0 && (s.st_mode & S_IFMT) == S_IFDIR
}

/// Reads DATA/data_info.csv: columns File_ID (e.g. "[00017]", brackets
/// optional), Split (Train/Val/Test), the 7 emotions, then anything else.
/// Media lives at {DATA or DATA/raw}/{train,val,test}/{mp4,wav}/ID.{mp4,wav}.
/// A malformed row is an error naming its line.
public func readDataInfo(dataDirectory data: String) throws -> [ClipRecord] {
    let path = data + "/data_info.csv"
    let file = try MappedFile(path: path)
    let text = String(decoding: file.bytes, as: UTF8.self)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().makeIterator()
    guard let (_, headerLine) = lines.next(), let header = csvFields(headerLine) else {
        throw ERIError.format("\(path): empty file")
    }
    func column(_ name: String) throws -> Int {
        guard let i = header.firstIndex(where: { $0.trimmingSpaces == name }) else {
            throw ERIError.format("\(path): line 1: no \"\(name)\" column")
        }
        return i
    }
    let idColumn = try column("File_ID"), splitColumn = try column("Split")
    let labelColumns = try ERIConfig.emotionNames.map(column)
    let root = directoryExists(data + "/raw") ? data + "/raw" : data
    var records: [ClipRecord] = []
    var seen = Set<String>()
    while let (index, raw) = lines.next() {
        let n = index + 1
        if raw.allSatisfy({ $0 == " " || $0 == "\r" || $0 == "\t" }) { continue }
        guard let fields = csvFields(raw), fields.count == header.count else {
            throw ERIError.format("\(path): line \(n): expected \(header.count) comma-separated fields")
        }
        var id = fields[idColumn].trimmingSpaces
        if id.hasPrefix("[") && id.hasSuffix("]") { id = String(id.dropFirst().dropLast()) }
        guard !id.isEmpty, !id.contains("/"), seen.insert(id).inserted else {
            throw ERIError.format("\(path): line \(n): File_ID \"\(fields[idColumn])\" is empty, a path or a duplicate")
        }
        guard let split = ClipRecord.Split.allCases.first(where: { $0.rawValue.lowercased() == fields[splitColumn].trimmingSpaces.lowercased() }) else {
            throw ERIError.format("\(path): line \(n): Split \"\(fields[splitColumn])\" is not Train, Val or Test")
        }
        var labels: [Float] = []
        for c in labelColumns {
            guard let v = Float(fields[c].trimmingSpaces), v.isFinite, v >= 0, v <= 1 else {
                throw ERIError.format("\(path): line \(n): \(header[c]) \"\(fields[c])\" is not a number in [0, 1]")
            }
            labels.append(v)
        }
        let base = "\(root)/\(split.folder)"
        let video = "\(base)/mp4/\(id).mp4", wav = "\(base)/wav/\(id).wav"
        let hasVideo = fileExists(video)
        records.append(ClipRecord(id: id, split: split, labels: labels, line: n,
                                  video: hasVideo ? video : nil, audio: fileExists(wav) ? wav : (hasVideo ? video : nil)))
    }
    return records
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}

/// What the face stage did for one clip's cached frames (SPEC §4.1a).
public struct ClipFaces: Sendable, Equatable {
    /// Frames cached (F, or 2F for training).
    public var frames: Int
    /// Of them, the frames with a face of their own (detected there, not borrowed from a neighbour).
    public var detected: Int
    /// "detector" (searched), "none" (the centred square: not searched).
    public var source: String
    public init(frames: Int, detected: Int, source: String) { self.frames = frames; self.detected = detected; self.source = source }
}

/// A clip decoded and preprocessed (SPEC §4), ready for batching.
public struct PreparedClip: Sendable {
    public var record: ClipRecord
    /// F·k × C × S × S normalised frames (k = 2 for training, which jitters
    /// between the two sub-frames of each of the F segments; 1 otherwise).
    public var frames: Tensor?
    /// T × n_mfcc pooled MFCC, NOT capped (training crops, evaluation caps).
    public var mfcc: Tensor?
    /// The face stage's counts for `frames` (nil without video).
    public var faces: ClipFaces?
}

/// Decodes and preprocesses clips, with an on-disk cache (safetensors) keyed
/// by the media files' content, the preprocessing config and the face stage,
/// so later epochs do not decode video again. The cache is safe to delete.
///
/// Frames go through the same face stage as a file prediction
/// (`prepareVideo`: detect, track the subject, crop or align as `video.face`
/// says), so a model trains on the faces it will be shown.
public final class ClipLoader: @unchecked Sendable {
    public let config: ERIConfig
    public let cacheDirectory: String?
    /// Where the faces come from: `.auto` (the detector when installed, else the
    /// centred square), `.detect` (the detector, an error without it), `.none`.
    public let faceMode: FaceMode
    /// Whether the frames are searched for faces (`searchesFaces`).
    public let searchesFaces: Bool
    /// Set when `.auto` found no detector: why the frames are the centred square.
    public let noDetector: String?
    let detector: LazyDetector
    /// The face stage's part of the cache key: the mode and the detector's weights.
    let faceKey: String
    let audioPreprocessor: AudioPreprocessor?
    static let cacheVersion = "2"

    /// `faces` and `faceModel` as for a prediction (`FaceMode`, `Model(path:threads:faceModel:)`):
    /// throws when `faces` is `.detect` (or the config's faces are aligned) and no detector is found.
    public init(config: ERIConfig, cacheDirectory: String?, faces: FaceMode = .auto, faceModel: String? = nil) throws {
        self.config = config
        self.cacheDirectory = cacheDirectory
        faceMode = faces
        detector = LazyDetector(path: faceModel)
        searchesFaces = try ERIPipeline.searchesFaces(faces, video: config.video, detector: detector)
        noDetector = config.video != nil && faces == .auto && !searchesFaces ? (detector.failure ?? "none installed") : nil
        var key = Hash()
        key.add(searchesFaces ? "faces:detector:" : "faces:none")
        if searchesFaces, let path = detector.path {
            let weights = try MappedFile(path: path)
            key.add(weights.bytes)
            let o = detector.value!.options
            key.add("\(o.minFace) \(o.thresholds) \(o.factor) \(o.maxSide) \(o.maxCandidates)")
        }
        faceKey = String(key.value, radix: 16)
        audioPreprocessor = try config.audio.map { try AudioPreprocessor(config: $0) }
        if let cacheDirectory, !directoryExists(cacheDirectory) {
            guard mkdir(cacheDirectory, 0o755) == 0 || errno == EEXIST else {
                throw ERIError.io("\(cacheDirectory): cannot create the cache folder")
            }
        }
    }

    /// 64-bit FNV-1a, over bytes and text: the cache key.
    struct Hash {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        mutating func add(_ bytes: UnsafeRawBufferPointer) { for b in bytes { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 } }
        mutating func add(_ text: String) { var t = text; t.withUTF8 { add(UnsafeRawBufferPointer($0)) } }
    }

    func cacheKey(_ record: ClipRecord, training: Bool) throws -> String {
        var h = Hash()
        h.add(ClipLoader.cacheVersion + (training ? "train" : "eval"))
        h.add(config.video.map { var c = config; c.audio = nil; c.video = $0; return c.json["video"]!.serialized } ?? "-")
        h.add(config.audio.map { var c = config; c.video = nil; c.audio = $0; return c.json["audio"]!.serialized } ?? "-")
        if config.video != nil { h.add(faceKey) }
        for path in [config.video != nil ? record.video : nil, config.audio != nil ? record.audio : nil] {
            guard let path else { h.add("none"); continue }
            let file = try MappedFile(path: path)
            h.add(file.bytes)
        }
        let hex = String(h.value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    public func load(_ record: ClipRecord, training: Bool) throws -> PreparedClip {
        if config.video != nil && record.video == nil { throw ERIError.io("clip \(record.id): no video file") }
        if config.audio != nil && record.audio == nil { throw ERIError.io("clip \(record.id): no audio (neither a WAV nor a video file)") }
        var cachePath: String? = nil
        if let dir = cacheDirectory {
            cachePath = "\(dir)/\(try cacheKey(record, training: training)).safetensors"
            if let p = cachePath, fileExists(p), let cached = try? SafetensorsFile(path: p) {
                var clip = PreparedClip(record: record)
                if let e = cached.entry(named: "frames") { clip.frames = Tensor(shape: e.shape, data: cached.floats(e)) }
                if let e = cached.entry(named: "mfcc") { clip.mfcc = Tensor(shape: e.shape, data: cached.floats(e)) }
                if let f = clip.frames, let detected = cached.metadata["faces_detected"].flatMap({ Int($0) }),
                   let source = cached.metadata["faces_source"] {
                    clip.faces = ClipFaces(frames: f.shape[0], detected: detected, source: source)
                }
                if (clip.frames != nil) == (config.video != nil) && (clip.mfcc != nil) == (config.audio != nil)
                    && (clip.faces != nil) == (clip.frames != nil) { return clip }
            }
        }
        var clip = PreparedClip(record: record)
        if let v = config.video, let path = record.video {
            // SPEC §4.1a: the face stage of a file prediction, over the F (2F for training) frames cached.
            let video = try prepareVideo(file: path, count: v.frames * (training ? 2 : 1), config: v,
                                         detector: searchesFaces ? detector.value : nil)
            clip.frames = video.frames
            clip.faces = ClipFaces(frames: video.faces.placements.count, detected: video.faces.chosen.filter { $0 != nil }.count,
                                   source: video.faces.source)
        }
        if let a = config.audio, let path = record.audio, let pre = audioPreprocessor {
            let (_, decoded) = try decodeMedia(path: path, frames: nil, audioRate: a.sampleRate)
            guard let audio = decoded, audio.frameCount > 0 else { throw ERIError(.decode, "\(path): no audio samples") }
            let mono = audio.samples.withUnsafeBufferPointer { downmix(interleaved: $0, channels: audio.channels) }
            let mfcc = try mono.withUnsafeBufferPointer { try pre.extractor.compute($0) }
            clip.mfcc = pooledFeatures(mfcc, pool: a.pool, maxSteps: Int.max)
        }
        if let p = cachePath {
            var tensors: [NamedTensor] = []
            var metadata = [("clip", record.id)]
            if let f = clip.frames { tensors.append(NamedTensor(name: "frames", shape: f.shape, values: f.data)) }
            if let m = clip.mfcc { tensors.append(NamedTensor(name: "mfcc", shape: m.shape, values: m.data)) }
            if let faces = clip.faces { metadata += [("faces_detected", String(faces.detected)), ("faces_source", faces.source)] }
            try? writeSafetensors(path: p, tensors: tensors, metadata: metadata)  // a cache: failure only costs time
        }
        return clip
    }
}

/// The face stage over many clips: frames cached and those with a face of their own.
public struct FaceCounts: Sendable, Equatable {
    public var frames = 0, detected = 0, clips = 0, clipsWithoutFace = 0
    public init() {}
    public init(_ clips: [PreparedClip]) {
        for c in clips {
            guard let f = c.faces else { continue }
            frames += f.frames
            detected += f.detected
            self.clips += 1
            if f.detected == 0 { clipsWithoutFace += 1 }
        }
    }
    /// The share of cached frames with a face of their own (0 when none was cached).
    public var rate: Float { frames == 0 ? 0 : Float(detected) / Float(frames) }
}
