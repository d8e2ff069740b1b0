import ERICore
import ERIFeatures
import ERIMedia

#if canImport(Glibc)
import Glibc
#endif

/// The reads of a replay lie on the stream's grid of window ends (multiples of
/// its step W/F): `every` seconds rounded to a whole number of steps, at least
/// one. A read can only return a window ending on that grid, so this is the
/// spacing the reads can keep exactly.
public func readSteps(every: Double, step: Double) -> Int {
    max(1, Int(min((every / step).rounded(), 1e9)))
}

/// Replays a media file into a `ModelStream` as a live source: frames at
/// their timestamps, audio in 20 ms chunks interleaved by time, and reads at
/// the points k·hop of media time, hop = `every` rounded to a multiple of the
/// stream's step (`readSteps`), k = 1, 2, …. `onRead` gets each estimate.
///
/// A point is read as soon as the media time reaches it: an audio chunk that
/// crosses it is split one sample past it, and a frame at or after it is
/// pushed first. The stream's clock is then within one step past the point,
/// so the read's window ends exactly there. Where the input jumps over a point
/// (a camera dropout, or a video-only model whose frames lie further apart
/// than W/F) the read waits for the next input, and its window ends at the
/// grid point before that input: later than the point. `onRead` never gets
/// the same window end twice, and the ends only increase. A file shorter than
/// one hop gets a single read at its end.
///
/// With `realTime`, it sleeps so that media time runs at wall-clock speed.
public func replay(_ path: String, into stream: ModelStream, every: Double, realTime: Bool,
            onRead: (StreamEstimate) throws -> Void) throws {
    let model = stream.model
    let step = stream.step
    let steps = readSteps(every: every, step: step)
    let audio = try replayMedia(path: path, audioRate: model.config.audio?.sampleRate, video: false) { _ in }
    var audioCursor = 0
    let chunk = max(1, (audio?.sampleRate ?? 16000) / 50)
    /// The grid index of the next point (its window end is target · step).
    var target = steps
    /// The grid index of the last window end given to onRead.
    var lastRead: Int?
    /// The time of the newest input pushed: a frame's timestamp or the end of an audio chunk.
    var mediaTime = -Double.infinity
    var clockStart = timespec()
    clock_gettime(CLOCK_MONOTONIC, &clockStart)

    func waitUntil(_ mediaTime: Double) {
        guard realTime else { return }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let elapsed = Double(now.tv_sec - clockStart.tv_sec) + Double(now.tv_nsec - clockStart.tv_nsec) / 1e9
        if mediaTime > elapsed { usleep(UInt32(min((mediaTime - elapsed) * 1e6, 5e6))) }
    }
    /// The next point after grid index k.
    func pointAfter(_ k: Int) -> Int { (k >= 0 ? k / steps + 1 : 1) * steps }
    /// Reads once the media time has reached the next point.
    func readIfDue() throws {
        guard mediaTime >= Double(target) * step else { return }
        let e: StreamEstimate
        do {
            e = try stream.read()
        } catch let error as ERIError where error.code == .missingModality {
            // Nothing in the window yet: the next point after the stream's time.
            target = max(target, pointAfter(Int((mediaTime / step).rounded(.down))))
            return
        }
        let k = Int((e.windowEnd / step).rounded())
        // The stream's clock fell a rounding short of the point: read again on the next input.
        if k < target { return }
        if k > (lastRead ?? Int.min) {
            try onRead(e)
            lastRead = k
        }
        target = pointAfter(k)
    }
    /// Pushes the audio that starts before media time `t`, reading on the way.
    func advance(to t: Double) throws {
        guard let a = audio else { return }
        while audioCursor < a.frameCount {
            let start = Double(audioCursor) / Double(a.sampleRate)
            if start >= t { break }
            var n = min(chunk, a.frameCount - audioCursor)
            // Split the chunk one sample past the next point, so that the read there ends on it.
            let past = Int((Double(target) * step * Double(a.sampleRate)).rounded(.down)) + 1
            if past > audioCursor { n = min(n, past - audioCursor) }
            waitUntil(start + Double(n) / Double(a.sampleRate))
            try a.samples.withUnsafeBufferPointer { all in
                let view = UnsafeBufferPointer(rebasing: all[(audioCursor * a.channels)..<((audioCursor + n) * a.channels)])
                try stream.pushPCM(try PCMView(samples: view, sampleRate: a.sampleRate, channels: a.channels), timestamp: start)
            }
            audioCursor += n
            mediaTime = max(mediaTime, Double(audioCursor) / Double(a.sampleRate))
            try readIfDue()
        }
    }

    if model.config.video != nil {
        _ = try replayMedia(path: path, audioRate: nil) { frame in
            let t = frame.timestamp ?? 0
            try advance(to: t)
            waitUntil(t)
            try frame.pixels.withUnsafeBufferPointer { p in
                do {
                    let image = try ImageView(data: UnsafeRawPointer(p.baseAddress!), width: frame.width, height: frame.height,
                                              stride: frame.width * 3, format: .rgb24)
                    try stream.pushFrame(image, timestamp: t)
                    mediaTime = max(mediaTime, t)
                } catch let e as ERIError where e.code == .invalidArgument {
                    Log.emit(.warning, "\(path): frame \(frame.index) skipped: \(e.message)")
                }
            }
            try readIfDue()
        }
    }
    try advance(to: .infinity)
    // A file shorter than one hop: its last window.
    if lastRead == nil, let e = try? stream.read() { try onRead(e) }
}


extension Model {
    /// The estimates of windows of `window` seconds (nil: the stream's
    /// default, the model's training clip length, else 10 s) ending every
    /// `hop` seconds (rounded to the stream's grid, see `replay`) along a
    /// media file: what `eri timeline` draws. `onPoint` gets each estimate as
    /// it is made; returning false stops the replay (the call then throws `.cancelled`).
    public func timeline(file path: String, window: Double? = nil, hop: Double,
                         onPoint: (StreamEstimate) throws -> Bool) throws {
        guard hop.isFinite, hop > 0, hop <= 3600 else { throw ERIError.invalidArgument("hop \(hop) s is outside (0, 3600]") }
        let stream = try ModelStream(model: self, options: StreamOptions(window: window))
        try namingFile(path) {
            try replay(path, into: stream, every: hop, realTime: false) { e in
                guard try onPoint(e) else { throw ERIError(.cancelled, "\(path): the timeline was stopped at \(e.windowEnd) s") }
            }
        }
    }
}
