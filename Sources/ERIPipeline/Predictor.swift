import ERICore
import ERIFaces
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
    /// The face stage (SPEC §4.1a) runs on the F frames sampled per window.
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
            // SPEC §4.1 step 1 within each of the k parts: the F·k frames the model reads.
            var sampled: [ImageView] = []
            for j in 0..<k {
                let part = Array(frames[(frames.count * j / k)..<(frames.count * (j + 1) / k)])
                sampled += frameIndices(available: part.count, frames: v.frames).map { part[$0] }
            }
            let faces = try faceReport(frames: sampled, windows: k, mode: options.faces)
            try options.report(0.5)
            let per = v.channels * v.imageSize * v.imageSize
            var batch = Tensor(zeros: [k, v.frames, v.channels, v.imageSize, v.imageSize])   // (k, F, C, S, S)
            try batch.data.withUnsafeMutableBufferPointer { out in
                for (j, view) in sampled.enumerated() {
                    try view.preprocess(faces.placements[j], config: v, into: UnsafeMutableBufferPointer(rebasing: out[(j * per)..<((j + 1) * per)]))
                }
            }
            input.frames = batch
            p.framesGiven = frames.count
            p.framesUsed = v.frames * k
            p.faces = faces
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
        warn(&p, faces: options.faces)
        try options.report(1)
        return p
    }

    /// `prediction(frames:audio:options:)`'s intensities.
    public func predict(frames: [ImageView]?, audio: PCMView?) throws -> [Float] {
        try prediction(frames: frames, audio: audio).intensities
    }
}
