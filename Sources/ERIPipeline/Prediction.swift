import ERICore
import ERIFeatures
import ERIModel

/// How a prediction treats an input much longer than the model's training clips.
public enum LongInput: Sendable, Equatable {
    /// One estimate over the whole input: F frames spread over all of it (SPEC §4.1), the whole audio.
    case whole
    /// The mean of the estimates of consecutive windows of this many seconds
    /// (nil: the model's training clip length, else 10 s); the input is cut
    /// into round(duration / window) equal parts, at least one.
    case windows(seconds: Double?)
}

/// What a caller may ask of a prediction beyond its inputs.
public struct PredictOptions {
    /// Called with the fraction done (0…1, non-decreasing); returning false
    /// stops the call, which then throws `.cancelled`.
    public var progress: ((Double) -> Bool)?
    public var longInput: LongInput = .whole
    /// Where the faces come from (SPEC §4.1a).
    public var faces: FaceMode = .auto
    public init(progress: ((Double) -> Bool)? = nil, longInput: LongInput = .whole, faces: FaceMode = .auto) {
        self.progress = progress
        self.longInput = longInput
        self.faces = faces
    }

    /// Reports `fraction`; throws `.cancelled` when the callback says stop.
    func report(_ fraction: Double) throws {
        if let progress, !progress(min(max(fraction, 0), 1)) {
            throw ERIError(.cancelled, "cancelled by the progress callback at \(Int((fraction * 100).rounded())) %")
        }
    }
}

/// Why an estimate deserves less trust (the C API's ERI_WARN_* bits).
public struct PredictionWarnings: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The weights are a random initialisation (`eri init`): the numbers mean nothing.
    public static let randomWeights = PredictionWarnings(rawValue: 1)
    /// A model with a video branch got no video; its part of z is zero (SPEC §5).
    public static let noVideo = PredictionWarnings(rawValue: 2)
    /// A model with an audio branch got no audio.
    public static let noAudio = PredictionWarnings(rawValue: 4)
    /// The input is much longer than the training clips (see `LongInput`).
    public static let longInput = PredictionWarnings(rawValue: 8)
    /// No face was found in any frame used: the model saw the centred square.
    public static let noFace = PredictionWarnings(rawValue: 16)
    /// Fewer than half of the frames used had a face of their own (the rest borrowed a neighbour's).
    public static let fewFaces = PredictionWarnings(rawValue: 32)
    /// No face detector is installed: frames without a host box were read as the centred square.
    public static let noDetector = PredictionWarnings(rawValue: 64)
}

/// One estimate and what it was made from: what a measurement library owes
/// its users besides the numbers.
public struct Prediction: Sendable {
    /// The seven intensities in [0, 1], SPEC §1 order.
    public var intensities: [Float]
    /// Frames in the input (a file: the frames decoded), 0 without video.
    public var framesGiven = 0
    /// Frames the video branch read (F per window), 0 when video was not used.
    public var framesUsed = 0
    /// Time of the first and the last frame used, seconds (files only: frames in memory carry no time).
    public var videoSpan: ClosedRange<Double>?
    /// The span of audio used, seconds from the input's start; nil when audio was not used.
    public var audioSpan: ClosedRange<Double>?
    /// The input's length in seconds (the longer track), nil if unknown.
    public var duration: Double?
    /// 1, or the windows averaged (`LongInput.windows`), and their length.
    public var windows = 1
    public var window: Double?
    public var warnings: PredictionWarnings = []
    /// Each warning in words, in bit order.
    public var messages: [String] = []
    /// What the face stage did (nil without video).
    public var faces: FaceReport?
    /// The share of the frames used that had a face of their own (SPEC §4.1a), nil without video.
    public var faceCoverage: Float? { faces?.coverage }

    public var audioUsed: Bool { audioSpan != nil }
}

extension Model {
    /// The weights are an untrained random initialisation (`eri init` writes that provenance).
    public var hasRandomWeights: Bool { file.provenance?.hasPrefix("random initialisation") ?? false }

    /// The length to compare inputs with: the training clip length, else the stream's default 10 s.
    var referenceSeconds: Double { trainedClipSeconds ?? 10 }

