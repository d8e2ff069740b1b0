import ERICore
import ERIFeatures

/// A model ready for prediction: the validated file and (once built) the
/// inference engine. Immutable after `init`, so any number of threads may
/// predict with one instance at once.
public final class Model: @unchecked Sendable {
    public let file: ModelFile
    public var config: ERIConfig { file.config }
    /// Compute threads requested at open (0 = all cores).
    public let threads: Int

    let network: InferenceNetwork
    /// MFCC extraction for the audio branch (window, mel bank and DCT built once).
    let audioPreprocessor: AudioPreprocessor?

    public convenience init(path: String, threads: Int = 0) throws {
        try self.init(file: try ModelFile.load(path: path), threads: threads)
    }

    public init(file: ModelFile, threads: Int = 0) throws {
        BLASKernels.selectFastKernels()
        self.file = file
        self.threads = threads
        network = InferenceNetwork(file: file)
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
    public var presetName: String {
        for name in ERIConfig.presetNames {
            guard let p = ERIConfig.preset(named: name) else { continue }
            var c = config
            c.train = p.train  // training settings do not change what a model is
            if c == p { return name }
            if c == p.videoOnly { return name + "-video" }
            if c == p.audioOnly { return name + "-audio" }
        }
        return "custom"
    }
}
