/// The model configuration of SPEC §3, parsed strictly: every key is required
/// except the `train` section, unknown keys are errors (usually typos), and
/// the structural rules (odd kernels, heads dividing widths, …) are checked
/// here once so that no later stage has to.
public struct ERIConfig: Equatable, Sendable {
    /// SPEC §1: the seven emotions, always in this order.
    public static let emotionNames = ["Adoration", "Amusement", "Anxiety", "Disgust", "Empathic-Pain", "Fear", "Surprise"]
    public static let emotionCount = 7

    public struct Encoder: Equatable, Sendable {
        public var layers: Int
        public var heads: Int
        public var ff: Int
        public init(layers: Int, heads: Int, ff: Int) { self.layers = layers; self.heads = heads; self.ff = ff }
    }

    public struct TCN: Equatable, Sendable {
        public var kernel: Int
        public var dilations: [Int]
        public init(kernel: Int, dilations: [Int]) { self.kernel = kernel; self.dilations = dilations }
    }

    public struct Backbone: Equatable, Sendable {
        public var type: String
        public var stemChannels: Int
        /// The stem convolution's side: 3 (SPEC §5, padding 1) or 7 (padding 3, torchvision's
        /// ResNet, for backbones imported from it); `stem_kernel`, written only when 7.
        public var stemKernel: Int
        public var widths: [Int]
        public var blocks: [Int]
        public init(type: String = "resnet", stemChannels: Int, stemKernel: Int = 3, widths: [Int], blocks: [Int]) {
            self.type = type; self.stemChannels = stemChannels; self.stemKernel = stemKernel; self.widths = widths; self.blocks = blocks
        }
    }

    public enum Color: String, Sendable { case rgb, gray }

    /// SPEC §4.1a: how the training faces were prepared, so inference prepares them alike.
    public enum FacePreparation: String, Sendable {
        /// The square crop of SPEC §4.1 step 2 around the face box (every v1 file).
        case box
        /// The five landmarks mapped onto the 112 px template by a similarity transform.
        case aligned
    }

    public struct Video: Equatable, Sendable {
        public var frames: Int
        public var imageSize: Int
        public var color: Color
        public var mean: [Float]
        public var std: [Float]
        public var backbone: Backbone
        public var spatial: Encoder
        public var dim: Int
        public var tcn: TCN
        public var temporal: Encoder
        /// `video.face`, optional: `box` when absent (SPEC §4.1a).
        public var face: FacePreparation = .box

        public var channels: Int { color == .rgb ? 3 : 1 }
        /// Width C of the backbone's last stage: the spatial tokens' width.
        public var tokenWidth: Int { backbone.widths.last! }
        /// Side of the backbone's output map (SPEC §5: 112 → 4).
        public var mapSide: Int {
            // The stem and the first block of every stage after the first are conv3×3, stride 2, padding 1.
            func halved(_ side: Int) -> Int { Conv2dShape.outputSide(side, kernel: 3, stride: 2, padding: 1) }
            var s = MaxPool2dShape.outputSide(halved(imageSize))  // stem, then the max-pool
            for _ in 1..<backbone.widths.count { s = halved(s) }
            return s
        }
    }

    public struct MFCC: Equatable, Sendable {
        public var nMFCC: Int
        public var nFFT: Int
        public var winLength: Int
        public var hopLength: Int
        public var nMels: Int
        public var fmin: Double
        public var fmax: Double
    }

    public struct Audio: Equatable, Sendable {
        public var sampleRate: Int
        public var mfcc: MFCC
        public var pool: Int
        public var maxSteps: Int
        public var dim: Int
        public var tcn: TCN
        public var temporal: Encoder
    }

    public struct Train: Equatable, Sendable {
        public var dropout: Double = 0.1
        public var modalityDropout: Double = 0.3
        public var pccWeight: Double = 1.0
        public init() {}
    }

    public var video: Video?
    public var audio: Audio?
    public var headHidden: Int
    public var train: Train

