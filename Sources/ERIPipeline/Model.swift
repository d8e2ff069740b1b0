import ERICore
import ERIFeatures
import ERIModel

/// A model ready for prediction: the validated file, the network built for
/// inference, and the audio preprocessing its config asks for. Immutable
/// after `init`, so any number of threads may predict with one instance at once.
///
/// This is the pipeline's front: raw frames, PCM or a media file go in
/// (`predict(frames:audio:)`, `predict(file:box:)`, `ModelStream`), are
/// prepared as SPEC §4 says, and reach the network as tensors.
public final class Model: @unchecked Sendable {
    public let file: ModelFile
    public var config: ERIConfig { file.config }
    /// Compute threads requested at open (0 = all cores).
    public let threads: Int

    public let network: Network
    /// MFCC extraction for the audio branch (window, mel bank and DCT built once).
    public let audioPreprocessor: AudioPreprocessor?
    /// The face detector (SPEC §4.1a), loaded when first needed.
    let faceDetector: LazyDetector

    /// `faceModel`: the detector's weights; nil: $ERI_FACE_MODEL, else the
    /// installed PREFIX/share/eri/face-mtcnn.safetensors (see `installedFaceModels`).
    public convenience init(path: String, threads: Int = 0, faceModel: String? = nil) throws {
        try self.init(file: try ModelFile.load(path: path), threads: threads, faceModel: faceModel)
    }

    public init(file: ModelFile, threads: Int = 0, faceModel: String? = nil) throws {
        self.file = file
        self.threads = threads
        faceDetector = LazyDetector(path: faceModel)
        network = Network(file: file)
        audioPreprocessor = try file.config.audio.map { try AudioPreprocessor(config: $0) }
        if threads > 0 { setComputeThreads(threads) }
    }

    /// Runs the network on preprocessed inputs (SPEC §4 already applied):
    /// returns B × 7 intensities in [0, 1]. A modality the model has but the
    /// input lacks is a zero vector in the fused z (SPEC §5).
    public func predict(_ input: NetworkInput, trace: ForwardTrace? = nil) throws -> Tensor {
        try network.forward(input, trace: trace)
    }

    /// A two-branch model on a batch with both modalities, scored three ways in one pass:
    /// both, the video withheld and the audio withheld (as `predict` without that input).
    /// Throws `.missingModality` for a single-branch model or an input lacking a modality.
    public func predictWithheld(_ input: NetworkInput) throws -> (both: Tensor, withoutVideo: Tensor, withoutAudio: Tensor) {
        try network.forwardWithheld(input)
    }

    /// The preset this model's config equals ("dbn-small", "dbn-tiny-video", …), or "custom".
    public var presetName: String { config.presetName }

    /// The clip length the model was trained on: `clip_seconds` in its provenance, if there.
    public var trainedClipSeconds: Double? {
        guard let text = file.provenance, let json = try? JSONValue.parse(text),
              case .object(let members) = json,
              let value = members.first(where: { $0.0 == "clip_seconds" })?.1,
              case .number(let seconds) = value, seconds.isFinite, seconds >= 0.1, seconds <= 3600 else { return nil }
        return seconds
    }
}

extension Model {
    /// Why the face detector cannot be used (no weights found, or unreadable ones), nil when it can; loads it.
    public var faceDetectorFailure: String? {
        detector != nil ? nil : (faceDetector.failure ?? "no face detector")
    }
}
