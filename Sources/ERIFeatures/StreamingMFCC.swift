import ERICore

/// SPEC §4.2 on a live signal: PCM pushed in timestamped chunks is mixed to
/// mono and resampled to the model's rate as it arrives, and each MFCC frame
/// is computed once, on the stream's own hop grid (frame j centred on sample
/// j·hop), as soon as its analysis window has arrived
/// (`MFCCExtractor.sampleRange`). A window of the signal then costs only its
/// edge frames: `features(of: window(start:seconds:))` returns the pooled
/// steps `AudioPreprocessor.features` would give for exactly those samples.
///
/// Timing: a chunk should start where the previous one ended. Within
/// `jitter` it is taken as contiguous; a later start is a gap, filled with
/// silence (a gap longer than `restartGap` restarts the clock at the new
/// chunk); an earlier start is an error and the chunk is dropped. Only what
/// a window of `retain` seconds can still use is kept, so memory stays flat.
public final class StreamingMFCC {
    public let preprocessor: AudioPreprocessor
    public let jitter: Double
    public let restartGap: Double
    public let retain: Double

    final class Track {
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
    private var track: Track?

    public init(preprocessor: AudioPreprocessor, retain seconds: Double, restartGap: Double, jitter: Double = 0.03) {
        self.preprocessor = preprocessor
        retain = seconds
        self.restartGap = restartGap
        self.jitter = jitter
    }

    var config: ERIConfig.Audio { preprocessor.config }

    /// Forgets every sample.
    public func reset() { track = nil }

    /// What it holds now: mono samples and MFCC values (the memory a long stream keeps).
    public var held: (samples: Int, mfccValues: Int) { (track?.samples.count ?? 0, track?.mfcc.count ?? 0) }

    /// The time just after the last sample pushed, nil before any.
    public var end: Double? { track?.inputEnd }

    /// Adds a chunk whose first sample was taken at `timestamp` seconds.
    /// Throws `invalidArgument` for a chunk that starts before the previous
    /// one ended (beyond `jitter`; the chunk is dropped).
    public func push(_ pcm: PCMView, timestamp ts: Double) throws {
        let rate = config.sampleRate
        if let track {
            let lag = ts - track.inputEnd
            if lag < -jitter {
                throw ERIError.invalidArgument("PCM timestamp \(ts) s is before the end of the previous chunk (\(track.inputEnd) s); the chunk is dropped")
            }
            if lag > restartGap {
                self.track = nil  // a long silence: start the audio clock again at ts
            } else if lag > jitter || track.resampler.map({ $0.inputRate != pcm.sampleRate }) ?? (pcm.sampleRate != rate) {
                // A gap (filled with silence up to ts) or a new input rate: drain the resampler first.
                if let r = track.resampler { try r.flush(into: &track.samples); track.resampler = nil }
                if lag > jitter {
                    let target = Int(((ts - track.start) * Double(rate)).rounded())
                    if target > track.produced { track.samples.append(contentsOf: repeatElement(0, count: target - track.produced)) }
                    track.inputEnd = ts
                }
            }
        }
        let track = self.track ?? Track(start: ts)
        self.track = track
        if pcm.sampleRate != rate && track.resampler == nil {
            track.resampler = try StreamResampler(from: pcm.sampleRate, to: rate)
        }
        // A piece at a time (mixed, resampled, its MFCC frames computed, what is no longer
        // needed dropped), so that a chunk of any length costs no more memory than a window.
        let piece = 1 << 16, c = pcm.channels
        var start = 0
        while start < pcm.frameCount {
            let n = min(piece, pcm.frameCount - start)
            let part = UnsafeBufferPointer(rebasing: pcm.samples[(start * c)..<((start + n) * c)])
            let mono = downmix(interleaved: part, channels: c)   // SPEC §4.2 step 1
            if let r = track.resampler {
                try mono.withUnsafeBufferPointer { try r.push($0, into: &track.samples) }
            } else {
                track.samples.append(contentsOf: mono)
            }
            try extend(track)
            trim(track)
            start += n
        }
        track.inputEnd += Double(pcm.frameCount) / Double(pcm.sampleRate)
        try extend(track)
        trim(track)
    }

    /// Computes the MFCC frames whose analysis window has fully arrived.
    private func extend(_ track: Track) throws {
        let extractor = preprocessor.extractor, n = config.mfcc.nMFCC, hop = config.mfcc.hopLength
        let first = track.mfccBase + track.mfcc.count / n
        // Frame j is complete when its window ends at or before `produced`:
        // j·hop − lead + win_length ≤ produced.
        let available = track.produced - config.mfcc.winLength + extractor.analysisLead
        guard available >= 0 else { return }
        let last = available / hop  // inclusive
        guard last >= first else { return }
        let rows = try track.samples.withUnsafeBufferPointer {
            try extractor.compute($0, frames: first..<(last + 1), signalStart: track.sampleBase, signalLength: track.produced).data
        }
        track.mfcc.append(contentsOf: rows)
    }

