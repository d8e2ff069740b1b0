import ERICore
import ERIFaces
import ERIFeatures
import ERIMedia
import ERIModel

extension Model {
    /// Predicts a media file: any container/codec FFmpeg reads (video and/or
    /// audio track) or an audio file libsndfile reads. Only the frames
    /// SPEC §4.1 samples are converted, each preprocessed as it is decoded, so
    /// memory stays bounded for long, large videos; the audio track is
    /// decoded at the model's rate with its channels kept and averaged
    /// (SPEC §4.2). A track the model has no branch for is not decoded; a
    /// branch the file has no track for is a zero vector (SPEC §5, §7), and a
    /// warning. `box` (pixels of the decoded, upright frame) applies to every frame.
    ///
    /// With `LongInput.windows`, the file is cut into k equal parts: F·k
    /// frames are sampled over the whole file (so each part's F are SPEC §4.1's
    /// sampling of that part) and the audio is split in k; the k windows run
    /// as one batch and their estimates are averaged.
    public func prediction(file path: String, box: FaceBox? = nil, options: PredictOptions = PredictOptions()) throws -> Prediction {
        try namingFile(path) {
            var (input, p, _) = try prepare(file: path, box: box, options: options)
            try options.report(0.95)
            let y = try predict(input)
            p.intensities = p.windows == 1 ? y.data : meanIntensities(y)
            warn(&p, faces: options.faces)
            try options.report(1)
            return p
        }
    }

    /// Everything `prediction(file:box:options:)` does before the network:
    /// the network's input, the record (without intensities and warnings)
    /// and the time of each frame used. For diagnostics (`eri faces`).
    public func prepare(file path: String, box: FaceBox? = nil, options: PredictOptions = PredictOptions()) throws
        -> (input: NetworkInput, record: Prediction, timestamps: [Double?]) {
        try options.report(0)
        let probe = try probeMedia(path: path)
        let (k, window) = try windowPlan(options.longInput, duration: probe.duration)
        var p = Prediction(intensities: [])
        var input = NetworkInput()
        let v = config.video
        let count = v.map { $0.frames * k } ?? 0
        // SPEC §4.1a: faces are searched when the host gave no box. Tracking needs every sampled
        // frame's detections before any frame is prepared, so the frames are then decoded twice
        // (one full-size frame in memory at a time, as always): detection, then preparation.
        let search = v != nil && probe.hasVideo && box == nil ? try searchesFaces(options.faces) : false
        var clip: Tensor? = v.map { Tensor(zeros: [k, $0.frames, $0.channels, $0.imageSize, $0.imageSize]) }  // (k, F, C, S, S)
        var timestamps = [Double?](repeating: nil, count: count)
        var detections = [[DetectedFace]](repeating: [], count: count)
        var filled = Set<Int>()

        /// Prepares the frame for sample positions `positions` as `placement(j)` says.
        func prepare(_ frame: DecodedFrame, _ positions: [Int], _ placement: (Int) -> FacePlacement) throws {
            guard let v else { return }
            let per = v.channels * v.imageSize * v.imageSize
            try frame.withView(box: box, path: path) { view in
                try clip!.data.withUnsafeMutableBufferPointer { out in
                    for j in positions {
                        try view.preprocess(placement(j), config: v, into: UnsafeMutableBufferPointer(rebasing: out[(j * per)..<((j + 1) * per)]))
                    }
                }
            }
        }

        let decoded = try decodeMedia(path: path, frames: v != nil ? count : nil, audioRate: config.audio?.sampleRate,
                                      mono: true) { frame, positions in
            guard v != nil else { return }
            if search {
                let faces = try frame.withView(box: box, path: path) { detector!.detect($0) }
                for j in positions { detections[j] = faces }
            } else {
                try prepare(frame, positions) { _ in box.map { .box($0) } ?? .centre }
            }
            for j in positions { timestamps[j] = frame.timestamp; filled.insert(j) }
            try options.report((search ? 0.6 : 0.9) * Double(filled.count) / Double(max(count, 1)))
        }
        if !filled.isEmpty, let v {
            let faces: FaceReport
            if search {
                faces = report(detections: detections, hostBoxes: [FaceBox?](repeating: nil, count: count), windows: k, searched: true)
                var prepared = Set<Int>()
                try decodeMedia(path: path, frames: count, audioRate: nil) { frame, positions in
                    try prepare(frame, positions) { faces.placements[$0] }
                    prepared.formUnion(positions)
                    try options.report(0.6 + 0.3 * Double(prepared.count) / Double(count))
                }
            } else {
                faces = FaceReport(placements: [FacePlacement](repeating: box.map { .box($0) } ?? .centre, count: count),
                                   faces: [DetectedFace?](repeating: nil, count: count), detections: detections,
                                   chosen: [Int?](repeating: nil, count: count),
                                   coverage: box != nil ? 1 : 0, source: box != nil ? "host" : "none")
            }
            input.frames = clip
            p.framesGiven = decoded.videoFrames
            p.framesUsed = v.frames * k
            p.faces = faces
            let times = timestamps.compactMap { $0 }
            if let first = times.min(), let last = times.max() { p.videoSpan = first...last }
        }
        // An audio track too short for one analysis window in each part is the file's content,
        // not the caller's argument: the estimate goes on without it (the noAudio warning), or,
        // with nothing else to use, is refused as missing that modality, saying why.
        var unusableAudio: String?
        if let audio = decoded.audio, audio.frameCount > 0, let preprocessor = audioPreprocessor,
           !preprocessor.analyses(frames: audio.frameCount / k, rate: audio.sampleRate) {
            let ms = (Double(audio.frameCount) / Double(audio.sampleRate) * 10000).rounded(.down) / 10
            unusableAudio = "its audio (\(ms) ms\(k > 1 ? " in \(k) windows" : "")) is shorter than one analysis window "
                + "(\(preprocessor.config.mfcc.winLength) samples at \(preprocessor.config.sampleRate) Hz)"
        } else if let audio = decoded.audio, audio.frameCount > 0, let preprocessor = audioPreprocessor {
            let seconds = Double(audio.frameCount) / Double(audio.sampleRate)
            try audio.samples.withUnsafeBufferPointer { samples in
                do {
                    let pcm = try PCMView(samples: samples, sampleRate: audio.sampleRate, channels: audio.channels)
                    (input.mfcc, input.audioLengths) = try windowFeatures(pcm, parts: k, preprocessor: preprocessor)
                } catch let e as ERIError {
                    throw ERIError(e.code, "\(path): \(e.message)")
                }
            }
            p.audioSpan = 0...seconds
        }
        guard input.frames != nil || input.mfcc != nil else {
            let wanted = config.video != nil && config.audio != nil ? "video or audio" : config.video != nil ? "video" : "audio"
            throw ERIError(.missingModality, "\(path): the file has no \(wanted) track this model can use"
                                             + (unusableAudio.map { ": " + $0 } ?? ""))
        }
        p.windows = k
        p.window = window
        let audioSeconds = p.audioSpan?.upperBound ?? 0
        p.duration = probe.duration.map { max($0, audioSeconds) } ?? (audioSeconds > 0 ? audioSeconds : p.videoSpan?.upperBound)
        return (input, p, timestamps)
    }

