import ERICore
import ERIFaces
import ERIFeatures
import ERIModel

/// Options of a `ModelStream`.
public struct StreamOptions: Sendable, Equatable {
    /// Window length W in seconds. nil: the clip length the model was trained
    /// on (`clip_seconds` in its provenance), else 10 s.
    public var window: Double?
    /// How far, in seconds, a frame may lie from a sample time and still
    /// represent it. nil: half a cell, W / (2F): the frame must lie in the cell.
    public var maxFrameGap: Double?
    /// Where the faces come from (SPEC §4.1a); frames with a box keep it.
    public var faces: FaceMode = .auto
    /// Frames (of those a window uses) between two full detections; in
    /// between, the previous face is refined with R-Net and O-Net only.
    public var redetectEvery = 5
    public init(window: Double? = nil, maxFrameGap: Double? = nil, faces: FaceMode = .auto, redetectEvery: Int = 5) {
        self.window = window
        self.maxFrameGap = maxFrameGap
        self.faces = faces
        self.redetectEvery = redetectEvery
    }
}

/// One estimate of a stream and exactly what it was computed from.
public struct StreamEstimate: Sendable {
    /// The seven intensities in [0, 1].
    public var intensities: [Float]
    /// The window [windowStart, windowEnd) in the stream's clock (seconds).
    public var windowStart: Double
    public var windowEnd: Double
    /// Timestamps of the F frames the estimate used, sample time j = 0…F−1 in
    /// order; a timestamp repeats where a sample time had no frame of its own.
    /// Empty when the window held no frame (or the model has no video branch).
    public var frameTimestamps: [Double]
    /// The audio it used: `audioSampleCount` mono samples at the model's rate,
    /// the stream's audio samples from `audioFirstSample` on, starting at
    /// `audioStart` seconds. Count 0 when the window held no audio.
    public var audioStart: Double
    public var audioFirstSample: Int
    public var audioSampleCount: Int
    public var audioSampleRate: Int
    /// The share of the F frames used that had a face of their own (detected
    /// or given by the host), nil without video; and each frame's placement.
    public var faceCoverage: Float?
    public var facePlacements: [FacePlacement] = []
}

/// A sliding window over live frames and PCM (API.md "Streaming").
///
/// Video is sampled by time. Window ends lie on a grid of Δ = W/F seconds,
/// t = kΔ, and the window [t − W, t) is represented by the frames nearest
/// to the sample times s_m = (m + ½)Δ, m = k − F … k − 1 (the middles of its F
/// cells), so consecutive windows share F − 1 sample times. When a frame
/// arrives, the sample times it settles get their frame, and each chosen
/// frame's vector (backbone, spatial attention, projection: the per-frame
/// part of the network) is computed then, once, and reused by every window
/// holding it. Frames that no sample time will use are dropped after a
/// timestamp check; frames that might still be used (the last one before a
/// sample time) are kept as preprocessed pixels.
///
/// A sample time with no frame within `maxFrameGap` (a camera dropout, the
/// start of the stream) takes the frame of the nearest sample time in the
/// window that has one (the earlier on a tie). A window with no frame at all
/// has no video: the estimate is audio-only, as `predict` with no frames.
///
/// Audio goes through a `StreamingMFCC`: downmixed, resampled to the model's
/// rate on the fly, and its MFCC frames computed once, on the stream's own
/// hop grid. A window's audio is the samples [a, a + L), L = round(W · rate),
/// where a is t − W in samples rounded down to the grid of hop × pool
/// samples, or what of it has arrived; only the MFCC frames whose analysis
/// window crosses the span's edges are recomputed. A read then runs only the
/// temporal parts of the network.
///
/// So a read equals `Model.predict(frames:audio:)` on exactly the frames
/// whose timestamps it reports and the audio samples `lastWindowAudio()`
/// returns (at the model's rate, mono); the stream tests check that.
///
/// Timestamps are seconds on one clock shared by both modalities. Frame
/// timestamps must increase. An audio chunk should start where the previous
/// one ended: within 30 ms it is taken as contiguous; a later start
/// is a gap, filled with silence (a gap longer than W + 1 s restarts the
/// audio clock); an earlier start is an error and the chunk is dropped.
/// The stream keeps only what future windows can use, so its memory stays
/// flat over any session length. A stream belongs to one thread at a time.
public final class ModelStream {
    public let model: Model
    /// W, seconds.
    public let window: Double
    /// The largest frame a stream copies (it keeps the latest frame until it
    /// knows whether a window needs it): 256 MiB, a 16K frame of RGB.
    public static let maxFrameBytes = 1 << 28

