import ERICore
import ERIFeatures
import ERIModel

extension Model {
    /// Predicts the seven intensities of one clip from raw frames and/or PCM
    /// (SPEC §7): the preprocessing of SPEC §4, then the network. Either input
    /// may be nil, not both; a modality the model lacks is an error, a
    /// modality the model has but the call lacks is a zero vector (SPEC §5).
    /// The views were validated when they were made.
    public func predict(frames: [ImageView]?, audio: PCMView?) throws -> [Float] {
        try config.checkModalities(video: frames != nil, audio: audio != nil)
        var input = NetworkInput()
        if let frames, let v = config.video {
            var clip = try preprocessClip(frames, config: v)   // (F, C, S, S)
            clip.shape.insert(1, at: 0)
            input.frames = clip
        }
        if let audio, let preprocessor = audioPreprocessor {
            var features = try preprocessor.features(audio)    // (T, n_mfcc)
            features.shape.insert(1, at: 0)
            input.mfcc = features
        }
        return try predict(input).data
    }
}
