import ArgumentParser
import ERICore
import ERIFeatures
import ERIMedia
import ERIModel
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

/// Replays a media file into a `ModelStream` as a live source: frames at
/// their timestamps, audio in 20 ms chunks interleaved by time, and a read
/// every `every` seconds of media time (`onRead` gets each estimate). With
/// `realTime`, it sleeps so that media time runs at wall-clock speed.
func replay(_ path: String, into stream: ModelStream, every: Double, realTime: Bool,
            onRead: (StreamEstimate) throws -> Void) throws {
    let model = stream.model
    let audio = try replayMedia(path: path, audioRate: model.config.audio?.sampleRate, video: false) { _ in }
    var audioCursor = 0
    let chunk = max(1, (audio?.sampleRate ?? 16000) / 50)
    var nextRead = every
    var clockStart = timespec()
    clock_gettime(CLOCK_MONOTONIC, &clockStart)

    func waitUntil(_ mediaTime: Double) {
        guard realTime else { return }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let elapsed = Double(now.tv_sec - clockStart.tv_sec) + Double(now.tv_nsec - clockStart.tv_nsec) / 1e9
        if mediaTime > elapsed { usleep(UInt32(min((mediaTime - elapsed) * 1e6, 5e6))) }
    }
    /// Pushes audio up to media time `t`, reading on the way.
    func advance(to t: Double) throws {
        if let a = audio {
            while audioCursor < a.frameCount {
                let start = Double(audioCursor) / Double(a.sampleRate)
                if start >= t { break }
                let n = min(chunk, a.frameCount - audioCursor)
                try readIfDue(before: start)
                waitUntil(start + Double(n) / Double(a.sampleRate))
                try a.samples.withUnsafeBufferPointer { all in
                    let view = UnsafeBufferPointer(rebasing: all[(audioCursor * a.channels)..<((audioCursor + n) * a.channels)])
                    try stream.pushPCM(try PCMView(samples: view, sampleRate: a.sampleRate, channels: a.channels), timestamp: start)
                }
                audioCursor += n
            }
        }
        try readIfDue(before: t)
    }
    func readIfDue(before t: Double) throws {
        while nextRead <= t {
            do { try onRead(try stream.read()) } catch let e as ERIError where e.code == .missingModality {}
            nextRead += every
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
                } catch let e as ERIError where e.code == .invalidArgument {
                    Log.emit(.warning, "\(path): frame \(frame.index) skipped: \(e.message)")
                }
            }
        }
    }
    let end = audio.map { Double($0.frameCount) / Double($0.sampleRate) } ?? 0
    try advance(to: max(end, nextRead - every) + 1e-9)
    // The last window, if it has not been read yet.
    if let last = stream.lastEstimate {
        let e = try stream.read()
        if e.windowEnd > last.windowEnd { try onRead(e) }
    } else if let e = try? stream.read() {
        try onRead(e)
    }
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
        """)

    @Option(name: .shortAndLong, help: "The .eri model.") var model: String?
    @Option(help: "Window length in seconds (default: the model's training clip length, else 10).") var window: Double?
    @Option(help: "Seconds of media time between reads.") var every: Double = 0.5
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
            printError("eri stream: \(path): window \(stream.window) s, reads every \(every) s")
            print((["window_end_s"] + ERIConfig.emotionNames).joined(separator: "\t"))
            try replay(path, into: stream, every: every, realTime: !fast) { e in
                let values = e.intensities.map { formatValue(Double($0)) }
                print(([formatValue(e.windowEnd)] + values).joined(separator: "\t"))
                fflush(stdout)
            }
        }
    }
}

func formatValue(_ v: Double) -> String {
    let scaled = (v * 10000).rounded() / 10000
    return "\(scaled)"
}