    /// Width of the fused vector z (SPEC §5).
    public var fusedWidth: Int { (video?.dim ?? 0) + (audio?.dim ?? 0) }
}

// MARK: - Presets (SPEC §3)

extension ERIConfig {
    public static let presetNames = ["dbn-base", "dbn-small", "dbn-tiny"]

    public static let base = ERIConfig(
        video: Video(frames: 32, imageSize: 112, color: .rgb, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5],
                     backbone: Backbone(stemChannels: 64, widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2]),
                     spatial: Encoder(layers: 1, heads: 8, ff: 1024), dim: 256,
                     tcn: TCN(kernel: 3, dilations: [1, 2, 4]), temporal: Encoder(layers: 2, heads: 4, ff: 512)),
        audio: Audio(sampleRate: 16000,
                     mfcc: MFCC(nMFCC: 40, nFFT: 512, winLength: 400, hopLength: 160, nMels: 64, fmin: 0, fmax: 8000),
                     pool: 4, maxSteps: 512, dim: 256,
                     tcn: TCN(kernel: 3, dilations: [1, 2, 4]), temporal: Encoder(layers: 2, heads: 4, ff: 512)),
        headHidden: 256, train: Train())

    public static var small: ERIConfig {
        var c = base
        c.video!.frames = 16
        c.video!.imageSize = 64
        c.video!.backbone = Backbone(stemChannels: 32, widths: [32, 64, 128, 256], blocks: [1, 1, 1, 1])
        c.video!.spatial = Encoder(layers: 1, heads: 4, ff: 512)
        c.video!.dim = 128
        c.video!.temporal = Encoder(layers: 1, heads: 4, ff: 256)
        c.audio!.dim = 128
        c.audio!.temporal = Encoder(layers: 1, heads: 4, ff: 256)
        c.headHidden = 128
        return c
    }

    public static var tiny: ERIConfig {
        var c = base
        c.video!.frames = 8
        c.video!.imageSize = 48
        c.video!.color = .gray
        c.video!.mean = [0.5]
        c.video!.std = [0.5]
        c.video!.backbone = Backbone(stemChannels: 8, widths: [8, 16, 16, 32], blocks: [1, 1, 1, 1])
        c.video!.spatial = Encoder(layers: 1, heads: 2, ff: 64)
        c.video!.dim = 32
        c.video!.tcn = TCN(kernel: 3, dilations: [1, 2])
        c.video!.temporal = Encoder(layers: 1, heads: 2, ff: 64)
        c.audio!.mfcc.nMFCC = 13
        c.audio!.mfcc.nMels = 26
        c.audio!.pool = 4
        c.audio!.maxSteps = 64
        c.audio!.dim = 32
        c.audio!.tcn = TCN(kernel: 3, dilations: [1, 2])
        c.audio!.temporal = Encoder(layers: 1, heads: 2, ff: 64)
        c.headHidden = 32
        return c
    }

    public static func preset(named name: String) -> ERIConfig? {
        switch name {
        case "dbn-base": return base
        case "dbn-small": return small
        case "dbn-tiny": return tiny
        default: return nil
        }
    }
}

// MARK: - Parsing

/// Reads one JSON object, remembering which keys were used so that `finish()`
/// can reject the rest. `path` names the object in error messages.
struct ConfigReader {
    let members: [(String, JSONValue)]
    let path: String
    var used = Set<String>()

