import ERICore
import ERIFeatures

/// Interleaved PCM in the caller's memory (SPEC §4.2 input).
public struct PCMView {
    public var samples: UnsafeBufferPointer<Float>  // n_per_channel × channels, interleaved
    public var sampleRate: Int
    public var channels: Int
    public init(samples: UnsafeBufferPointer<Float>, sampleRate: Int, channels: Int) {
        self.samples = samples
        self.sampleRate = sampleRate
        self.channels = channels
    }
}

extension Model {
    /// Predicts the seven intensities of one clip from raw frames and/or PCM
    /// (SPEC §7): preprocessing of SPEC §4, then the network. Either input may
    /// be nil, not both; a modality the model lacks is an error, a modality
    /// the model has but the call lacks is a zero vector (SPEC §5).
    public func predict(frames: [ImageView]?, audio: PCMView?) throws -> [Float] {
        guard frames != nil || audio != nil else {
            throw ERIError(.missingModality, "no input: give frames, audio or both")
        }
        var input = NetworkInput()
        if let frames {
            guard let v = config.video else {
                throw ERIError(.missingModality, "this model is audio-only (\(presetName)); it cannot use video frames")
            }
            guard !frames.isEmpty else { throw ERIError.invalidArgument("no frames: a clip needs at least one frame") }
            var clip = try preprocessClip(frames, config: v)
            clip.shape.insert(1, at: 0)
            input.frames = clip
        }
        if let audio {
            guard let preprocessor = audioPreprocessor else {
                throw ERIError(.missingModality, "this model is video-only (\(presetName)); it cannot use audio")
            }
            var features = try preprocessor.features(interleaved: audio.samples, sampleRate: audio.sampleRate, channels: audio.channels)
            features.shape.insert(1, at: 0)
            input.mfcc = features
        }
        return try predict(input).data
    }
}
