import ArgumentParser
import ERICore
import ERIFaces
import ERIMedia
import ERIModel
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

/// `eri faces`: what the face stage finds and what the model receives.
struct FacesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faces",
        abstract: "Show the faces liberi finds in a media file and the face images the model receives.",
        discussion: """
        For each of the F frames the model samples from FILE (SPEC §4.1, F·k with --windows): its time, every \
        face the detector finds (box x1,y1,x2,y2, probability, five landmarks: eyes, nose, mouth corners), and \
        the face the track chose (marked "used"; a frame without one borrows its neighbour's). The default \
        output is a table; --json gives one object per frame, --csv one row per face. --preview writes a \
        contact sheet (PNG) of the F face images the model receives, as it receives them (after cropping or \
        alignment, before normalisation).
        """)

    @Option(name: .shortAndLong, help: "The .eri model (its frames, image size and face preparation).") var model: String?
    @Option(help: "The face detector's weights (default: $ERI_FACE_MODEL, else PREFIX/share/eri/face-mtcnn.safetensors).")
    var faceModel: String?
    @Flag(help: "One JSON object per frame.") var json = false
    @Flag(help: "CSV, one row per face.") var csv = false
    @Option(help: "Write a contact sheet of the face images the model receives (PNG).") var preview: String?
    @Flag(help: "Sample frames for the mean over windows (see eri predict --windows).") var windows = false
    @Argument(help: "A media file with a video track.") var path: String

    func validate() throws {
        if json && csv { throw ValidationError("--json and --csv exclude each other") }
    }

    func run() throws {
        try reportingErrors {
            let m = try Model(path: try resolveModelPath(model), faceModel: faceModel)
            guard let v = m.config.video else { throw ERIError(.missingModality, "the model has no video branch: it sees no faces") }
            let (input, record, timestamps) = try m.prepare(file: path, options: PredictOptions(longInput: windows ? .windows(seconds: nil) : .whole,
                                                                                                faces: .detect))
            guard let frames = input.frames, let report = record.faces else {
                throw ERIError(.missingModality, "\(path): no video frame")
            }
            let n = report.placements.count
            if csv { print("frame,time_s,face,used,x1,y1,x2,y2,probability,landmarks") }
            for j in 0..<n {
                let time = timestamps[j].map { formatValue($0) } ?? ""
                let used = report.chosen[j]
                if json {
                    let faces: [JSONValue] = report.detections[j].enumerated().map { i, f in
                        .object([("box", .array([f.x1, f.y1, f.x2, f.y2].map { .number(Double($0)) })),
                                 ("probability", .number(Double(f.score))),
                                 ("landmarks", .array(f.landmarks.map { .array([.number(Double($0.x)), .number(Double($0.y))]) })),
                                 ("used", .bool(i == used))])
                    }
                    var members: [(String, JSONValue)] = [("frame", .number(Double(j))), ("time_s", timestamps[j].map { .number($0) } ?? .null),
                                                          ("faces", .array(faces))]
                    members.append(("placement", placementJSON(report.placements[j])))
                    print(JSONValue.object(members).serialized)
                } else if csv {
                    for (i, f) in report.detections[j].enumerated() {
                        let points = f.landmarks.map { "\(formatValue(Double($0.x))) \(formatValue(Double($0.y)))" }.joined(separator: " ")
                        print([String(j), time, String(i), i == used ? "1" : "0", formatValue(Double(f.x1)), formatValue(Double(f.y1)),
                               formatValue(Double(f.x2)), formatValue(Double(f.y2)), formatValue(Double(f.score)), points].joined(separator: ","))
                    }
                } else {
                    let found = report.detections[j].enumerated().map { i, f in
                        "\(i == used ? "*" : " ")[\(Int(f.x1)),\(Int(f.y1)) \(Int(f.x2 - f.x1))×\(Int(f.y2 - f.y1)) p \(String(format: "%.3f", f.score))]"
                    }
                    print("frame \(j)\t\(time) s\t\(found.isEmpty ? "no face" : found.joined(separator: " "))\(used == nil && report.faces[j] != nil ? "  (borrowed a neighbour's face)" : "")")
                }
            }
            printError("eri: \(path): face coverage \(String(format: "%.2f", report.coverage)) (\(report.source)); \(v.face.rawValue) faces of \(v.imageSize) px")
            if let preview { try writeContactSheet(frames, config: v, count: n, to: preview) }
        }
    }

    func placementJSON(_ p: FacePlacement) -> JSONValue {
        switch p {
        case .centre: return .string("centre")
        case .box(let b): return .object([("box", .array([b.x, b.y, b.w, b.h].map { .number(Double($0)) }))])
        case .aligned(let points): return .object([("aligned", .array(points.map { .array([.number(Double($0.x)), .number(Double($0.y))]) }))])
        }
    }

    /// The model's face images (n × C × S × S, normalised) back to 8-bit RGB, in a grid of ⌈√n⌉ columns with 4 px gaps.
    func writeContactSheet(_ frames: Tensor, config v: ERIConfig.Video, count n: Int, to path: String) throws {
        let s = v.imageSize, gap = 4, columns = Int(Double(n).squareRoot().rounded(.up)), rows = (n + columns - 1) / columns
        let width = columns * (s + gap) + gap, height = rows * (s + gap) + gap
        var rgb = [UInt8](repeating: 40, count: width * height * 3)
        let per = v.channels * s * s
        for j in 0..<n {
            let ox = gap + (j % columns) * (s + gap), oy = gap + (j / columns) * (s + gap)
            for y in 0..<s { for x in 0..<s { for c in 0..<3 {
                let channel = v.channels == 3 ? c : 0
                let value = frames.data[j * per + (channel * s + y) * s + x] * v.std[channel] + v.mean[channel]
                rgb[((oy + y) * width + ox + x) * 3 + c] = UInt8(max(0, min(255, (value * 255).rounded())))
            } } }
        }
        try writePNG(path: path, rgb: rgb, width: width, height: height)
        printError("eri: wrote \(path): \(n) face images of \(s) px")
    }
}