    init(_ value: JSONValue, path: String) throws {
        guard let m = value.objectMembers else { throw ERIError.format("config: \(path.isEmpty ? "the config" : path) must be an object") }
        members = m
        self.path = path
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    mutating func value(_ key: String) throws -> JSONValue {
        used.insert(key)
        for (k, v) in members where k == key { return v }
        throw ERIError.format("config: missing key \"\(name(key))\"")
    }

    mutating func optionalValue(_ key: String) -> JSONValue? {
        used.insert(key)
        for (k, v) in members where k == key { return v }
        return nil
    }

    mutating func int(_ key: String, in range: ClosedRange<Int>) throws -> Int {
        try ConfigReader.int(try value(key), name: name(key), in: range)
    }

    static func int(_ v: JSONValue, name: String, in range: ClosedRange<Int>) throws -> Int {
        guard let d = v.numberValue, d == d.rounded(), d >= Double(range.lowerBound), d <= Double(range.upperBound) else {
            throw ERIError.format("config: \"\(name)\" must be an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return Int(d)
    }

    mutating func double(_ key: String, in range: ClosedRange<Double>) throws -> Double {
        guard let d = try value(key).numberValue, range.contains(d) else {
            throw ERIError.format("config: \"\(name(key))\" must be a number in \(range.lowerBound)…\(range.upperBound)")
        }
        return d
    }

    mutating func string(_ key: String) throws -> String {
        guard let s = try value(key).stringValue else { throw ERIError.format("config: \"\(name(key))\" must be a string") }
        return s
    }

    mutating func intArray(_ key: String, in range: ClosedRange<Int>, nonEmpty: Bool = true) throws -> [Int] {
        guard let a = try value(key).arrayValue else { throw ERIError.format("config: \"\(name(key))\" must be an array") }
        if nonEmpty && a.isEmpty { throw ERIError.format("config: \"\(name(key))\" must not be empty") }
        return try a.map { try ConfigReader.int($0, name: name(key), in: range) }
    }

    mutating func floatArray(_ key: String) throws -> [Float] {
        guard let a = try value(key).arrayValue else { throw ERIError.format("config: \"\(name(key))\" must be an array") }
        return try a.map {
            guard let d = $0.numberValue else { throw ERIError.format("config: \"\(name(key))\" must hold numbers") }
            return Float(d)
        }
    }

    mutating func object(_ key: String) throws -> ConfigReader {
        try ConfigReader(try value(key), path: name(key))
    }

    func finish() throws {
        for (k, _) in members where !used.contains(k) {
            throw ERIError.format("config: unknown key \"\(name(k))\"")
        }
    }
}

extension ERIConfig {
    /// Generous bounds that keep absurd configs from reaching an allocation.
    static let maxWidth = 8192

    public init(jsonText: String) throws {
        let value: JSONValue
        do { value = try JSONValue.parse(jsonText) } catch let e as ERIError {
            throw ERIError.format("config: \(e.message)")
        }
        try self.init(json: value)
    }

    public init(json: JSONValue) throws {
        var root = try ConfigReader(json, path: "")
        guard let emotions = try root.value("emotions").arrayValue?.compactMap({ $0.stringValue }),
              emotions == ERIConfig.emotionNames else {
            throw ERIError.format("config: \"emotions\" must be \(ERIConfig.emotionNames) (SPEC §1 order)")
        }
        let videoValue = try root.value("video")
        video = videoValue.isNull ? nil : try ERIConfig.parseVideo(try ConfigReader(videoValue, path: "video"))
        let audioValue = try root.value("audio")
        audio = audioValue.isNull ? nil : try ERIConfig.parseAudio(try ConfigReader(audioValue, path: "audio"))
        guard video != nil || audio != nil else { throw ERIError.format("config: \"video\" and \"audio\" cannot both be null") }
        var head = try root.object("head")
        headHidden = try head.int("hidden", in: 1...ERIConfig.maxWidth)
        try head.finish()
        train = Train()
        if let t = root.optionalValue("train"), !t.isNull {
            var r = try ConfigReader(t, path: "train")
            if r.optionalValue("dropout") != nil { train.dropout = try r.double("dropout", in: 0...0.99) }
            if r.optionalValue("modality_dropout") != nil { train.modalityDropout = try r.double("modality_dropout", in: 0...1) }
            if r.optionalValue("pcc_weight") != nil { train.pccWeight = try r.double("pcc_weight", in: 0...1000) }
            try r.finish()
        }
        try root.finish()
        try checkCosts()
    }

    static func parseEncoder(_ r: inout ConfigReader, _ key: String, width: Int) throws -> Encoder {
        var e = try r.object(key)
        let layers = try e.int("layers", in: 0...64)
        let heads = try e.int("heads", in: 1...ERIConfig.maxWidth)
        let ff = try e.int("ff", in: 1...(4 * ERIConfig.maxWidth))
        try e.finish()
        guard width % heads == 0 else {
            throw ERIError.format("config: \(e.path).heads = \(heads) does not divide the width \(width) it attends over")
        }
        return Encoder(layers: layers, heads: heads, ff: ff)
    }

    static func parseTCN(_ r: inout ConfigReader) throws -> TCN {
        var t = try r.object("tcn")
        let kernel = try t.int("kernel", in: 1...63)
        guard kernel % 2 == 1 else { throw ERIError.format("config: \(t.path).kernel = \(kernel) must be odd") }
        let dilations = try t.intArray("dilations", in: 1...4096, nonEmpty: false)
        guard dilations.count <= 64 else { throw ERIError.format("config: \(t.path).dilations has \(dilations.count) entries (at most 64)") }
        try t.finish()
        return TCN(kernel: kernel, dilations: dilations)
    }

    static func parseVideo(_ reader: ConfigReader) throws -> Video {
        var r = reader
        let frames = try r.int("frames", in: 1...Limits.maxFrames)
        let imageSize = try r.int("image_size", in: 8...Limits.maxImageSize)
        guard let color = Color(rawValue: try r.string("color")) else {
            throw ERIError.format("config: \"video.color\" must be \"rgb\" or \"gray\"")
        }
        let channels = color == .rgb ? 3 : 1
        let mean = try r.floatArray("mean"), std = try r.floatArray("std")
        guard mean.count == channels, std.count == channels else {
            throw ERIError.format("config: video.mean and video.std need \(channels) entries for color \"\(color.rawValue)\"")
        }
        guard std.allSatisfy({ $0 >= Limits.minStd && $0.isFinite }) else {
            throw ERIError.format("config: video.std \(std) must be finite and at least \(Limits.minStd) "
                                  + "(a smaller std turns any pixel into overflow)")
        }
        guard mean.allSatisfy({ abs($0) <= Limits.maxMean }) else {
            throw ERIError.format("config: video.mean \(mean) must be finite and within ±\(Int(Limits.maxMean)) (pixels are read in [0, 1])")
        }
        var b = try r.object("backbone")
        let type = try b.string("type")
        guard type == "resnet" else { throw ERIError.format("config: video.backbone.type \"\(type)\" is not supported (only \"resnet\")") }
        let stem = try b.int("stem_channels", in: 1...ERIConfig.maxWidth)
        var stemKernel = 3
        if b.optionalValue("stem_kernel") != nil {
            stemKernel = try b.int("stem_kernel", in: 3...7)
            guard stemKernel == 3 || stemKernel == 7 else { throw ERIError.format("config: video.backbone.stem_kernel must be 3 or 7") }
        }
        let widths = try b.intArray("widths", in: 1...ERIConfig.maxWidth)
        let blocks = try b.intArray("blocks", in: 1...64)
        try b.finish()
        guard widths.count == blocks.count else {
            throw ERIError.format("config: video.backbone.widths and blocks must have the same length")
        }
        guard widths.count <= 8 else { throw ERIError.format("config: video.backbone has more than 8 stages") }
        let spatial = try parseEncoder(&r, "spatial", width: widths.last!)
        let dim = try r.int("dim", in: 1...ERIConfig.maxWidth)
        let tcn = try parseTCN(&r)
        let temporal = try parseEncoder(&r, "temporal", width: dim)
        var face = FacePreparation.box
        if r.optionalValue("face") != nil {
            guard let f = FacePreparation(rawValue: try r.string("face")) else {
                throw ERIError.format("config: \"video.face\" must be \"box\" or \"aligned\"")
            }
            face = f
        }
        try r.finish()
        return Video(frames: frames, imageSize: imageSize, color: color, mean: mean, std: std,
                     backbone: Backbone(type: type, stemChannels: stem, stemKernel: stemKernel, widths: widths, blocks: blocks),
                     spatial: spatial, dim: dim, tcn: tcn, temporal: temporal, face: face)
    }

    static func parseAudio(_ reader: ConfigReader) throws -> Audio {
        var r = reader
        let sampleRate = try r.int("sample_rate", in: 1000...384_000)
        var m = try r.object("mfcc")
        let nMFCC = try m.int("n_mfcc", in: 1...512)
        let nFFT = try m.int("n_fft", in: 2...65536)
        let winLength = try m.int("win_length", in: 1...65536)
        let hop = try m.int("hop_length", in: 1...65536)
        let nMels = try m.int("n_mels", in: 1...1024)
        let fmin = try m.double("fmin", in: 0...Double(sampleRate))
        let fmax = try m.double("fmax", in: 0...Double(sampleRate))
        try m.finish()
        guard winLength <= nFFT else { throw ERIError.format("config: audio.mfcc.win_length must not exceed n_fft") }
        guard nMFCC <= nMels else { throw ERIError.format("config: audio.mfcc.n_mfcc must not exceed n_mels") }
        guard nMFCC <= 2 * hop else {
            throw ERIError.format("config: audio.mfcc.n_mfcc \(nMFCC) exceeds twice hop_length \(hop): the MFCC would hold more values than the audio")
        }
        guard fmin < fmax, fmax <= Double(sampleRate) / 2 else {
            throw ERIError.format("config: audio.mfcc needs fmin < fmax ≤ sample_rate / 2")
        }
        let pool = try r.int("pool", in: 1...1024)
        let maxSteps = try r.int("max_steps", in: 1...Limits.maxAudioSteps)
        let dim = try r.int("dim", in: 1...ERIConfig.maxWidth)
        let tcn = try parseTCN(&r)
        let temporal = try parseEncoder(&r, "temporal", width: dim)
        try r.finish()
        return Audio(sampleRate: sampleRate,
                     mfcc: MFCC(nMFCC: nMFCC, nFFT: nFFT, winLength: winLength, hopLength: hop, nMels: nMels, fmin: fmin, fmax: fmax),
                     pool: pool, maxSteps: maxSteps, dim: dim, tcn: tcn, temporal: temporal)
    }
}

// MARK: - Writing

extension ERIConfig {
    public var json: JSONValue {
        func n(_ x: Int) -> JSONValue { .number(Double(x)) }
        func d(_ x: Double) -> JSONValue { .number(x) }
        func f(_ x: [Float]) -> JSONValue { .array(x.map { .number(Double($0)) }) }
        func ints(_ x: [Int]) -> JSONValue { .array(x.map(n)) }
        func encoder(_ e: Encoder) -> JSONValue { .object([("layers", n(e.layers)), ("heads", n(e.heads)), ("ff", n(e.ff))]) }
        func tcn(_ t: TCN) -> JSONValue { .object([("kernel", n(t.kernel)), ("dilations", ints(t.dilations))]) }
        var videoJSON = JSONValue.null
        if let v = video {
            videoJSON = .object([
                ("frames", n(v.frames)), ("image_size", n(v.imageSize)), ("color", .string(v.color.rawValue)),
                ("mean", f(v.mean)), ("std", f(v.std)),
                ("backbone", .object([("type", .string(v.backbone.type)), ("stem_channels", n(v.backbone.stemChannels))]
                                     + (v.backbone.stemKernel == 3 ? [] : [("stem_kernel", n(v.backbone.stemKernel))])
                                     + [("widths", ints(v.backbone.widths)), ("blocks", ints(v.backbone.blocks))])),
                ("spatial", encoder(v.spatial)), ("dim", n(v.dim)), ("tcn", tcn(v.tcn)), ("temporal", encoder(v.temporal)),
            ] + (v.face == .box ? [] : [("face", .string(v.face.rawValue))]))  // a v1 file's meaning is left unwritten
        }
        var audioJSON = JSONValue.null
        if let a = audio {
            audioJSON = .object([
                ("sample_rate", n(a.sampleRate)),
                ("mfcc", .object([("n_mfcc", n(a.mfcc.nMFCC)), ("n_fft", n(a.mfcc.nFFT)), ("win_length", n(a.mfcc.winLength)),
                                  ("hop_length", n(a.mfcc.hopLength)), ("n_mels", n(a.mfcc.nMels)),
                                  ("fmin", d(a.mfcc.fmin)), ("fmax", d(a.mfcc.fmax))])),
                ("pool", n(a.pool)), ("max_steps", n(a.maxSteps)), ("dim", n(a.dim)),
                ("tcn", tcn(a.tcn)), ("temporal", encoder(a.temporal)),
            ])
        }
        return .object([
            ("emotions", .array(ERIConfig.emotionNames.map { .string($0) })),
            ("video", videoJSON),
            ("audio", audioJSON),
            ("head", .object([("hidden", n(headHidden))])),
            ("train", .object([("dropout", d(train.dropout)), ("modality_dropout", d(train.modalityDropout)),
                               ("pcc_weight", d(train.pccWeight))])),
        ])
    }

    /// This config without its audio branch (a video-only model).
    public var videoOnly: ERIConfig { var c = self; c.audio = nil; return c }
    /// This config without its video branch (an audio-only model).
    public var audioOnly: ERIConfig { var c = self; c.video = nil; return c }
}

// MARK: - What a model is, and what it takes

extension ERIConfig {
    /// The preset this config equals ("dbn-small", "dbn-tiny-video", …), or "custom".
    /// Training settings do not change what a model is, so they are ignored.
    public var presetName: String {
        for name in ERIConfig.presetNames {
            guard let p = ERIConfig.preset(named: name) else { continue }
            var c = self
            c.train = p.train
            if c == p { return name }
            if c == p.videoOnly { return name + "-video" }
            if c == p.audioOnly { return name + "-audio" }
        }
        return "custom"
    }

    /// SPEC §7's modality rule, the one place it is written: an input needs
    /// frames, audio or both, and none the model has no branch for (a branch
    /// the input lacks is a zero vector, SPEC §5). Throws `missingModality`.
    public func checkModalities(video hasVideo: Bool, audio hasAudio: Bool) throws {
        guard hasVideo || hasAudio else { throw ERIError(.missingModality, "no input: give frames, audio or both") }
        if hasVideo && video == nil {
            throw ERIError(.missingModality, "this model is audio-only (\(presetName)); it cannot use video frames")
        }
        if hasAudio && audio == nil {
            throw ERIError(.missingModality, "this model is video-only (\(presetName)); it cannot use audio")
        }
    }
}

// MARK: - What a model costs (Limits)

extension ERIConfig {
    /// What one clip costs this model, from its config alone.
    public struct Costs: Sendable {
        /// F · C · S²: one clip's preprocessed frames, in floats (0 without video).
        public var clipValues = 0
        /// The largest activation map of one frame in the backbone, in floats.
        public var frameActivation = 0
        /// Tokens the spatial attention attends over (the backbone map's side²).
        public var spatialTokens = 0
        /// Multiply-adds of one clip: backbone, attention, temporal layers, the
        /// MFCC of the longest audio the branch reads, the head.
        public var multiplyAdds: Double = 0
        public var parameters = 0
    }

    public var costs: Costs {
        var c = Costs()
        c.parameters = parameterCount
        var macs = 0.0
        func encoder(_ e: Encoder, length: Double, width: Double) -> Double {
            Double(e.layers) * (length * (4 * width * width + 2 * width * Double(e.ff)) + 2 * length * length * width)
        }
        func tcn(_ t: TCN, length: Double, width: Double) -> Double {
            Double(t.dilations.count) * 2 * length * width * width * Double(t.kernel)
        }
        if let v = video {
            c.clipValues = v.frames * v.channels * v.imageSize * v.imageSize
            func halved(_ side: Int) -> Int { Conv2dShape.outputSide(side, kernel: 3, stride: 2, padding: 1) }
            var side = halved(v.imageSize)
            var frame = Double(v.channels * v.backbone.stemKernel * v.backbone.stemKernel * v.backbone.stemChannels) * Double(side * side)
            var largest = v.backbone.stemChannels * side * side
            side = MaxPool2dShape.outputSide(side)
            for block in v.backboneBlocks {
                if block.stride == 2 { side = halved(side) }
                let area = Double(side * side)
                frame += Double(block.inputs * 9 * block.outputs) * area + Double(block.outputs * 9 * block.outputs) * area
                if block.hasShortcutConv { frame += Double(block.inputs * block.outputs) * area }
                largest = max(largest, block.outputs * side * side)
            }
            c.frameActivation = largest
            c.spatialTokens = v.mapSide * v.mapSide
            let n = Double(c.spatialTokens), width = Double(v.tokenWidth)
            frame += encoder(v.spatial, length: n, width: width) + n * width + width * Double(v.dim)
            macs += Double(v.frames) * frame
            macs += tcn(v.tcn, length: Double(v.frames), width: Double(v.dim)) + encoder(v.temporal, length: Double(v.frames), width: Double(v.dim))
        }
        if let a = audio {
            let m = a.mfcc, t = Double(a.maxSteps)
            let bins = Double(m.nFFT / 2 + 1)
            let perFrame = 2.5 * Double(m.nFFT) * Double(Int.bitWidth - m.nFFT.leadingZeroBitCount) + bins * Double(m.nMels) + Double(m.nMels * m.nMFCC)
            macs += Double(a.maxSteps * a.pool) * perFrame
            macs += t * Double(m.nMFCC * a.dim) + tcn(a.tcn, length: t, width: Double(a.dim)) + encoder(a.temporal, length: t, width: Double(a.dim))
        }
        macs += Double(fusedWidth * headHidden + headHidden * ERIConfig.emotionCount)
        c.multiplyAdds = macs
        return c
    }

    /// Checks the products that cost memory and time against `Limits` (each
    /// value alone was range-checked when it was parsed). Throws `format`.
    public func checkCosts() throws {
        let c = costs
        if let v = video {
            guard c.clipValues <= Limits.maxClipValues else {
                throw ERIError.format("config: video.frames × channels × image_size² = \(v.frames) × \(v.channels) × \(v.imageSize)² = "
                                      + "\(c.clipValues) values per clip, more than the \(Limits.maxClipValues) liberi allows")
            }
            guard c.frameActivation <= Limits.maxFrameActivation else {
                throw ERIError.format("config: the backbone's largest activation map is \(c.frameActivation) values per frame "
                                      + "(channels × side² at image_size \(v.imageSize)), more than the \(Limits.maxFrameActivation) liberi allows")
            }
            guard c.spatialTokens <= Limits.maxSpatialTokens else {
                throw ERIError.format("config: the spatial attention would attend over \(c.spatialTokens) tokens (a \(v.mapSide)×\(v.mapSide) map "
                                      + "from image_size \(v.imageSize) and \(v.backbone.widths.count) stages), more than the \(Limits.maxSpatialTokens) liberi allows")
            }
        }
        guard c.parameters <= Limits.maxParameters else {
            throw ERIError.format("config: \(c.parameters) parameters, more than the \(Limits.maxParameters) liberi allows")
        }
        guard c.multiplyAdds <= Double(Limits.maxMultiplyAdds) else {
            throw ERIError.format("config: one clip would take \(Int(c.multiplyAdds / 1e9)) billion multiply-adds, more than the \(Limits.maxMultiplyAdds / 1_000_000_000) billion liberi allows "
                                  + "(frames, image size, widths and sequence lengths together)")
        }
    }
}
