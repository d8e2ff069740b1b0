import Foundation
import Testing
import ERICore
import ERIFaces
import ERIFeatures
import ERITestSupport

/// SPEC §4.1a "aligned" against reference/aligned_faces.py (numpy, written from the SPEC): real
/// photographs (the astronaut; her face cut by the frame's edge; rolled 25°), the landmarks
/// facenet-pytorch's own MTCNN gives, and the faces of the dbn-base, dbn-small and dbn-tiny
/// configs (112 px rgb, 64 px rgb, 48 px gray).
@Suite struct AlignedParityTests {
    @Test func alignedFacesMatchTheReference() throws {
        let folder = try Oracle.cachedCase("aligned_faces.py", [])
        let json = try JSONValue.parse(String(contentsOfFile: folder + "/cases.json", encoding: .utf8))
        let cases = try #require(json["cases"]?.arrayValue)
        #expect(cases.count == 3)
        let template = try #require(json["template_112"]?.arrayValue).map { $0.arrayValue!.map { $0.numberValue! } }
        for (t, s) in zip(template, alignmentTemplate(size: 112)) { #expect(t[0] == s.0 && t[1] == s.1) }
        var outputs = 0
        for c in cases {
            let name = try #require(c["name"]?.stringValue)
            let width = Int(try #require(c["width"]?.numberValue)), height = Int(try #require(c["height"]?.numberValue))
            let pixels = try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder + "/" + (c["image"]?.stringValue ?? ""))))
            #expect(pixels.count == width * height * 3)
            // The oracle's landmarks are facenet-pytorch's float32 numbers, written exactly.
            let points = try #require(c["landmarks"]?.arrayValue).map { p -> SIMD2<Float> in
                let xy = p.arrayValue!.map { Float($0.numberValue!) }
                return SIMD2(xy[0], xy[1])
            }
            #expect(points.count == 5)
            for o in try #require(c["outputs"]?.arrayValue) {
                let presetName = try #require(o["preset"]?.stringValue)
                var v = try #require(ERIConfig.preset(named: presetName)?.video)
                v.face = .aligned
                #expect(Double(v.imageSize) == o["image_size"]?.numberValue && v.color.rawValue == o["color"]?.stringValue)
                // The similarity: liberi's closed form against the reference's SVD (Umeyama's own construction).
                let fit = try #require(Similarity.fitting(points.map { (Double($0.x), Double($0.y)) }, onto: alignmentTemplate(size: v.imageSize)))
                let m = try #require(o["transform"]?.arrayValue).map { $0.arrayValue!.map { $0.numberValue! } }
                let pairs: [(Double, Double)] = [(fit.a, m[0][0]), (-fit.b, m[0][1]), (fit.tx, m[0][2]), (fit.b, m[1][0]), (fit.a, m[1][1]), (fit.ty, m[1][2])]
                for (got, want) in pairs {
                    #expect(abs(got - want) <= 1e-9 * max(1, abs(want)), "\(name) \(presetName): transform \(got) vs \(want)")
                }
                // The face: ImageView.preprocess(.aligned) as the pipeline calls it.
                let want = try readFloats(folder + "/" + (o["file"]?.stringValue ?? ""))
                var got = [Float](repeating: .nan, count: v.channels * v.imageSize * v.imageSize)
                #expect(want.count == got.count)
                try pixels.withUnsafeBytes { raw in
                    let view = try ImageView(data: raw.baseAddress!, width: width, height: height, stride: 3 * width, format: .rgb24)
                    try got.withUnsafeMutableBufferPointer { try view.preprocess(.aligned(landmarks: points), config: v, into: $0) }
                }
                check("aligned \(name) \(presetName)", got, want, tolerance: 1e-4)
                outputs += 1
            }
        }
        #expect(outputs == 9)
    }
}
