import ERICore
import ERIFeatures
import ERIModel

extension Model {
    /// Predicts the seven intensities of one clip from raw frames and/or PCM
    /// (SPEC §7): the preprocessing of SPEC §4, then the network. Either input
    /// may be nil, not both; a modality the model lacks is an error, a
    /// modality the model has but the call lacks is a zero vector (SPEC §5)
    /// and a warning. The views were validated when they were made. Frames in
    /// memory carry no time: the duration, when known, comes from the audio,
    /// and `LongInput.windows` cuts both inputs into the same k equal parts.
    public func prediction(frames: [ImageView]?, audio: PCMView?, options: PredictOptions = PredictOptions()) throws -> Prediction {
        try config.checkModalities(video: frames != nil, audio: audio != nil)
        try options.report(0)
        let seconds = audio.map { Double($0.frameCount) / Double($0.sampleRate) }
        var (k, window) = try windowPlan(options.longInput, duration: seconds)
        if let frames, !frames.isEmpty { k = min(k, frames.count) }
        var p = Prediction(intensities: [])
        var input = NetworkInput()
        if let frames, let v = config.video {
            guard !frames.isEmpty else { throw ERIError.invalidArgument("no frames: a clip needs at least one frame") }
            let per = v.frames * v.channels * v.imageSize * v.imageSize
            var batch = Tensor(zeros: [k, v.frames, v.channels, v.imageSize, v.imageSize])   // (k, F, C, S, S)
            for j in 0..<k {
                let part = Array(frames[(frames.count * j / k)..<(frames.count * (j + 1) / k)])
                let clip = try preprocessClip(part, config: v)   // (F, C, S, S)
                batch.data.replaceSubrange((j * per)..<((j + 1) * per), with: clip.data)
                try options.report(0.8 * Double(j + 1) / Double(k))
            }
            input.frames = batch
            p.framesGiven = frames.count
            p.framesUsed = v.frames * k
        }
        if let audio, let preprocessor = audioPreprocessor {
            (input.mfcc, input.audioLengths) = try windowFeatures(audio, parts: k, preprocessor: preprocessor)
            p.audioSpan = 0...(seconds ?? 0)
        }
        try options.report(0.9)
        let y = try predict(input)
        p.intensities = k == 1 ? y.data : meanIntensities(y)
        p.windows = k
        p.window = window
        p.duration = seconds
        warn(&p)
        try options.report(1)
        return p
    }

    /// `prediction(frames:audio:options:)`'s intensities.
    public func predict(frames: [ImageView]?, audio: PCMView?) throws -> [Float] {
        try prediction(frames: frames, audio: audio).intensities
    }
}
