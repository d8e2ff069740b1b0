import ERICore
import ERIFeatures

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
public func bestMatch(_ faces: [DetectedFace], for reference: DetectedFace) -> DetectedFace? {
    var best: (face: DetectedFace, cost: Float)?
    for f in faces { if let c = matchCost(f, reference), best == nil || c < best!.cost { best = (f, c) } }
    return best?.face
}

/// Whether `candidate` can be the same person as `reference` in a nearby
/// frame: boxes that overlap, or centres closer than 0.75 of the face's size
/// at a similar size (a subject moves between sampled frames). Returns a
/// matching cost (lower is better), nil when not.
public func matchCost(_ candidate: DetectedFace, _ reference: DetectedFace) -> Float? {
    let overlap = candidate.overlap(reference)
    if overlap >= 0.2 { return 1 - overlap }
    let size = max(reference.x2 - reference.x1, reference.y2 - reference.y1, 1)
    let ratio = max(candidate.x2 - candidate.x1, 1) / max(reference.x2 - reference.x1, 1)
    let dx = (candidate.x1 + candidate.x2 - reference.x1 - reference.x2) / 2
    let dy = (candidate.y1 + candidate.y2 - reference.y1 - reference.y2) / 2
    let distance = (dx * dx + dy * dy).squareRoot() / size
    guard distance < 0.75, ratio > 0.5, ratio < 2 else { return nil }
    return 1 + distance
}

/// The subject of a clip from each frame's detections (SPEC §4.1a): the most
/// confident face of the clip first, then, frame by frame away from it in
/// both directions, the face that matches the previous choice best
/// (`matchCost`): a second person entering the frame does not take over,
/// since it does not overlap the subject. Frames without a match take the
/// face of the nearest frame that has one (the earlier on a tie). With
/// `smooth`, each box and landmark set is averaged with its neighbours'
/// (weights ¼, ½, ¼) where they overlap it (IoU > 0.5): jitter goes, motion stays.
public func trackSubject(_ detections: [[DetectedFace]], smooth: Bool = true) -> FaceTrack {
    let n = detections.count
    var chosen = [DetectedFace?](repeating: nil, count: n)
    var index = [Int?](repeating: nil, count: n)
    var best: (frame: Int, index: Int)?
    for (j, faces) in detections.enumerated() {
        for (i, f) in faces.enumerated() where best == nil || f.score > detections[best!.frame][best!.index].score { best = (j, i) }
    }
    guard let anchor = best else { return FaceTrack(faces: chosen, chosen: index) }
    let anchorFace = detections[anchor.frame][anchor.index]
    chosen[anchor.frame] = anchorFace
    index[anchor.frame] = anchor.index
    for direction in [1, -1] {
        var reference = anchorFace
        var j = anchor.frame + direction
        while j >= 0 && j < n {
            let scored = detections[j].enumerated().compactMap { i, f in matchCost(f, reference).map { (i, $0) } }
            if let (i, _) = scored.min(by: { $0.1 < $1.1 }) {
                chosen[j] = detections[j][i]
                index[j] = i
                reference = detections[j][i]
            }
            j += direction
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