    /// An input is "much longer" than the training clips beyond twice their length, and at least 10 s more.
    func isLong(_ seconds: Double) -> Bool { seconds > max(2 * referenceSeconds, referenceSeconds + 10) }

    /// The most windows one prediction runs at once: their frames, k · F · C · S²
    /// floats, stay within `Limits.maxBatchValues` (dbn-base: 55), and at most 4096.
    var maxWindows: Int {
        let clip = config.costs.clipValues
        return clip > 0 ? max(1, min(4096, Limits.maxBatchValues / clip)) : 4096
    }

    /// The windows `LongInput` asks for over `duration` seconds (1 when unknown
    /// or `.whole`), and their length: the one asked for, or longer when the
    /// input would need more than `maxWindows` of them (the input is then cut
    /// into `maxWindows` equal parts).
    func windowPlan(_ long: LongInput, duration: Double?) throws -> (count: Int, seconds: Double?) {
        guard case .windows(let requested) = long else { return (1, nil) }
        let w = requested ?? referenceSeconds
        guard w.isFinite, w >= 0.1, w <= 3600 else { throw ERIError.invalidArgument("window \(w) s is outside 0.1 s … 3600 s") }
        guard let duration, duration > 0, duration.isFinite else { return (1, w) }
        let wanted = max(1, Int(min((duration / w).rounded(), 1e9)))
        return wanted <= maxWindows ? (wanted, w) : (maxWindows, duration / Double(maxWindows))
    }

    /// Fills the warnings of `p` (and logs them at WARNING level); `faces`: the call's face mode.
    func warn(_ p: inout Prediction, faces mode: FaceMode) {
        var w: PredictionWarnings = []
        var words: [String] = []
        if hasRandomWeights {
            w.insert(.randomWeights)
            // The provenance reads "random initialisation (seed N)…": its seed part, not the phrase twice.
            let detail = String((file.provenance ?? "").dropFirst("random initialisation".count).drop { $0 == " " })
            words.append("the model's weights are a random initialisation\(detail.isEmpty ? "" : " " + detail): the numbers mean nothing")
        }
        if config.video != nil && p.framesUsed == 0 {
            w.insert(.noVideo)
            words.append("no video: the model's video branch saw zeros")
        }
        if config.audio != nil && p.audioSpan == nil {
            w.insert(.noAudio)
            words.append("no audio: the model's audio branch saw zeros")
        }
        if let f = p.faces, p.framesUsed > 0 {
            if f.source == "none" && mode != .none && detector == nil {
                w.insert(.noDetector)
                words.append("no face detector installed (\(faceDetector.failure ?? "")): the model saw the centred square of each frame")
            } else if f.coverage == 0 && f.source != "none" {
                w.insert(.noFace)
                words.append("no face found in the \(p.framesUsed) frames used: the model saw the centred square of each frame")
            } else if f.coverage < 0.5 && f.source != "none" {
                w.insert(.fewFaces)
                words.append("a face was found in only \(Int((f.coverage * 100).rounded())) % of the frames used; the others took a neighbour's")
            }
        }
        if let d = p.duration, isLong(d), p.windows == 1 {
            w.insert(.longInput)
            let ref = trainedClipSeconds.map { "the \(format($0)) s clips the model was trained on" } ?? "the 10 s such models are usually trained on"
            words.append("the input lasts \(format(d)) s, far longer than \(ref): one estimate spreads \(config.video?.frames ?? 0) frames over it "
                         + "(ask for the mean over windows, or a timeline)")
        }
        p.warnings = w
        p.messages = words
        for m in words { Log.emit(.warning, m) }
    }

    private func format(_ x: Double) -> String { String(Double(Int((x * 10).rounded())) / 10) }

    /// The mean of the batch's rows (B × 7): one estimate over the windows.
    func meanIntensities(_ y: Tensor) -> [Float] {
        let k = ERIConfig.emotionCount, b = y.shape[0]
        return (0..<k).map { e in (0..<b).reduce(Float(0)) { $0 + y.data[$1 * k + e] } / Float(b) }
    }
}
