import Foundation
import Testing
import ERICore
import ERIFaces
@testable import ERIPipeline
import ERIFeatures
@testable import ERIModel
import ERITestSupport

/// The stream's face stage on a real photograph: a 200 × 200 view panning over
/// scikit-image's astronaut, frames without boxes, the face found by the stream.
@Suite struct StreamFaceTests {
    /// MTCNN's weights: $ERI_FACE_MODEL, else what `make models` writes. Missing weights fail the test.
    static func faceWeights() throws -> String {
        let path = ProcessInfo.processInfo.environment["ERI_FACE_MODEL"] ?? Oracle.repository + "/.build/models/face-mtcnn.safetensors"
        guard FileManager.default.fileExists(atPath: path) else { throw OracleError("no face detector weights at \(path): run `make models`") }
        return path
    }

    /// The astronaut (512 × 512 RGB24), written by scikit-image in the venv.
    static let photograph: [UInt8] = {
        let file = Oracle.scratch + "/astronaut.rgb"
        if !FileManager.default.fileExists(atPath: file) {
            let r = try? Command.run(Oracle.python, ["-c", "import sys, skimage.data as d; d.astronaut().tofile(sys.argv[1])", file])
            precondition(r?.succeeded == true, "scikit-image's astronaut: \(r?.standardError ?? "no Python (make venv)")")
        }
        return [UInt8](FileManager.default.contents(atPath: file)!)
    }()

    static let side = 200

    /// Frame i: the 200 × 200 view at (120 + i, 30 + i / 2), the face (about 90 px) moving across it.
    static func frame(_ i: Int) -> [UInt8] {
        let x0 = 120 + i % 60, y0 = 30 + (i / 2) % 30
        var out = [UInt8](repeating: 0, count: side * side * 3)
        for y in 0..<side { for x in 0..<(side * 3) { out[y * side * 3 + x] = photograph[((y0 + y) * 512 + x0) * 3 + x] } }
        return out
    }

    @Test(arguments: [1, 5])
    func readsEqualPredictOnThePlacementsTheyReport(redetectEvery: Int) throws {
        let model = try Model(file: ModelFile.randomlyInitialised(config: ERIConfig.tiny, seed: 73), faceModel: try Self.faceWeights())
        let stream = try ModelStream(model: model, options: StreamOptions(window: 4, faces: .detect, redetectEvery: redetectEvery))
        var frames: [Double: [UInt8]] = [:]
        var reads = 0
        for i in 0..<150 {   // 6 s at 25 fps, a read every half second
            let t = Double(i) / 25
            let pixels = Self.frame(i)
            frames[t] = pixels
            try pixels.withUnsafeBufferPointer {
                try stream.pushFrame(ImageView(data: $0.baseAddress!, width: Self.side, height: Self.side, stride: Self.side * 3, format: .rgb24), timestamp: t)
            }
            guard i % 12 == 11, i > 50 else { continue }
            let e = try stream.read()
            reads += 1
            #expect(e.faceCoverage == 1, "every frame used has the face (coverage \(e.faceCoverage ?? -1))")
            #expect(e.facePlacements.count == e.frameTimestamps.count)
            // Each placement is a box around the face (the astronaut's face is at about x 180…270, y 60…170 in the photograph).
            for (ts, p) in zip(e.frameTimestamps, e.facePlacements) {
                guard case .box(let b) = p else { Issue.record("frame at \(ts) s: placement \(p), not a box"); continue }
                let i = Int((ts * 25).rounded()), x0 = Float(120 + i % 60), y0 = Float(30 + (i / 2) % 30)
                let cx = b.x + b.w / 2 + x0, cy = b.y + b.h / 2 + y0
                #expect(abs(cx - 225) < 20 && abs(cy - 115) < 25 && b.w > 60 && b.w < 130, "frame at \(ts) s: box \(b)")
            }
            // predict on those frames with those boxes and no search gives the same numbers.
            let frameBytes = Self.side * Self.side * 3
            let stacked: [UInt8] = e.frameTimestamps.flatMap { frames[$0]! }
            let expected: [Float] = try stacked.withUnsafeBufferPointer { all in
                let views = try e.facePlacements.enumerated().map { j, p -> ImageView in
                    guard case .box(let b) = p else { throw ERIError.invalidArgument("not a box") }
                    return try ImageView(data: all.baseAddress! + j * frameBytes, width: Self.side, height: Self.side,
                                         stride: Self.side * 3, format: .rgb24, box: b)
                }
                return try model.prediction(frames: views, audio: nil, options: PredictOptions(faces: .none)).intensities
            }
            check("read at \(e.windowEnd) s vs predict on its placements", e.intensities, expected, tolerance: 1e-5)
        }
        #expect(reads == 8)
    }
}