    /// `prediction(file:box:options:)`'s intensities.
    public func predict(file path: String, box: FaceBox? = nil) throws -> [Float] {
        try prediction(file: path, box: box).intensities
    }

    /// The pooled MFCC steps of `parts` equal consecutive parts of `pcm`, as one
    /// padded batch: parts × T × n_mfcc and each part's steps.
    func windowFeatures(_ pcm: PCMView, parts k: Int, preprocessor: AudioPreprocessor) throws -> (Tensor, [Int]?) {
        let total = pcm.frameCount, c = pcm.channels
        let features = try (0..<k).map { j -> Tensor in
            let a = total * j / k, b = total * (j + 1) / k
            let part = try PCMView(samples: UnsafeBufferPointer(rebasing: pcm.samples[(a * c)..<(b * c)]), sampleRate: pcm.sampleRate, channels: c)
            return try preprocessor.features(part)   // (T_j, n_mfcc)
        }
        let n = preprocessor.config.mfcc.nMFCC, steps = features.map { $0.shape[0] }, longest = steps.max()!
        var batch = Tensor(zeros: [k, longest, n])   // (k, T, n_mfcc), padded with zeros
        for (j, f) in features.enumerated() {
            batch.data.replaceSubrange((j * longest * n)..<(j * longest * n + f.count), with: f.data)
        }
        return (batch, steps.allSatisfy { $0 == longest } ? nil : steps)
    }
}

/// Runs `body`; an error whose message does not name `path` gets it in front
/// (the network's overflow, a cancel), so that every failure of a file call names the file.
func namingFile<T>(_ path: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as ERIError where !e.message.contains(path) {
        throw ERIError(e.code, "\(path): \(e.message)")
    }
}

extension DecodedFrame {
    /// The decoded frame (RGB24) as a view with the host's box; a refusal names `path`.
    func withView<T>(box: FaceBox?, path: String, _ body: (ImageView) throws -> T) throws -> T {
        try pixels.withUnsafeBytes { raw in
            do {
                return try body(try ImageView(data: raw.baseAddress!, width: width, height: height,
                                              stride: 3 * width, format: .rgb24, box: box))
            } catch let e as ERIError {
                throw ERIError(e.code, "\(path): \(e.message)")
            }
        }
    }
}