    /// The grid of window ends: W/F with a video branch, else hop × pool samples.
    public let step: Double
    public let maxFrameGap: Double

    /// A frame that a sample time uses or may use: a copy of its pixels until
    /// its vector is computed, then the vector and how its face was placed.
    final class Candidate {
        let timestamp: Double
        var copy: ImageCopy?
        var vector: [Float]?
        var placement: FacePlacement = .centre
        var hasFace = false
        init(timestamp: Double) { self.timestamp = timestamp }
    }

    // Face state: the subject's last face and full detections' spacing (SPEC §4.1a, online).
    let searchFaces: Bool
    let redetectEvery: Int
    var lastFace: DetectedFace?
    /// The timestamp of the frame `lastFace` was found in.
    var lastFaceTime = 0.0
    var sinceDetection = Int.max
    /// Full detections in a row that did not find the subject: after 3 the track restarts on the most confident face.
    var misses = 0

    // Video state.
    var previous: Candidate?
    var nextCell: Int?
    var cells: [Int: Candidate] = [:]
    var oldestCell = Int.max
    var lastFrameTime: Double?
    /// The audio half (nil without an audio branch).
    let audio: StreamingMFCC?
    var clock: Double?
    /// The last read's estimate. It records what it was computed from (its
    /// window's end, the timestamps of its frames, its audio samples), so a
    /// read whose window holds the same is answered with it (the network is
    /// deterministic), without running the network again.
    public private(set) var lastEstimate: StreamEstimate?
    /// Reads that ran the network (the others returned `lastEstimate`).
    var networkRuns = 0
    /// What successive reads' network runs share: the TCN rows the window's move
    /// left unchanged are taken from the last run, exactly (`TemporalReuse`).
    let reuse = TemporalReuse()
    /// TCN output rows computed and taken from an earlier read, over the stream's reads so
    /// far: of one branch ("audio", "video") or of both.
    public func temporalRows(of branch: String? = nil) -> (computed: Int, reused: Int) { reuse.rows(of: branch) }

    /// Opens a stream on `model`. Throws `invalidArgument` for a window or gap
    /// that is not finite and positive, or a window outside 0.1 s … 1 hour.
    public init(model: Model, options: StreamOptions = StreamOptions()) throws {
        self.model = model
        let w = options.window ?? model.trainedClipSeconds ?? 10
        guard w.isFinite, w >= 0.1, w <= 3600 else {
            throw ERIError.invalidArgument("stream window \(w) s is outside 0.1 s … 3600 s")
        }
        if let a = model.config.audio, Double(Limits.maxAudioSamples) < w * Double(a.sampleRate) {
            throw ERIError.invalidArgument("stream window \(w) s is longer than the audio a window may hold: "
                                           + Limits.audioLimitText(rate: a.sampleRate))
        }
        window = w
        if let v = model.config.video {
            step = w / Double(v.frames)
        } else {
            let a = model.config.audio!
            step = Double(a.mfcc.hopLength * a.pool) / Double(a.sampleRate)
        }
        let gap = options.maxFrameGap ?? (model.config.video.map { w / Double(2 * $0.frames) } ?? 0)
        guard gap.isFinite, gap >= 0, gap <= 3600 else {
            throw ERIError.invalidArgument("stream max frame gap \(gap) s must be finite and in 0 … 3600 s")
        }
        maxFrameGap = gap
        guard (1...10_000).contains(options.redetectEvery) else {
            throw ERIError.invalidArgument("stream redetect_every \(options.redetectEvery) is outside 1…10000 frames")
        }
        redetectEvery = options.redetectEvery
        searchFaces = try model.searchesFaces(options.faces)
        let retain = w + step
        audio = model.audioPreprocessor.map { StreamingMFCC(preprocessor: $0, retain: retain, restartGap: w + 1) }
    }

