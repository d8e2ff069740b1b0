import ERICore
import ERIFeatures

/// Options of a `ModelStream`.
public struct StreamOptions: Sendable, Equatable {
    /// Window length W in seconds. nil: the clip length the model was trained
    /// on (`clip_seconds` in its provenance), else 10 s.
    public var window: Double?
    /// How far, in seconds, a frame may lie from a sample time and still
    /// represent it. nil: half a cell, W / (2F): the frame must lie in the cell.
    public var maxFrameGap: Double?
    public init(window: Double? = nil, maxFrameGap: Double? = nil) {
        self.window = window
        self.maxFrameGap = maxFrameGap
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
/// Audio is downmixed, resampled to the model's rate on the fly, and its MFCC
/// frames are computed once, on the stream's own hop grid (frame j centred on
/// audio sample j·hop). A window's audio is the samples [a, a + L),
/// L = round(W · rate), where a is t − W in samples rounded down to the
/// grid of hop × pool samples (so that the window's MFCC frames and pooled
/// steps coincide with the stream's), or what of it has arrived. The MFCC
/// frames whose analysis window crosses the span's edges are recomputed
/// with the zero padding a clip has (SPEC §4.2); the others come from the
/// stream's cache. A read then runs only the temporal parts of the network.
///
/// So a read equals `Model.predict(frames:audio:)` on exactly the frames
/// whose timestamps it reports and the audio samples `lastWindowAudio()`
/// returns (at the model's rate, mono); the stream tests check that.
///
/// Timestamps are seconds on one clock shared by both modalities. Frame
/// timestamps must increase. An audio chunk should start where the previous
/// one ended: within `audioJitter` it is taken as contiguous; a later start
/// is a gap, filled with silence (a gap longer than W + 1 s restarts the
/// audio clock); an earlier start is an error and the chunk is dropped.
/// The stream keeps only what future windows can use, so its memory stays
/// flat over any session length. A stream belongs to one thread at a time.
public final class ModelStream {
    public let model: Model
    /// W, seconds.
    public let window: Double
    /// The grid of window ends: W/F with a video branch, else hop × pool samples.
    public let step: Double
    public let maxFrameGap: Double
    /// Audio chunks starting within this many seconds of the previous chunk's end are contiguous.
    public let audioJitter = 0.03

    /// A frame that a sample time uses or may use.
    final class Candidate {
        let timestamp: Double
        var pixels: [Float]?
        var vector: [Float]?
        init(timestamp: Double) { self.timestamp = timestamp }
    }

    final class AudioTrack {
        let start: Double               // the time of sample 0
        var samples: [Float] = []       // samples sampleBase ..< produced (model rate, mono)
        var sampleBase = 0
        var produced: Int { sampleBase + samples.count }
        var mfcc: [Float] = []          // MFCC frames mfccBase ..< mfccBase + rows, n_mfcc each
        var mfccBase = 0
        var resampler: StreamResampler?
        var inputEnd: Double            // the time just after the last pushed input sample
        init(start: Double) { self.start = start; inputEnd = start }
    }

    // Video state.
    var previous: Candidate?
    var nextCell: Int?
    var cells: [Int: Candidate] = [:]
    var oldestCell = Int.max
    var lastFrameTime: Double?
    // Audio state.
    var audio: AudioTrack?
    var clock: Double?
    public private(set) var lastEstimate: StreamEstimate?

    /// Opens a stream on `model`. Throws `invalidArgument` for a window or gap
    /// that is not finite and positive, or a window outside 0.1 s … 1 hour.
    public init(model: Model, options: StreamOptions = StreamOptions()) throws {
        self.model = model
        let w = options.window ?? model.trainedClipSeconds ?? 10
        guard w.isFinite, w >= 0.1, w <= 3600 else {
            throw ERIError.invalidArgument("stream window \(w) s is outside 0.1 s … 3600 s")
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
    }

    /// Forgets all input: the stream is as new.
    public func reset() {
        previous = nil; nextCell = nil; cells = [:]; oldestCell = .max; lastFrameTime = nil
        audio = nil; clock = nil; lastEstimate = nil
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
        guard let vc = model.config.video else {
            throw ERIError(.missingModality, "this model has no video branch (\(model.presetName)); it cannot use frames")
        }
        try checkTimestamp(ts, what: "frame")
        try image.validate()
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
        // The current frame may be the nearest to the next sample time; keep its pixels if so.
        if midpoint(m) - ts <= maxFrameGap && current.vector == nil {
            current.pixels = try preprocessed(image, config: vc)
        }
        previous = current
        clock = max(clock ?? ts, ts)
        // Cells older than any future window's first cell are not needed.
        let keep = m - vc.frames - 1
        while oldestCell < keep {
            cells[oldestCell] = nil
            oldestCell += 1
            if cells.isEmpty { oldestCell = .max; break }
        }
    }

    /// SPEC §4.1 steps 2–5 for one frame: C × S × S floats.
    private func preprocessed(_ image: ImageView, config vc: ERIConfig.Video) throws -> [Float] {
        var pixels = [Float](repeating: 0, count: vc.channels * vc.imageSize * vc.imageSize)
        try pixels.withUnsafeMutableBufferPointer { try preprocessFrame(image, config: vc, into: $0) }
        return pixels
    }

    /// Gives `c` its per-frame vector (once), from its kept pixels or from `image`, the frame itself.
    private func computeVector(_ c: Candidate, image: ImageView?, config vc: ERIConfig.Video) throws {
        if c.vector != nil { return }
        if c.pixels == nil, let image { c.pixels = try preprocessed(image, config: vc) }
        guard let pixels = c.pixels else { throw ERIError(.internal, "stream: frame at \(c.timestamp) s was dropped but is needed") }
        c.vector = model.frameVector(pixels)
        c.pixels = nil
    }

    /// The frame for sample time m at a read: its settled frame, or for a
    /// sample time not yet settled, the last frame if it lies within the gap.
    private func frameForRead(_ m: Int) throws -> Candidate? {
        if let c = cells[m] { return c }
        guard let next = nextCell, m >= next, let p = previous, midpoint(m) - p.timestamp <= maxFrameGap else { return nil }
        if p.vector == nil && p.pixels == nil { return nil }
        try computeVector(p, image: nil, config: model.config.video!)
        return p
    }

    // MARK: - Audio

    /// Adds interleaved PCM whose first sample was taken at `timestamp`
    /// seconds. Throws `invalidArgument` for bad samples (as `predict`), a
    /// non-finite timestamp, or a chunk that starts before the previous one
    /// ended (beyond `audioJitter`; the chunk is dropped), and
    /// `missingModality` if the model has no audio branch.
    public func pushPCM(_ pcm: PCMView, timestamp ts: Double) throws {
        guard let ac = model.config.audio else {
            throw ERIError(.missingModality, "this model has no audio branch (\(model.presetName)); it cannot use PCM")
        }
        try checkTimestamp(ts, what: "PCM")
        try checkPCM(pcm.samples, sampleRate: pcm.sampleRate, channels: pcm.channels)
        let rate = ac.sampleRate
        if let track = audio {
            let lag = ts - track.inputEnd
            if lag < -audioJitter {
                throw ERIError.invalidArgument("PCM timestamp \(ts) s is before the end of the previous chunk (\(track.inputEnd) s); the chunk is dropped")
            }
            if lag > window + 1 {
                audio = nil  // a long silence: start the audio clock again at ts
            } else if lag > audioJitter || track.resampler.map({ $0.inputRate != pcm.sampleRate }) ?? (pcm.sampleRate != rate) {
                // A gap (filled with silence up to ts) or a new input rate: drain the resampler first.
                if let r = track.resampler { try r.flush(into: &track.samples); track.resampler = nil }
                if lag > audioJitter {
                    let target = Int(((ts - track.start) * Double(rate)).rounded())
                    if target > track.produced { track.samples.append(contentsOf: repeatElement(0, count: target - track.produced)) }
                    track.inputEnd = ts
                }
            }
        }
        let track = audio ?? AudioTrack(start: ts)
        audio = track
        if pcm.sampleRate != rate && track.resampler == nil {
            track.resampler = try StreamResampler(from: pcm.sampleRate, to: rate)
        }
        let frames = pcm.samples.count / pcm.channels
        if frames > 0 {
            let mono = downmix(interleaved: pcm.samples, channels: pcm.channels)
            if let r = track.resampler {
                try mono.withUnsafeBufferPointer { try r.push($0, into: &track.samples) }
            } else {
                track.samples.append(contentsOf: mono)
            }
        }
        track.inputEnd += Double(frames) / Double(pcm.sampleRate)
        clock = max(clock ?? track.inputEnd, track.inputEnd)
        try extendMFCC(track, ac)
        trimAudio(track, ac)
    }

    /// Computes the MFCC frames whose analysis window has fully arrived.
    private func extendMFCC(_ track: AudioTrack, _ ac: ERIConfig.Audio) throws {
        let m = ac.mfcc, n = m.nMFCC
        let lead = analysisLead(m)   // frame j reads [j·hop − lead, j·hop − lead + win_length)
        let first = track.mfccBase + track.mfcc.count / n
        // Frame j is complete when j·hop − lead + win_length ≤ produced.
        let available = track.produced - m.winLength + lead
        guard available >= 0 else { return }
        let last = available / m.hopLength  // inclusive
        guard last >= first else { return }
        let rows = try track.samples.withUnsafeBufferPointer {
            try model.audioPreprocessor!.extractor.compute($0, frames: first..<(last + 1), signalStart: track.sampleBase,
                                                          signalLength: track.produced).data
        }
        track.mfcc.append(contentsOf: rows)
    }

    /// Drops samples and MFCC frames no future window can use.
    private func trimAudio(_ track: AudioTrack, _ ac: ERIConfig.Audio) {
        let m = ac.mfcc, rate = Double(ac.sampleRate)
        let grid = m.hopLength * ac.pool
        let retain = Int(((window + step) * rate).rounded(.up)) + grid + m.nFFT + 2 * m.hopLength
        let drop = track.produced - retain - track.sampleBase
        // Compact in large steps so the copying stays proportional to the input.
        guard drop > max(retain / 2, 4096) else { return }
        track.samples.removeFirst(drop)
        track.sampleBase += drop
        let lead = analysisLead(m)
        // Keep frames whose analysis window starts at or after the first kept sample.
        let firstFrame = (track.sampleBase + lead + m.hopLength - 1) / m.hopLength
        let dropFrames = min(max(0, firstFrame - track.mfccBase), track.mfcc.count / m.nMFCC)
        track.mfcc.removeFirst(dropFrames * m.nMFCC)
        track.mfccBase += dropFrames
    }

    /// The window's pooled MFCC steps (1 × T × n_mfcc) from samples [a, e).
    private func windowFeatures(_ track: AudioTrack, _ ac: ERIConfig.Audio, from a: Int, to e: Int) throws -> Tensor {
        let m = ac.mfcc, n = m.nMFCC, hop = m.hopLength
        let extractor = model.audioPreprocessor!.extractor
        let length = e - a
        guard let count = extractor.frameCount(samples: length) else {
            throw ERIError(.internal, "stream: \(length) samples give no MFCC frame")
        }
        let lead = analysisLead(m)
        // Clip frame k reads clip samples [k·hop − lead, k·hop − lead + win_length): it is
        // the stream's frame a/hop + k unless that range leaves [0, length).
        let head = min(count, (lead + hop - 1) / hop)
        let tail = max(head, min(count, length - m.winLength + lead < 0 ? 0 : (length - m.winLength + lead) / hop + 1))
        var rows = [Float](repeating: 0, count: count * n)
        try track.samples.withUnsafeBufferPointer { all in
            let clip = UnsafeBufferPointer(rebasing: all[(a - track.sampleBase)..<(e - track.sampleBase)])
            for range in [0..<head, tail..<count] where !range.isEmpty {
                let r = try extractor.compute(clip, frames: range, signalStart: 0, signalLength: length).data
                rows.replaceSubrange((range.lowerBound * n)..<(range.upperBound * n), with: r)
            }
        }
        if head < tail {
            let firstStreamFrame = a / hop + head - track.mfccBase
            guard firstStreamFrame >= 0, (firstStreamFrame + tail - head) * n <= track.mfcc.count else {
                throw ERIError(.internal, "stream: MFCC frames \(a / hop + head)…\(a / hop + tail - 1) are not cached")
            }
            rows.replaceSubrange((head * n)..<(tail * n), with: track.mfcc[(firstStreamFrame * n)..<((firstStreamFrame + tail - head) * n)])
        }
        var pooled = pooledFeatures(Tensor(shape: [count, n], data: rows), pool: ac.pool, maxSteps: ac.maxSteps)
        pooled.shape.insert(1, at: 0)
        return pooled
    }

    // MARK: - Reading

    /// The estimate over the latest window: the one ending at the last grid
    /// point at or before the newest input (frame or audio) received. Throws
    /// `missingModality` when nothing has been pushed, or the window holds
    /// neither a frame nor an audio sample.
    public func read() throws -> StreamEstimate {
        guard let clock else { throw ERIError(.missingModality, "the stream has no input yet: push frames or PCM first") }
        let k = Int((clock / step).rounded(.down))
        let end = Double(k) * step, start = end - window

        var vectors: [Float]?
        var timestamps: [Double] = []
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
            }
        }

        var mfcc: Tensor?
        var audioFirst = 0, audioCount = 0, audioStart = start
        let rate = model.config.audio?.sampleRate ?? 0
        if let ac = model.config.audio, let track = audio {
            let grid = ac.mfcc.hopLength * ac.pool
            let length = Int((window * Double(rate)).rounded())
            let exact = ((start - track.start) * Double(rate)).rounded(.down)
            if exact > -Double(length) && exact < Double(track.produced) {
                let snapped = Int(exact) >= 0 ? Int(exact) / grid * grid : -((-Int(exact) + grid - 1) / grid * grid)
                let a = max(snapped, 0, track.sampleBase), e = min(snapped + length, track.produced)
                if e > a {
                    mfcc = try windowFeatures(track, ac, from: a, to: e)
                    audioFirst = a
                    audioCount = e - a
                    audioStart = track.start + Double(a) / Double(rate)
                }
            }
        }
        guard vectors != nil || mfcc != nil else {
            throw ERIError(.missingModality, "the stream has no frame and no audio in the window [\(start), \(end)) s")
        }
        let y = try vectors.withOptionalPointer { try model.network.forward(videoVectors: $0, mfcc: mfcc) }
        let estimate = StreamEstimate(intensities: y, windowStart: start, windowEnd: end, frameTimestamps: timestamps,
                                      audioStart: audioStart, audioFirstSample: audioFirst, audioSampleCount: audioCount,
                                      audioSampleRate: rate)
        lastEstimate = estimate
        return estimate
    }

    /// The mono samples at the model's rate that the last read used (empty if
    /// it used none). Valid until the next push: pushes drop old samples.
    public func lastWindowAudio() -> [Float] {
        guard let e = lastEstimate, e.audioSampleCount > 0, let track = audio else { return [] }
        let from = e.audioFirstSample - track.sampleBase, to = from + e.audioSampleCount
        guard from >= 0, to <= track.samples.count else { return [] }
        return Array(track.samples[from..<to])
    }

    /// How far before its centre j·hop an MFCC frame's window starts (librosa's
    /// centred frame, the window centred in n_fft).
    private func analysisLead(_ m: ERIConfig.MFCC) -> Int { m.nFFT / 2 - (m.nFFT - m.winLength) / 2 }

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
    /// Not `throws` (see `InferenceNetwork.frameVectors`); the caller checks for a video branch.
    func frameVector(_ pixels: [Float]) -> [Float] {
        guard let v = config.video else { preconditionFailure("frameVector needs a video branch") }
        var out = [Float](repeating: 0, count: v.dim)
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { network.frameVectors(images: 1, p.baseAddress!, into: $0.baseAddress!) }
        }
        return out
    }

    /// The clip length the model was trained on: `clip_seconds` in its provenance, if there.
    public var trainedClipSeconds: Double? {
        guard let text = file.provenance, let json = try? JSONValue.parse(text),
              case .object(let members) = json,
              let value = members.first(where: { $0.0 == "clip_seconds" })?.1,
              case .number(let seconds) = value, seconds.isFinite, seconds >= 0.1, seconds <= 3600 else { return nil }
        return seconds
    }
}
