import Foundation
import Testing
import ERICore
import ERIFeatures
@testable import ERIFaces

@Suite struct QuickFaceTests {
    @Test func astronaut() throws {
        let weights = ProcessInfo.processInfo.environment["ERI_FACE_MODEL"] ?? "/tmp/face-mtcnn.safetensors"
        let detector = try FaceDetector(weights: weights)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/tmp/skd/astronaut.rgb")))
        let faces = try bytes.withUnsafeBytes { raw in
            detector.detect(try ImageView(data: raw.baseAddress!, width: 512, height: 512, stride: 512 * 3, format: .rgb24))
        }
        for f in faces { print("face", f.x1, f.y1, f.x2, f.y2, f.score, f.landmarks) }
    }
}
