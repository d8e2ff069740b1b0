import ERICore
import ERIFeatures

#if canImport(Glibc)
import Glibc
#endif

/// One subject's face over a clip's frames (SPEC §4.1a): per frame the face
/// used (its own detection, or the nearest frame's when it had none), whether
/// it was detected there, and the share of frames that were.
public struct FaceTrack: Sendable {
    /// Per frame: the face used, nil only when the clip has no detection at all.
    public var faces: [DetectedFace?]
    /// Per frame: which of the frame's own detections is the subject (nil: none; the face is borrowed).
    public var chosen: [Int?]
    /// Per frame: whether the frame's own detection was used.
    public var detected: [Bool] { chosen.map { $0 != nil } }
    /// The share of frames with a detection of the subject (0…1): face coverage.
    public var coverage: Float { detected.isEmpty ? 0 : Float(detected.filter { $0 }.count) / Float(detected.count) }
}

/// The face of `faces` that best continues `reference` (`matchCost`), nil when none can.
public func bestMatch(_ faces: [DetectedFace], for reference: DetectedFace, frames gap: Int = 1) -> DetectedFace? {
    var best: (face: DetectedFace, cost: Float)?
    for f in faces { if let c = matchCost(f, reference, frames: gap), best == nil || c < best!.cost { best = (f, c) } }
    return best?.face
}

/// How far a subject's face may move between two sampled frames, in face
/// sizes per frame apart: sampled frames are a clip's F frames (often half a
/// second or more apart), and a face turning or crossing the view moves about
/// one face size in that time (the real-face test video).
let movePerFrame: Float = 1.5

/// Whether `candidate` can be the same person as `reference` seen `gap`
/// sampled frames earlier or later: a size within 0.5…2× of it and a centre
/// at most `movePerFrame` · gap face sizes away. Returns the cost of the
/// step (lower is better: the centre distance in face sizes plus the size
/// change as |ln ratio|), nil when not.
public func matchCost(_ candidate: DetectedFace, _ reference: DetectedFace, frames gap: Int = 1) -> Float? {
    let size = max(reference.x2 - reference.x1, reference.y2 - reference.y1, 1)
    let ratio = max(candidate.x2 - candidate.x1, 1) / max(reference.x2 - reference.x1, 1)
    let dx = (candidate.x1 + candidate.x2 - reference.x1 - reference.x2) / 2
    let dy = (candidate.y1 + candidate.y2 - reference.y1 - reference.y2) / 2
    let distance = (dx * dx + dy * dy).squareRoot() / size
    guard distance <= movePerFrame * Float(max(1, gap)), ratio > 0.5, ratio < 2 else { return nil }
    return distance + abs(log(ratio))
}

/// The subject of a clip from each frame's detections (SPEC §4.1a): the most
/// confident face of the clip first; from it, in each direction, the chain of
/// detections (at most one per frame) that moves least: the sum of the steps'
/// `matchCost` plus one per frame left without a detection of the subject,
/// minimised over the whole chain (dynamic programming). A second person who
/// enters the frame does not take over while the subject is found: the
/// subject's own detections make the cheaper chain. (Geometry alone cannot
/// tell the two apart in a frame where only the other person is found right
/// where the subject could have moved; the chain then takes that frame and
/// comes back.) Frames without a detection
/// of the subject take the face of the nearest frame that has one (the
/// earlier on a tie). With `smooth`, each box and landmark set is averaged
/// with its neighbours' (weights ¼, ½, ¼) where they overlap it (IoU > 0.5):
/// jitter goes, motion stays.
public func trackSubject(_ detections: [[DetectedFace]], smooth: Bool = true) -> FaceTrack {
    let n = detections.count
    var chosen = [DetectedFace?](repeating: nil, count: n)
    var index = [Int?](repeating: nil, count: n)
    var best: (frame: Int, index: Int)?
    for (j, faces) in detections.enumerated() {
        for (i, f) in faces.enumerated() where best == nil || f.score > detections[best!.frame][best!.index].score { best = (j, i) }
    }
    guard let anchor = best else { return FaceTrack(faces: chosen, chosen: index) }
    chosen[anchor.frame] = detections[anchor.frame][anchor.index]
    index[anchor.frame] = anchor.index
    for direction in [1, -1] {
        // Frames in this direction, the anchor's first.
        let frames = Array(stride(from: anchor.frame, to: direction > 0 ? n : -1, by: direction))
        for (j, i) in subjectChain(frames.map { detections[$0] }, anchor: anchor.index) {
            chosen[frames[j]] = detections[frames[j]][i]
            index[frames[j]] = i
        }
    }
    var faces = chosen
    for j in 0..<n where faces[j] == nil {
        let nearest = (0..<n).filter { chosen[$0] != nil }.min { abs($0 - j) < abs($1 - j) || (abs($0 - j) == abs($1 - j) && $0 < $1) }!
        faces[j] = chosen[nearest]
    }
    if smooth && n > 2 {
        let raw = faces.map { $0! }
        for j in 0..<n {
            var weight: Float = 0.5, sum = raw[j], total = SIMD4<Float>(raw[j].x1, raw[j].y1, raw[j].x2, raw[j].y2) * 0.5
            var points = raw[j].landmarks.map { $0 * 0.5 }
            for k in [j - 1, j + 1] where k >= 0 && k < n && raw[k].overlap(raw[j]) > 0.5 {
                total += SIMD4(raw[k].x1, raw[k].y1, raw[k].x2, raw[k].y2) * 0.25
                points = zip(points, raw[k].landmarks).map { $0 + $1 * 0.25 }
                weight += 0.25
            }
            total /= weight
            sum.x1 = total[0]; sum.y1 = total[1]; sum.x2 = total[2]; sum.y2 = total[3]
            sum.landmarks = points.map { $0 / weight }
            faces[j] = sum
        }
    }
    return FaceTrack(faces: faces, chosen: index)
}

