import ERICore
import ERIFaces
import ERIFeatures

#if canImport(Glibc)
import Glibc
#endif

/// Where the faces of a call come from (SPEC §4.1a; C: `ERI_FACES_*`).
public enum FaceMode: Int32, Sendable {
    /// A host-given box wins; frames without one are searched with liberi's
    /// detector when it is installed, else the model sees the centred square (and a warning says so).
    case auto = 0
    /// As `auto`, but a missing detector is an error.
    case detect = 1
    /// No search: the host's boxes where given, else the centred square (liberi 0.1's behaviour).
    case none = 2
}

/// What the face stage did for a clip: the placement of each frame the
/// model read, and how many of them had a face of their own.
public struct FaceReport: Sendable {
    /// Per frame used (F per window, in order): what the model saw of it.
    public var placements: [FacePlacement]
    /// Per frame used: the tracked face (nil: none in the clip, or a host box).
    public var faces: [DetectedFace?]
    /// Per frame used: every face the detector found (empty where it did not search).
    public var detections: [[DetectedFace]]
    /// Per frame used: which detection is the tracked subject (nil: borrowed from a neighbour, or none).
    public var chosen: [Int?]
    /// Share of the frames with a face of their own: detected, or given by the host.
    public var coverage: Float
    /// How the faces were found: "host", "detector", "none" (centred square).
    public var source: String
}

extension Model {
    /// The face detector of `eri_model_options.face_model` / `ERI_FACE_MODEL` /
    /// the installed `share/eri/face-mtcnn.safetensors`, loaded once; nil when none is found.
    var detector: FaceDetector? { faceDetector.value }

    /// Whether frames without a host box are searched, or an error when the
    /// mode demands a detector there is not (`searchesFaces(_:video:detector:)`).
    func searchesFaces(_ mode: FaceMode) throws -> Bool {
        try ERIPipeline.searchesFaces(mode, video: config.video, detector: faceDetector)
    }

    /// The faces of `frames` (the F·k frames a prediction reads, in order, k
    /// windows of F): host boxes win; the rest are detected and tracked within
    /// each window (`trackSubject`).
    func faceReport(frames: [ImageView], windows k: Int, mode: FaceMode) throws -> FaceReport {
        let search = try searchesFaces(mode)
        let detections = frames.map { view in view.box == nil && search ? detector!.detect(view) : [] }
        return report(detections: detections, hostBoxes: frames.map(\.box), windows: k, searched: search)
    }

    /// The report from each frame's detections and host boxes (`faceReport(detections:hostBoxes:windows:searched:preparation:)`).
    func report(detections: [[DetectedFace]], hostBoxes: [FaceBox?], windows k: Int, searched: Bool) -> FaceReport {
        ERIPipeline.faceReport(detections: detections, hostBoxes: hostBoxes, windows: k, searched: searched, preparation: config.video?.face ?? .box)
    }
}

/// Whether frames without a host box are searched for faces (SPEC §4.1a), for
/// a model (or a training run) whose video branch is `video`: `.none` never
/// (an error for aligned faces, which need landmarks), `.detect` always (an
/// error without a detector), `.auto` when `detector` is installed (an error
/// without one for aligned faces; else false, the centred square). No video
/// branch: false. Shared by prediction, the stream and `eri train`'s cache.
public func searchesFaces(_ mode: FaceMode, video: ERIConfig.Video?, detector: LazyDetector) throws -> Bool {
    guard video != nil, mode != .none else {
        if video?.face == .aligned {
            throw ERIError.invalidArgument("this model was trained on aligned faces: it needs the face detector (faces \"none\" is not possible)")
        }
        return false
    }
    if detector.value != nil { return true }
    if mode == .detect || video?.face == .aligned {
        throw ERIError(.unsupported, "no face detector: \(detector.failure ?? "none installed"); run `make models` "
                       + "(PREFIX/share/eri/face-mtcnn.safetensors) or set ERI_FACE_MODEL")
    }
    return false
}

