import ERICore
import ERIFeatures
import ERIMedia
import ERIModel

extension Model {
    /// Predicts a media file: any container/codec FFmpeg reads (video and/or
    /// audio track) or an audio file libsndfile reads. Only the F frames
    /// SPEC §4.1 samples are converted, each preprocessed as it is decoded, so
    /// memory stays bounded for long, large videos; the audio track is
    /// decoded at the model's rate with its channels kept and averaged
    /// (SPEC §4.2). A track the model has no branch for is not decoded; a
    /// branch the file has no track for is a zero vector (SPEC §5, §7).
    /// `box` (pixels of the decoded, upright frame) applies to every frame.
    public func predict(file path: String, box: FaceBox? = nil) throws -> [Float] {
        try predict(NetworkInput(file: path, config: config, audioPreprocessor: audioPreprocessor, box: box)).data
    }
}

extension NetworkInput {
    /// A one-clip network input decoded and preprocessed from a media file.
    init(file path: String, config: ERIConfig, audioPreprocessor: AudioPreprocessor?, box: FaceBox?) throws {
        self.init()
        let v = config.video
        var clip: Tensor? = v.map { Tensor(zeros: [1, $0.frames, $0.channels, $0.imageSize, $0.imageSize]) }  // (1, F, C, S, S)
        var delivered = 0
        let audio = try decodeMedia(path: path, frames: v?.frames, audioRate: config.audio?.sampleRate) { frame, positions in
            guard let v else { return }
            let per = v.channels * v.imageSize * v.imageSize
            try frame.pixels.withUnsafeBytes { raw in
                do {
                    let view = try ImageView(data: raw.baseAddress!, width: frame.width, height: frame.height, stride: 3 * frame.width,
                                             format: .rgb24, box: box)
                    try clip!.data.withUnsafeMutableBufferPointer { out in
                        for j in positions {
                            try preprocessFrame(view, config: v, into: UnsafeMutableBufferPointer(rebasing: out[(j * per)..<((j + 1) * per)]))
                        }
                    }
                } catch let e as ERIError {
                    throw ERIError(e.code, "\(path): \(e.message)")
                }
            }
            delivered += 1
        }
        if delivered > 0 { frames = clip }
        if let audio, let audioPreprocessor, audio.frameCount > 0 {
            mfcc = try audio.samples.withUnsafeBufferPointer { samples in
                var m = try audioPreprocessor.features(PCMView(samples: samples, sampleRate: audio.sampleRate, channels: audio.channels))
                m.shape.insert(1, at: 0)
                return m
            }
        }
        guard frames != nil || mfcc != nil else {
            throw ERIError(.missingModality, "\(path): the file has no \(config.video != nil && config.audio != nil ? "video or audio" : config.video != nil ? "video" : "audio") track this model can use")
        }
    }
}
