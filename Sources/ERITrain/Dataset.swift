import ERICore
import ERIFeatures
import ERIMedia

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

/// A clip decoded and preprocessed (SPEC §4), ready for batching.
public struct PreparedClip: Sendable {
    public var record: ClipRecord
    /// F·k × C × S × S normalised frames (k = 2 for training, which jitters
    /// between the two sub-frames of each of the F segments; 1 otherwise).
    public var frames: Tensor?
    /// T × n_mfcc pooled MFCC, NOT capped (training crops, evaluation caps).
    public var mfcc: Tensor?
}

/// Decodes and preprocesses clips, with an on-disk cache (safetensors) keyed
/// by the media files' content and the preprocessing config, so later epochs
/// do not decode video again. The cache is safe to delete.
public final class ClipLoader: @unchecked Sendable {
    public let config: ERIConfig
    public let cacheDirectory: String?
    let audioPreprocessor: AudioPreprocessor?
    static let cacheVersion = "1"

    public init(config: ERIConfig, cacheDirectory: String?) throws {
        self.config = config
        self.cacheDirectory = cacheDirectory
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
                if (clip.frames != nil) == (config.video != nil) && (clip.mfcc != nil) == (config.audio != nil) { return clip }
            }
        }
        var clip = PreparedClip(record: record)
        if let v = config.video, let path = record.video {
            let count = v.frames * (training ? 2 : 1)
            let per = v.channels * v.imageSize * v.imageSize
            var frames = Tensor(zeros: [count, v.channels, v.imageSize, v.imageSize])
            var delivered = 0
            try decodeMedia(path: path, frames: count, audioRate: nil) { frame, positions in
                try frame.pixels.withUnsafeBytes { raw in
                    let view = try ImageView(data: raw.baseAddress!, width: frame.width, height: frame.height, stride: 3 * frame.width, format: .rgb24)
                    try frames.data.withUnsafeMutableBufferPointer { out in
                        for j in positions { try preprocessFrame(view, config: v, into: UnsafeMutableBufferPointer(rebasing: out[(j * per)..<((j + 1) * per)])) }
                    }
                }
                delivered += 1
            }
            guard delivered > 0 else { throw ERIError(.decode, "\(path): no video frames") }
            clip.frames = frames
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
            if let f = clip.frames { tensors.append(NamedTensor(name: "frames", shape: f.shape, values: f.data)) }
            if let m = clip.mfcc { tensors.append(NamedTensor(name: "mfcc", shape: m.shape, values: m.data)) }
            try? writeSafetensors(path: p, tensors: tensors, metadata: [("clip", record.id)])  // a cache: failure only costs time
        }
        return clip
    }
}