    /// Forgets all input: the stream is as new.
    public func reset() {
        previous = nil; nextCell = nil; cells = [:]; oldestCell = .max; lastFrameTime = nil
        lastFace = nil; lastFaceTime = 0; sinceDetection = .max; misses = 0
        audio?.reset(); clock = nil; lastEstimate = nil
    }

    // MARK: - Video

    @inline(__always) func midpoint(_ m: Int) -> Double { (Double(m) + 0.5) * step }
    /// The first cell whose sample time is ≥ t.
    func firstCell(atOrAfter t: Double) -> Int { Int((t / step - 0.5).rounded(.up)) }

    /// Adds a frame taken at `timestamp` seconds. Throws `invalidArgument` for
    /// a bad image, a non-finite timestamp or one not after the previous
    /// frame's (the frame is dropped, the stream unchanged), and
    /// `missingModality` if the model has no video branch.
    public func pushFrame(_ image: ImageView, timestamp ts: Double) throws {
        try model.config.checkModalities(video: true, audio: false)
        let vc = model.config.video!
        try checkTimestamp(ts, what: "frame")
        guard ImageCopy.byteCount(image) <= ModelStream.maxFrameBytes else {
            throw ERIError.invalidArgument("a \(image.width)×\(image.height) frame is \(ImageCopy.byteCount(image)) bytes, more than the "
                                           + "\(ModelStream.maxFrameBytes >> 20) MiB a stream keeps of a frame; the frame is dropped")
        }
        if let last = lastFrameTime, !(ts > last) {
            throw ERIError.invalidArgument("frame timestamp \(ts) s is not after the previous frame's \(last) s; the frame is dropped")
        }
        let current = Candidate(timestamp: ts)
        var m = nextCell ?? firstCell(atOrAfter: ts - maxFrameGap)
        while midpoint(m) <= ts {
            let s = midpoint(m), dc = ts - s
            var chosen: Candidate?
            if let p = previous, s - p.timestamp <= dc {
                if s - p.timestamp <= maxFrameGap { chosen = p }
            } else if dc <= maxFrameGap {
                chosen = current
            }
            if let chosen {
                try computeVector(chosen, image: chosen === current ? image : nil, config: vc)
                cells[m] = chosen
                oldestCell = min(oldestCell, m)
                m += 1
            } else {
                // No frame near s; neither frame can serve a later sample time before
                // the first one within the gap of this frame: skip to it.
                m = max(m + 1, firstCell(atOrAfter: ts - maxFrameGap))
            }
        }
        nextCell = m
        lastFrameTime = ts
        // The current frame may be the nearest to the next sample time; keep a copy if so.
        if midpoint(m) - ts <= maxFrameGap && current.vector == nil {
            current.copy = ImageCopy(image)
        }
        previous = current
        clock = max(clock ?? ts, ts)
        // Cells older than any future window's first cell are not needed.
        let keep = m - vc.frames - 1
        if oldestCell < keep && keep - oldestCell > cells.count {
            // A jump in time (up to 2·10⁹ s of cells): filter the few cells kept rather
            // than walk every index in between.
            cells = cells.filter { $0.key >= keep }
            oldestCell = cells.keys.min() ?? .max
        }
        while oldestCell < keep {
            cells[oldestCell] = nil
            oldestCell += 1
            if cells.isEmpty { oldestCell = .max; break }
        }
    }

