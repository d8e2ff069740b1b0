import ArgumentParser
import ERICore
import ERIFeatures
import ERIModel
import ERIPipeline
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `eri predict`: the seven intensities of each media file.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict emotion intensities of media files (video and/or audio).",
        discussion: """
        Each PATH is a media file (any container/codec FFmpeg reads, or WAV/FLAC/OGG) or a folder, which means \
        every media file under it. One line per file on stdout; failures are reported on stderr and the rest \
        go on; the exit status is 1 if any file failed. What each estimate was made from (frames and audio \
        used, their spans, the file's duration, the face coverage) is in the --json and --csv records; warnings \
        (random_weights, no_video, no_audio, long_input: a file far longer than the training clips, no_face, \
        few_faces: under half of the frames used with a face of their own, no_detector) go to stderr and into \
        those records.
        Faces: frames are searched for the subject's face (MTCNN, installed by `make install`) unless --box \
        gives it; --faces none reads each frame's centred square instead, --faces detect fails without a detector.
        A file much longer than the clips the model was trained on gives one estimate over all of it (F \
        frames spread over the whole file); --windows gives the mean over consecutive windows instead, and \
        `eri timeline` the estimate of each window.
        The model is --model, else $ERI_MODEL, else PREFIX/share/eri/default.eri when liberi was installed with one.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Flag(help: "One JSON object per line.") var json = false
    @Flag(help: "CSV with a header row.") var csv = false
    @Option(help: "Face box x,y,w,h in pixels of the (upright) video frames, for every frame.") var box: String?
    @Flag(help: "The mean of the estimates of consecutive windows (see --window) instead of one over the whole file.")
    var windows = false
    @Option(help: "Window length for --windows, seconds (default: the model's training clip length, else 10).")
    var window: Double?
    @Argument(help: "Media files or folders.") var paths: [String]

    func validate() throws {
        if json && csv { throw ValidationError("--json and --csv exclude each other") }
        if let box, parseBox(box) == nil { throw ValidationError("--box needs four numbers x,y,w,h with w, h > 0") }
        if let window, !(window >= 0.1 && window <= 3600) { throw ValidationError("--window must be in 0.1…3600 seconds") }
        if window != nil && !windows { throw ValidationError("--window goes with --windows") }
    }

    func run() throws {
        let m: Model
        do { m = try modelOptions.open() } catch let e as ERIError {
            printError("eri: \(e.message)")
            throw ExitCode(1)
        }
        let faceBox = box.flatMap(parseBox)
        var files: [String] = []
        var failures = 0
        for path in paths {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                let found = mediaFiles(under: path)
                if found.isEmpty { printError("eri: \(path): no media files in this folder") }
                files += found
            } else {
                files.append(path)
            }
        }
        if csv { print((["file"] + ERIConfig.emotionNames + Self.recordColumns).joined(separator: ",")) }
        let options = PredictOptions(longInput: windows ? .windows(seconds: window) : .whole, faces: modelOptions.faceMode)
        let progress = files.count > 1 && isatty(2) != 0 ? ProgressBar(total: files.count) : nil
        for (i, file) in files.enumerated() {
            progress?.update(done: i, label: (file as NSString).lastPathComponent)
            do {
                let p = try m.prediction(file: file, box: faceBox, options: options)
                progress?.clear()
                for message in p.messages { printError("eri: \(file): warning: \(message)") }
                print(format(file: file, p))
            } catch let e as ERIError {
                failures += 1
                progress?.clear()
                printError("eri: \(e.message)")
            }
            fflush(stdout)
        }
        progress?.finish()
        if failures > 0 {
            printError("eri: \(failures) of \(files.count) file\(files.count == 1 ? "" : "s") failed")
            throw ExitCode(1)
        }
    }

    /// The CSV columns after the intensities (the JSON record has the same keys).
    static let recordColumns = ["frames_given", "frames_used", "video_start_s", "video_end_s", "audio_used", "audio_start_s",
                                "audio_end_s", "duration_s", "windows", "window_s", "face_coverage", "warnings"]

    func format(file: String, _ p: Prediction) -> String {
        let names = ERIConfig.emotionNames, y = p.intensities
        let warningNames = warningNamesOf(p.warnings)
        let record: [(String, JSONValue)] = [
            ("frames_given", .number(Double(p.framesGiven))), ("frames_used", .number(Double(p.framesUsed))),
            ("video_start_s", p.videoSpan.map { .number($0.lowerBound) } ?? .null),
            ("video_end_s", p.videoSpan.map { .number($0.upperBound) } ?? .null),
            ("audio_used", .bool(p.audioUsed)),
            ("audio_start_s", p.audioSpan.map { .number($0.lowerBound) } ?? .null),
            ("audio_end_s", p.audioSpan.map { .number($0.upperBound) } ?? .null),
            ("duration_s", p.duration.map { .number($0) } ?? .null),
            ("windows", .number(Double(p.windows))), ("window_s", p.window.map { .number($0) } ?? .null),
            ("face_coverage", p.faceCoverage.map { p.framesUsed > 0 ? .number(Double($0)) : .null } ?? .null),
            ("warnings", .array(warningNames.map { .string($0) })),
        ]
        if json {
            var members: [(String, JSONValue)] = [("file", .string(file))]
            for (n, v) in zip(names, y) { members.append((n, .number(Double("\(v)") ?? Double(v)))) }  // shortest float text
            members += record
            if !p.messages.isEmpty { members.append(("warning_text", .array(p.messages.map { .string($0) }))) }
            return JSONValue.object(members).serialized
        }
        if csv {
            func quoted(_ text: String) -> String {
                text.contains(",") || text.contains("\"") ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
            }
            let extra = record.map { _, value -> String in
                switch value {
                case .bool(let b): return b ? "1" : "0"
                case .number(let x): return x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(format: "%.3f", x)
                case .array(let items):
                    return items.compactMap { item -> String? in if case .string(let text) = item { return text } else { return nil } }
                        .joined(separator: "|")
                default: return ""
                }
            }
            return ([quoted(file)] + y.map { String(format: "%.6f", $0) } + extra).joined(separator: ",")
        }
        return file + "  " + zip(names, y).map { "\($0) \(String(format: "%.3f", $1))" }.joined(separator: "  ")
    }
}

/// The names of a record's warnings (the C API's ERI_WARN_* without the prefix, lower case), in bit order.
func warningNamesOf(_ warnings: PredictionWarnings) -> [String] {
    [(PredictionWarnings.randomWeights, "random_weights"), (.noVideo, "no_video"), (.noAudio, "no_audio"), (.longInput, "long_input"),
     (.noFace, "no_face"), (.fewFaces, "few_faces"), (.noDetector, "no_detector")].filter { warnings.contains($0.0) }.map(\.1)
}

/// The options `eri predict`, `eri stream` and `eri timeline` share: which
/// model, how many threads, and where faces come from.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The .eri model.") var model: String?
    @Option(help: "Compute threads (0 = all cores).") var threads: Int = 0
    @Option(help: "Where faces come from: auto (search when a detector is installed), detect (search; fail without a detector), none (the centred square).")
    var faces: String = "auto"
    @Option(help: "The face detector's weights (default: $ERI_FACE_MODEL, else PREFIX/share/eri/face-mtcnn.safetensors).")
    var faceModel: String?

    func validate() throws {
        if !(0...1024).contains(threads) { throw ValidationError("--threads must be in 0…1024") }
        if parseFaceMode(faces) == nil { throw ValidationError("--faces must be auto, detect or none") }
    }

    /// --faces, once `validate` has passed.
    var faceMode: FaceMode { parseFaceMode(faces)! }

    /// Opens --model (else $ERI_MODEL, else the installed default) with --threads and --face-model.
    func open() throws -> Model {
        try Model(path: try resolveModelPath(model), threads: threads, faceModel: faceModel)
    }
}

/// --faces auto|detect|none.
func parseFaceMode(_ text: String) -> FaceMode? {
    ["auto": FaceMode.auto, "detect": .detect, "none": .none][text]
}

func parseBox(_ text: String) -> FaceBox? {
    let parts = text.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 4, parts.allSatisfy(\.isFinite), parts[2] > 0, parts[3] > 0 else { return nil }
    return FaceBox(x: parts[0], y: parts[1], w: parts[2], h: parts[3])
}

/// File endings `eri predict` treats as media when it walks a folder.
let mediaExtensions: Set<String> = ["mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "flv", "3gp", "ogv", "y4m",
                                    "wav", "flac", "ogg", "oga", "opus", "mp3", "m4a", "aac", "wma", "aiff", "aif"]

func mediaFiles(under folder: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
    var files: [String] = []
    while let relative = walker.nextObject() as? String {
        if mediaExtensions.contains((relative as NSString).pathExtension.lowercased()) {
            files.append((folder as NSString).appendingPathComponent(relative))
        }
    }
    return files.sorted()
}

/// --model, else $ERI_MODEL, else PREFIX/share/eri/default.eri next to this executable's PREFIX/bin.
func resolveModelPath(_ explicit: String?) throws -> String {
    if let explicit { return explicit }
    if let env = ProcessInfo.processInfo.environment["ERI_MODEL"], !env.isEmpty { return env }
    let executable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    let installed = executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("share/eri/default.eri").path
    if FileManager.default.fileExists(atPath: installed) { return installed }
    printError("""
    eri: no model. Pass --model FILE, or set ERI_MODEL, or install one as \(installed).
         `eri train` trains one (see `make demo`); `eri init --preset dbn-small -o m.eri` writes random, untrained weights.
    """)
    throw ExitCode(1)
}

/// A one-line progress bar with ETA on stderr (only when stderr is a terminal).
final class ProgressBar {
    let total: Int
    let start = Date()
    init(total: Int) { self.total = total }

    func update(done: Int, label: String) {
        let width = 30
        let filled = total > 0 ? width * done / total : 0
        var eta = ""
        if done > 0 {
            let remaining = Date().timeIntervalSince(start) / Double(done) * Double(total - done)
            eta = " ETA \(Int(remaining) / 60)m\(String(format: "%02d", Int(remaining) % 60))s"
        }
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        fputs("\r\(bar) \(done)/\(total)\(eta) \(label.prefix(30))\u{1B}[K", stderr)
    }

    func clear() { fputs("\r\u{1B}[K", stderr) }

    func finish() {
        clear()
        fputs("\(total) files in \(String(format: "%.1f", Date().timeIntervalSince(start))) s\n", stderr)
    }
}