    /// Drops samples and MFCC frames no future window can use.
    private func trim(_ track: Track) {
        let m = config.mfcc, n = m.nMFCC
        let retained = Int((retain * Double(config.sampleRate)).rounded(.up)) + m.hopLength * config.pool + m.nFFT + 2 * m.hopLength
        let drop = track.produced - retained - track.sampleBase
        // Compact in large steps so the copying stays proportional to the input.
        guard drop > max(retained / 2, 4096) else { return }
        track.samples.removeFirst(drop)
        track.sampleBase += drop
        // Keep frames whose analysis window starts at or after the first kept sample.
        let firstFrame = (track.sampleBase + preprocessor.extractor.analysisLead + m.hopLength - 1) / m.hopLength
        let dropFrames = min(max(0, firstFrame - track.mfccBase), track.mfcc.count / n)
        track.mfcc.removeFirst(dropFrames * n)
        track.mfccBase += dropFrames
    }

    /// What one window of the signal holds, as `window(start:seconds:)` returns it: `count`
    /// samples from index `first` on the stream's clock (model rate, mono), the first at `start` s.
    public struct Window: Equatable {
        public var first: Int, count: Int
        public var start: Double
    }

    /// The window of `seconds` starting at `start` on the stream's clock:
    /// L = round(seconds · rate) samples from `start` rounded down to the grid
    /// of hop × pool samples (so that the window's MFCC frames and pooled
    /// steps coincide with the stream's), or what of them has arrived and is
    /// still kept. Nil when none has. Cheap: `features(of:)` computes its steps.
    public func window(start: Double, seconds: Double) -> Window? {
        guard let track else { return nil }
        let rate = config.sampleRate, grid = config.mfcc.hopLength * config.pool
        let length = Int((seconds * Double(rate)).rounded())
        let exact = ((start - track.start) * Double(rate)).rounded(.down)
        guard exact > -Double(length) && exact < Double(track.produced) else { return nil }
        let snapped = Int(exact) >= 0 ? Int(exact) / grid * grid : -((-Int(exact) + grid - 1) / grid * grid)
        let a = max(snapped, 0, track.sampleBase), e = min(snapped + length, track.produced)
        guard e > a else { return nil }
        return Window(first: a, count: e - a, start: track.start + Double(a) / Double(rate))
    }

    /// The pooled, capped MFCC steps (1 × T × n_mfcc, not normalised) of a window this
    /// stream has just returned (before the next push).
    public func features(of w: Window) throws -> Tensor {
        guard let track else { throw ERIError(.internal, "stream: no audio for the window") }
        return try features(track, from: w.first, to: w.first + w.count)
    }

    /// Mono samples [first, first + count) at the model's rate, or nil if they are no longer (or not yet) kept.
    public func samples(first: Int, count: Int) -> [Float]? {
        guard let track else { return nil }
        let from = first - track.sampleBase, to = from + count
        guard from >= 0, to <= track.samples.count else { return nil }
        return Array(track.samples[from..<to])
    }

    /// The pooled MFCC steps (1 × T × n_mfcc) of samples [a, e) as a clip of its own: the
    /// frames whose analysis window crosses the span's edges are recomputed with a clip's zero
    /// padding (SPEC §4.2), the others come from the stream's cache.
    private func features(_ track: Track, from a: Int, to e: Int) throws -> Tensor {
        let m = config.mfcc, n = m.nMFCC, hop = m.hopLength
        let extractor = preprocessor.extractor, lead = extractor.analysisLead
        let length = e - a
        guard let count = extractor.frameCount(samples: length) else {
            throw ERIError(.internal, "stream: \(length) samples give no MFCC frame")
        }
        // Clip frame k reads clip samples [k·hop − lead, k·hop − lead + win_length): it is
        // the stream's frame a/hop + k unless that range leaves [0, length).
        let head = min(count, (lead + hop - 1) / hop)
        let tail = max(head, min(count, length - m.winLength + lead < 0 ? 0 : (length - m.winLength + lead) / hop + 1))
        var rows = [Float](repeating: 0, count: count * n)   // (T_a, n_mfcc)
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
        var pooled = pooledFeatures(Tensor(shape: [count, n], data: rows), pool: config.pool, maxSteps: config.maxSteps)
        pooled.shape.insert(1, at: 0)
        return pooled
    }
}