    /// SPEC §4.1a online: a host box wins; else a full detection every
    /// `redetectEvery` frames used (the face matching the last one, else the
    /// most confident) and a refinement of the last face in between; a frame
    /// where neither finds it keeps the last face (borrowed), or the centred
    /// square before any. Then SPEC §4.1 steps 2–5: C × S × S floats.
    private func prepared(_ image: ImageView, _ c: Candidate, config vc: ERIConfig.Video) throws -> [Float] {
        if let box = image.box {
            c.placement = .box(box)
            c.hasFace = true
        } else if searchFaces, let detector = model.detector {
            var face: DetectedFace?
            if let last = lastFace, sinceDetection + 1 < redetectEvery {
                face = detector.refine(image, around: last)
                sinceDetection += 1
            }
            if face == nil {
                let found = detector.detect(image)
                if let last = lastFace, misses < 3 {
                    // How far the face may have moved: matchCost's allowance per sampled frame is for frames
                    // about half a second apart (a clip's); a stream's may be further apart.
                    let apart = max(misses + 1, Int(((c.timestamp - lastFaceTime) / 0.5).rounded(.up)))
                    face = bestMatch(found, for: last, frames: apart)
                } else {
                    face = found.first
                }
                misses = face == nil ? misses + 1 : 0
                sinceDetection = 0
            }
            if let face { lastFace = face; lastFaceTime = c.timestamp }
            c.hasFace = face != nil
            c.placement = FacePlacement(lastFace, preparation: vc.face)
        }
        var pixels = [Float](repeating: 0, count: vc.channels * vc.imageSize * vc.imageSize)
        try pixels.withUnsafeMutableBufferPointer { try image.preprocess(c.placement, config: vc, into: $0) }
        return pixels
    }

    /// Gives `c` its per-frame vector (once), from its copy or from `image`, the frame itself.
    private func computeVector(_ c: Candidate, image: ImageView?, config vc: ERIConfig.Video) throws {
        if c.vector != nil { return }
        let pixels: [Float]
        if let image {
            pixels = try prepared(image, c, config: vc)
        } else if let copy = c.copy {
            pixels = try copy.withView { try prepared($0, c, config: vc) }
        } else {
            throw ERIError(.internal, "stream: frame at \(c.timestamp) s was dropped but is needed")
        }
        c.vector = model.frameVector(pixels)
        c.copy = nil
    }

    /// The frame for sample time m at a read: its settled frame, or for a
    /// sample time not yet settled, the last frame if it lies within the gap.
    private func frameForRead(_ m: Int) throws -> Candidate? {
        if let c = cells[m] { return c }
        guard let next = nextCell, m >= next, let p = previous, midpoint(m) - p.timestamp <= maxFrameGap else { return nil }
        if p.vector == nil && p.copy == nil { return nil }
        try computeVector(p, image: nil, config: model.config.video!)
        return p
    }

    // MARK: - Audio

    /// Adds interleaved PCM whose first sample was taken at `timestamp`
    /// seconds (see `StreamingMFCC.push`). Throws `invalidArgument` for a
    /// non-finite timestamp or a chunk that starts before the previous one
    /// ended (beyond its jitter; the chunk is dropped), and `missingModality`
    /// if the model has no audio branch.
    public func pushPCM(_ pcm: PCMView, timestamp ts: Double) throws {
        try model.config.checkModalities(video: false, audio: true)
        try checkTimestamp(ts, what: "PCM")
        try audio!.push(pcm, timestamp: ts)
        let end = audio!.end!
        clock = max(clock ?? end, end)
    }

    // MARK: - Reading

