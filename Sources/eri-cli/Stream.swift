import ArgumentParser
import ERICore
import ERIFeatures
import ERIMedia
import ERIModel
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

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

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Window length in seconds (default: the model's training clip length, else 10).") var window: Double?
    @Option(help: "Seconds of media time between reads, rounded to a multiple of the stream's step W/F (at least one step).")
    var every: Double = 0.5
    @Flag(help: "Do not pace: push as fast as the model runs.") var fast = false
    @Argument(help: "A media file.") var path: String

    func validate() throws {
        if !(every > 0 && every <= 3600) { throw ValidationError("--every must be in (0, 3600] seconds") }
    }

    func run() throws {
        try reportingErrors {
            let m = try modelOptions.open()
            let stream = try ModelStream(model: m, options: StreamOptions(window: window, faces: modelOptions.faceMode))
            var warnings = StreamWarnings(model: m, path: path, faces: modelOptions.faceMode)
            let hop = Double(readSteps(every: every, step: stream.step)) * stream.step
            printError("eri stream: \(path): window \(formatTime(stream.window)) s, reads every \(formatTime(hop)) s "
                       + "(--every \(formatTime(every)) rounded to a multiple of W/F = \(formatTime(stream.step)) s)")
            print((["window_end_s"] + ERIConfig.emotionNames).joined(separator: "\t"))
            try replay(path, into: stream, every: every, realTime: !fast) { e in
                let values = e.intensities.map { formatValue(Double($0)) }
                print(([formatTime(e.windowEnd)] + values).joined(separator: "\t"))
                fflush(stdout)
                warnings.add(e)
            }
            warnings.finish()
        }
    }
}

/// The warnings of `eri stream` and `eri timeline` on stderr: random weights and a missing detector
/// before the first read, then the face coverage over all reads (none found, or under half).
struct StreamWarnings {
    let path: String
    var coverage: [Float] = []

    init(model: Model, path: String, faces: FaceMode) {
        self.path = path
        if model.hasRandomWeights {
            printError("eri: \(path): warning: the model's weights are a random initialisation: the numbers mean nothing")
        }
        if model.config.video != nil, faces == .auto, let failure = model.faceDetectorFailure {
            printError("eri: \(path): warning: no face detector installed (\(failure)): the model sees the centred square of each frame")
        }
    }

    mutating func add(_ e: StreamEstimate) {
        if let c = e.faceCoverage { coverage.append(c) }
    }

    func finish() {
        guard !coverage.isEmpty else { return }
        let mean = coverage.reduce(0, +) / Float(coverage.count)
        if coverage.allSatisfy({ $0 == 0 }) {
            printError("eri: \(path): warning: no face found in any frame used: the model saw the centred square of each frame")
        } else if mean < 0.5 {
            printError("eri: \(path): warning: a face was found in only \(Int((mean * 100).rounded())) % of the frames used")
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