/// The face stage's result (SPEC §4.1a) from each frame's detections and host
/// boxes, for the F·k frames of k windows in order: host boxes win; within each
/// window the subject is tracked (`trackSubject`) and each frame placed as
/// `preparation` says (the centred square where the window has no face at all).
/// Coverage counts the frames with a face of their own (detected, or a host box).
public func faceReport(detections: [[DetectedFace]], hostBoxes: [FaceBox?], windows k: Int, searched: Bool,
                       preparation: ERIConfig.FacePreparation) -> FaceReport {
    let n = detections.count, per = max(1, n / max(k, 1))
    var placements = [FacePlacement](repeating: .centre, count: n)
    var faces = [DetectedFace?](repeating: nil, count: n)
    var chosen = [Int?](repeating: nil, count: n)
    var covered = 0
    for w in 0..<k {
        let range = (w * per)..<min(n, (w + 1) * per)
        let track = trackSubject(Array(detections[range]))
        for (i, j) in range.enumerated() {
            if let box = hostBoxes[j] {
                placements[j] = .box(box)
                covered += 1
            } else {
                faces[j] = track.faces[i]
                chosen[j] = track.chosen[i]
                placements[j] = FacePlacement(track.faces[i], preparation: preparation)
                if track.detected[i] { covered += 1 }
            }
        }
    }
    let anyHost = hostBoxes.contains { $0 != nil }
    return FaceReport(placements: placements, faces: faces, detections: detections, chosen: chosen,
                      coverage: n == 0 ? 0 : Float(covered) / Float(n),
                      source: searched ? (anyHost ? "host+detector" : "detector") : (anyHost ? "host" : "none"))
}

/// The detector a model uses, found and loaded on first use.
public final class LazyDetector: @unchecked Sendable {
    private let lock = Lock()
    private let explicitPath: String?
    private var loaded: FaceDetector??
    /// Why no detector loaded (nil until `value` was asked for, or when one did).
    public private(set) var failure: String?
    /// The weights file the detector was loaded from (nil until `value` found one).
    public private(set) var path: String?

    /// `path`: the weights; nil: $ERI_FACE_MODEL, else the installed ones (`installedFaceModels`).
    public init(path: String?) { explicitPath = path }

    /// The detector, loaded on the first call; nil when none is found.
    public var value: FaceDetector? {
        lock.withLock {
            if let loaded { return loaded }
            var result: FaceDetector?
            // A path the caller names is the only one tried.
            let candidates = explicitPath.map { [$0] } ?? ([environment("ERI_FACE_MODEL")].compactMap { $0 } + installedFaceModels())
            for path in candidates where access(path, R_OK) == 0 {
                do { result = try FaceDetector(weights: path); self.path = path; break } catch let e as ERIError { failure = e.message } catch {}
            }
            if result == nil && failure == nil {
                failure = "no face-mtcnn.safetensors at \(candidates.joined(separator: ", "))"
            }
            loaded = .some(result)
            return result
        }
    }
}

public func environment(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    let s = String(cString: v)
    return s.isEmpty ? nil : s
}

/// Where `make install` puts the detector's weights, found from this code's
/// own file (liberi.so in PREFIX/lib, or the eri tool in PREFIX/bin): the
/// file itself's folder (a Python wheel keeps it next to liberi.so), then
/// ../share/eri.
public func installedFaceModels() -> [String] {
    guard let path = ownFilePath else { return [] }
    let folder = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    return [folder + "/face-mtcnn.safetensors", folder + "/../share/eri/face-mtcnn.safetensors"]
}

/// The path of the file this code was loaded from (liberi.so or the eri tool),
/// read once: /proc/self/maps is long in a large host (thousands of lines).
private let ownFilePath: String? = ownFile()

/// The mapping of /proc/self/maps that holds `#dsohandle`.
private func ownFile() -> String? {
    let address = UInt(bitPattern: #dsohandle)
    return firstLine(ofFile: "/proc/self/maps") { text -> String? in
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 6, let dash = fields[0].firstIndex(of: "-"),
              let low = UInt(fields[0][..<dash], radix: 16), let high = UInt(fields[0][fields[0].index(after: dash)...], radix: 16),
              address >= low, address < high else { return nil }
        let path = fields[5...].joined(separator: " ").trimmingCharacters(in: "\n")
        return path.hasPrefix("/") ? path : ""
    }.flatMap { $0.isEmpty ? nil : $0 }
}

private extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let last = s.last, set.contains(last) { s.removeLast() }
        return s
    }
}