    /// The estimate over the latest window: the one ending at the last grid
    /// point at or before the newest input (frame or audio) received. Throws
    /// `missingModality` when nothing has been pushed, or the window holds
    /// neither a frame nor an audio sample. While the window and what it
    /// holds are those of the previous read (no new grid point, no frame or
    /// audio sample arrived inside it), the previous estimate is returned
    /// without running the network: reading more often than the window moves
    /// costs almost nothing.
    public func read() throws -> StreamEstimate {
        guard let clock else { throw ERIError(.missingModality, "the stream has no input yet: push frames or PCM first") }
        let k = Int((clock / step).rounded(.down))
        let end = Double(k) * step, start = end - window

        var vectors: [Float]?
        var timestamps: [Double] = []
        var placements: [FacePlacement] = []
        var coverage: Float?
        if let vc = model.config.video, nextCell != nil {
            let f = vc.frames
            var chosen = try ((k - f)..<k).map { try frameForRead($0) }
            if chosen.contains(where: { $0 != nil }) {
                // Sample times without a frame take the nearest one in the window that has one.
                let present = chosen.indices.filter { chosen[$0] != nil }
                for j in chosen.indices where chosen[j] == nil {
                    let nearest = present.min { abs($0 - j) < abs($1 - j) || (abs($0 - j) == abs($1 - j) && $0 < $1) }!
                    chosen[j] = chosen[nearest]
                }
                var v = [Float]()
                v.reserveCapacity(f * vc.dim)
                for c in chosen { v.append(contentsOf: c!.vector!) }
                vectors = v
                timestamps = chosen.map { $0!.timestamp }
                placements = chosen.map { $0!.placement }
                coverage = Float(chosen.filter { $0!.hasFace }.count) / Float(f)
            }
        }

        let audioWindow = audio?.window(start: start, seconds: window)
        let audioFirst = audioWindow?.first ?? 0, audioCount = audioWindow?.count ?? 0, audioStart = audioWindow?.start ?? start
        let rate = model.config.audio?.sampleRate ?? 0
        guard vectors != nil || audioWindow != nil else {
            throw ERIError(.missingModality, "the stream has no frame and no audio in the window [\(start), \(end)) s")
        }
        if let last = lastEstimate, last.windowEnd == end, last.frameTimestamps == timestamps,
           last.audioFirstSample == audioFirst, last.audioSampleCount == audioCount, last.audioStart == audioStart {
            return last   // the same frames and samples: no features, no network
        }
        var mfcc: Tensor?
        if let audio, let audioWindow { mfcc = try audio.features(of: audioWindow) }   // a window comes only from `audio`
        let y = try vectors.withOptionalPointer { try model.network.forward(videoVectors: $0, mfcc: mfcc, reuse: reuse) }
        networkRuns += 1
        let estimate = StreamEstimate(intensities: y, windowStart: start, windowEnd: end, frameTimestamps: timestamps,
                                      audioStart: audioStart, audioFirstSample: audioFirst, audioSampleCount: audioCount,
                                      audioSampleRate: rate, faceCoverage: coverage, facePlacements: placements)
        lastEstimate = estimate
        return estimate
    }

    /// The mono samples at the model's rate that the last read used (empty if
    /// it used none). Valid until the next push: pushes drop old samples.
    public func lastWindowAudio() -> [Float] {
        guard let e = lastEstimate, e.audioSampleCount > 0 else { return [] }
        return audio?.samples(first: e.audioFirstSample, count: e.audioSampleCount) ?? []
    }

    private func checkTimestamp(_ ts: Double, what: String) throws {
        guard ts.isFinite, abs(ts) <= 1e9 else {
            throw ERIError.invalidArgument("\(what) timestamp \(ts) s must be finite and within ±1e9 s")
        }
    }
}

extension Optional where Wrapped == [Float] {
    func withOptionalPointer<R>(_ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
        switch self {
        case .some(let a): return try a.withUnsafeBufferPointer { try body($0.baseAddress) }
        case .none: return try body(nil)
        }
    }
}

extension Model {
    /// The per-frame vector (backbone, spatial attention, projection) of one
    /// preprocessed C × S × S frame: a row of the video branch's temporal input.
    /// Not `throws` (see `Network.frameVectors`); the caller checks for a video branch.
    func frameVector(_ pixels: [Float]) -> [Float] {
        guard let v = config.video else { preconditionFailure("frameVector needs a video branch") }
        var out = [Float](repeating: 0, count: v.dim)
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { network.frameVectors(images: 1, p.baseAddress!, into: $0.baseAddress!) }
        }
        return out
    }
}