/// The cheapest chain of detections from detection `anchor` of frame 0 over
/// `frames` (each frame's detections): steps of `matchCost` between chained
/// detections up to `maxGap` frames apart, plus `skipCost` for each frame
/// without one, the frames after the chain's end included. `skipCost` is above
/// any step's cost (1.5 + ln 2), so a plausible detection is always taken
/// rather than skipped; where several are, the one the rest of the chain
/// continues best. Returns the chain's (frame, detection) pairs after the anchor.
func subjectChain(_ frames: [[DetectedFace]], anchor: Int, skipCost: Float = 2.5, maxGap: Int = 8) -> [(Int, Int)] {
    let n = frames.count
    // cost[j][i]: the cheapest chain ending at detection i of frame j; from: its previous link.
    var cost = frames.map { [Float](repeating: .infinity, count: $0.count) }
    var from = frames.map { [(Int, Int)?](repeating: nil, count: $0.count) }
    cost[0][anchor] = 0
    var end = (frame: 0, index: anchor, total: skipCost * Float(n - 1))
    for j in 1..<max(1, n) {
        for (i, face) in frames[j].enumerated() {
            for k in max(0, j - maxGap)..<j {
                for (m, previous) in frames[k].enumerated() where cost[k][m].isFinite {
                    guard let step = matchCost(face, previous, frames: j - k) else { continue }
                    let c = cost[k][m] + step + skipCost * Float(j - k - 1)
                    if c < cost[j][i] { cost[j][i] = c; from[j][i] = (k, m) }
                }
            }
            let total = cost[j][i] + skipCost * Float(n - 1 - j)
            if total < end.total { end = (j, i, total) }
        }
    }
    var chain: [(Int, Int)] = []
    var link: (Int, Int)? = (end.frame, end.index)
    while let (j, i) = link, j > 0 { chain.append((j, i)); link = from[j][i] }
    return chain.reversed()
}

/// What a model's video branch sees of a frame (SPEC §4.1a): the square crop
/// around a box, or the landmarks aligned onto the template.
public enum FacePlacement: Sendable, Equatable {
    /// The centred square (no face known).
    case centre
    case box(FaceBox)
    case aligned(landmarks: [SIMD2<Float>])

    /// How `face` is placed for a model prepared as `preparation`.
    public init(_ face: DetectedFace?, preparation: ERIConfig.FacePreparation) {
        guard let face else { self = .centre; return }
        self = preparation == .aligned ? .aligned(landmarks: face.landmarks) : .box(face.box)
    }
}

extension ImageView {
    /// SPEC §4.1 steps 2–5 (or §4.1a for `.aligned`) with `placement`: C × S × S floats into `out`.
    public func preprocess(_ placement: FacePlacement, config: ERIConfig.Video, into out: UnsafeMutableBufferPointer<Float>) throws {
        switch placement {
        case .centre: try preprocessFrame(with(box: nil), config: config, into: out)
        case .box(let box):
            // A detector's box may stick out of the frame; it is clipped only where the crop rule needs it to overlap.
            try preprocessFrame(with(box: box), config: config, into: out)
        case .aligned(let points):
            let source = points.map { (Double($0.x), Double($0.y)) }
            guard let toFace = Similarity.fitting(source, onto: alignmentTemplate(size: config.imageSize)) else {
                throw ERIError.invalidArgument("face alignment: the landmarks coincide")
            }
            try preprocessAlignedFrame(self, toFace: toFace, config: config, into: out)
        }
    }
}
