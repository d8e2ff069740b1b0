import ERICore
import ERIFaces
import ERIFeatures
import ERIMedia

/// A media file's video track as a model's video branch reads it: the sampled
/// frames prepared (SPEC §4.1 with the faces of §4.1a) and what the face stage did.
public struct PreparedVideo: Sendable {
    /// count × C × S × S normalised frames, in sampling order.
    public var frames: Tensor
    /// The face stage's result for those frames.
    public var faces: FaceReport
    /// Per frame: its presentation time in seconds (nil: unknown, or not decoded).
    public var timestamps: [Double?]
    /// N, the frames the video stream decoded to.
    public var decodedFrames: Int
}

/// SPEC §4.1 and §4.1a for the video of `path`: `count` frames sampled over
/// the whole track (`decodeMedia`'s sampling, count = F·k for k windows),
/// faces searched with `detector` when it is given and the host gave no `box`,
/// the subject tracked within each of the k windows (`faceReport`), and each
/// frame prepared with its placement (`ImageView.preprocess`): the box crop or
/// the aligned face as `video.face` says, the centred square where the window
/// has no face. This is the face stage of a file prediction, for callers
/// without a `Model` (`eri train`'s clip cache).
///
/// Tracking needs every frame's detections before any frame is prepared: the
/// decoded frames are kept when they fit in `keepBytes`, else the file is
/// decoded a second time (decoding is deterministic, so the frames are the same).
public func prepareVideo(file path: String, count: Int, windows k: Int = 1, config v: ERIConfig.Video,
                         detector: FaceDetector?, box: FaceBox? = nil, keepBytes: Int = 256 << 20) throws -> PreparedVideo {
    guard count >= 1, k >= 1, count % k == 0 else {
        throw ERIError.invalidArgument("\(path): \(count) frames do not split into \(k) windows")
    }
    let per = v.channels * v.imageSize * v.imageSize
    let search = detector != nil && box == nil
    var frames = Tensor(zeros: [count, v.channels, v.imageSize, v.imageSize])
    var timestamps = [Double?](repeating: nil, count: count)
    var detections = [[DetectedFace]](repeating: [], count: count)
    var kept = [DecodedFrame?](repeating: nil, count: count)
    var keptBytes = 0, keeping = search

    func prepare(_ frame: DecodedFrame, _ positions: [Int], _ placement: (Int) -> FacePlacement) throws {
        try frame.withView(box: box, path: path) { view in
            try frames.data.withUnsafeMutableBufferPointer { out in
                for j in positions {
                    try view.preprocess(placement(j), config: v, into: UnsafeMutableBufferPointer(rebasing: out[(j * per)..<((j + 1) * per)]))
                }
            }
        }
    }

    let decoded = try decodeMedia(path: path, frames: count, audioRate: nil) { frame, positions in
        if search {
            let faces = try frame.withView(box: box, path: path) { detector!.detect($0) }
            for j in positions { detections[j] = faces }
            if keeping {
                keptBytes += frame.pixels.count
                if keptBytes > keepBytes {
                    keeping = false
                    kept = []
                } else {
                    for j in positions { kept[j] = frame }
                }
            }
        } else {
            try prepare(frame, positions) { _ in box.map { .box($0) } ?? .centre }
        }
        for j in positions { timestamps[j] = frame.timestamp }
    }
    guard decoded.videoFrames > 0 else { throw ERIError(.decode, "\(path): no video frames") }
    let hostBoxes = [FaceBox?](repeating: box, count: count)
    let report = faceReport(detections: detections, hostBoxes: hostBoxes, windows: k, searched: search, preparation: v.face)
    if search {
        if keeping {
            for (j, frame) in kept.enumerated() {
                if let frame { try prepare(frame, [j]) { report.placements[$0] } }
            }
        } else {
            try decodeMedia(path: path, frames: count, audioRate: nil) { frame, positions in
                try prepare(frame, positions) { report.placements[$0] }
            }
        }
    }
    return PreparedVideo(frames: frames, faces: report, timestamps: timestamps, decodedFrames: decoded.videoFrames)
}
