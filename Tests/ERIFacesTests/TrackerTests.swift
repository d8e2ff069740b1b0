import Testing
import ERICore
@testable import ERIFaces

/// The clip tracker on detections made up frame by frame (the real-face video test is in Tests/python/test_faces.py).
@Suite struct TrackerTests {
    func face(_ cx: Float, _ cy: Float, size: Float = 80, score: Float = 0.99) -> DetectedFace {
        DetectedFace(x1: cx - size / 2, y1: cy - size / 2, x2: cx + size / 2, y2: cy + size / 2, score: score,
                     landmarks: (0..<5).map { _ in SIMD2(cx, cy) })
    }

    func centre(_ f: DetectedFace?) -> SIMD2<Float>? { f.map { SIMD2(($0.x1 + $0.x2) / 2, ($0.y1 + $0.y2) / 2) } }

    @Test func aFaceMovingAFaceSizeBetweenSampledFramesIsKept() {
        // 16 sampled frames, the face crossing 1.2 face sizes per frame and growing: no frame is lost.
        let detections = (0..<16).map { j in [face(40 + 96 * Float(j), 200, size: 80 * (1 + 0.02 * Float(j)), score: j == 5 ? 1 : 0.98)] }
        let track = trackSubject(detections, smooth: false)
        #expect(track.coverage == 1)
        #expect(track.chosen == Array(repeating: 0, count: 16))
    }

    @Test func aPasserByDoesNotTakeTheTrack() {
        // The subject drifts right; a second face of the same size, found with a higher probability, enters from
        // the right and crosses the subject's path (frames 8-9); in frames 3 and 4 only the passer-by is found,
        // more than 1.5 face sizes from the subject: those frames borrow the subject's face.
        var detections: [[DetectedFace]] = []
        for j in 0..<16 {
            let subject = face(200 + 20 * Float(j), 240, score: j == 12 ? 1 : 0.97)
            let passer = face(760 - 45 * Float(j), 250, score: 0.995)
            var frame: [DetectedFace] = []
            if !(3...4).contains(j) { frame.append(subject) }
            if (2...14).contains(j) { frame.insert(passer, at: 0) }
            detections.append(frame)
        }
        let track = trackSubject(detections, smooth: false)
        for j in 0..<16 {
            let c = centre(track.faces[j])!
            let truth: Float = j == 3 ? 200 + 20 * 2 : j == 4 ? 200 + 20 * 5 : 200 + 20 * Float(j)   // borrowed from frames 2 and 5
            #expect(abs(c.x - truth) < 1, "frame \(j): centre \(c), subject at \(200 + 20 * Float(j))")
        }
        #expect(track.chosen[3] == nil && track.chosen[4] == nil)
        #expect(abs(track.coverage - 14.0 / 16) < 1e-6)
    }

    @Test func theMostConfidentFaceAnchorsTheTrack() {
        // Two people all along, far apart: the track is the one whose best detection is the clip's best.
        let detections = (0..<8).map { j in [face(100, 100, score: 0.95), face(500, 300, score: j == 4 ? 0.999 : 0.9)] }
        let track = trackSubject(detections, smooth: false)
        #expect(track.chosen == Array(repeating: 1, count: 8))
    }

    @Test func framesWithoutTheSubjectBorrowTheNearestAndNoFaceMeansNone() {
        let detections: [[DetectedFace]] = [[], [face(100, 100)], [], [], [face(110, 100)], []]
        let track = trackSubject(detections, smooth: false)
        #expect(track.chosen.map { $0 != nil } == [false, true, false, false, true, false])
        #expect(track.faces.map { centre($0)!.x } == [100, 100, 100, 110, 110, 110])
        #expect(trackSubject([[], []]).faces == [nil, nil])
        #expect(trackSubject([]).coverage == 0)
    }

    @Test func anImplausibleJumpIsNotTheSubject() {
        // A face three times as large, or far across the frame in one step, is someone else.
        let detections: [[DetectedFace]] = [[face(100, 100, score: 1)], [face(400, 100)], [face(100, 110, size: 240)], [face(104, 100)]]
        let track = trackSubject(detections, smooth: false)
        #expect(track.chosen.map { $0 != nil } == [true, false, false, true])
    }
}
