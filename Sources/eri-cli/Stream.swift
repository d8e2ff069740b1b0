import ArgumentParser
import ERICore
import ERIFeatures
import ERIMedia
import ERIModel
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

/// The reads of a replay lie on the stream's grid of window ends (multiples of
/// its step W/F): `every` seconds rounded to a whole number of steps, at least
/// one. A read can only return a window ending on that grid, so this is the
/// spacing the reads can keep exactly.
func readSteps(every: Double, step: Double) -> Int {
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
func replay(_ path: String, into stream: ModelStream, every: Double, realTime: Bool,
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

/// `eri stream`: a media file replayed as a live camera and microphone.
struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Replay a media file as a live source into a stream and print estimates as they come.",
        discussion: """
        Frames are pushed at their timestamps and audio in 20 ms chunks, paced in real time (unless --fast); \
        every --every seconds of media time the stream is read and one line printed: the window's end, then \
        the seven intensities. This is the Swift counterpart of examples/c/stream.c.

        A stream's windows end on a grid of W/F seconds (F: the model's frames; an audio-only model's grid is \
        its pooled MFCC hop instead), so --every is rounded to a whole number of those steps, at least one (e.g. W = 2 s, \
        F = 8: W/F = 0.25 s, and --every 0.1 becomes 0.25). The reads are at k·every, k = 1, 2, …, each taken \
        as soon as the media time reaches it, so each window ends exactly there; no window is printed twice. \
        Where the input jumps over a point (a camera dropout, or a video-only model whose frames lie further \
        apart than W/F), that read waits for the next input and its window ends later than the point.
        """)

    @Option(name: .shortAndLong, help: "The .eri model.") var model: String?
    @Option(help: "Window length in seconds (default: the model's training clip length, else 10).") var window: Double?
    @Option(help: "Seconds of media time between reads, rounded to a multiple of the stream's step W/F (at least one step).")
    var every: Double = 0.5
    @Flag(help: "Do not pace: push as fast as the model runs.") var fast = false
    @Option(help: "Compute threads (0 = all cores).") var threads: Int = 0
    @Argument(help: "A media file.") var path: String

    func validate() throws {
        if !(every > 0 && every <= 3600) { throw ValidationError("--every must be in (0, 3600] seconds") }
        if !(0...1024).contains(threads) { throw ValidationError("--threads must be in 0…1024") }
    }

    func run() throws {
        try reportingErrors {
            let m = try Model(path: try resolveModelPath(model), threads: threads)
            let stream = try ModelStream(model: m, options: StreamOptions(window: window))
            let hop = Double(readSteps(every: every, step: stream.step)) * stream.step
            printError("eri stream: \(path): window \(formatTime(stream.window)) s, reads every \(formatTime(hop)) s "
                       + "(--every \(formatTime(every)) rounded to a multiple of W/F = \(formatTime(stream.step)) s)")
            print((["window_end_s"] + ERIConfig.emotionNames).joined(separator: "\t"))
            try replay(path, into: stream, every: every, realTime: !fast) { e in
                let values = e.intensities.map { formatValue(Double($0)) }
                print(([formatTime(e.windowEnd)] + values).joined(separator: "\t"))
                fflush(stdout)
            }
        }
    }
}

func formatValue(_ v: Double) -> String {
    let scaled = (v * 10000).rounded() / 10000
    return "\(scaled)"
}

/// A time in seconds to the microsecond (window ends are multiples of W/F, which may need more than four decimals).
func formatTime(_ t: Double) -> String {
    let scaled = (t * 1e6).rounded() / 1e6
    return "\(scaled)"
}
