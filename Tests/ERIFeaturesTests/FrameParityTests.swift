import Foundation
import Testing
import ERICore
import ERIFeatures
import ERITestSupport

@Suite struct FrameParityTests {
    struct Geometry {
        var name: String
        var width: Int
        var height: Int
        var rowPadding = 0
        var box: FaceBox?
    }

    /// The shapes of the brief; `side` is the model's S (the "equal to S" case).
    static func geometries(side: Int) -> [Geometry] {
        [
            Geometry(name: "larger, no box", width: 200, height: 150),
            Geometry(name: "smaller, no box", width: 30, height: 20),
            Geometry(name: "equal to S, no box", width: side, height: side),
            Geometry(name: "odd scale, no box", width: 113, height: 97),
            Geometry(name: "box inside, non-square", width: 160, height: 120, box: FaceBox(x: 40.5, y: 30.25, w: 50, h: 60)),
            Geometry(name: "box past left/top", width: 100, height: 80, box: FaceBox(x: -20.5, y: -10, w: 60, h: 45)),
            Geometry(name: "box past right/bottom", width: 100, height: 80, box: FaceBox(x: 70, y: 50, w: 48.5, h: 40)),
            Geometry(name: "padded stride, box", width: 64, height: 48, rowPadding: 13, box: FaceBox(x: 10.25, y: 3.5, w: 21, h: 10.5)),
            // cx − side/2 = −2.5 and 0.5: half away from zero gives −3 and 1 (banker's: −2 and 0).
            Geometry(name: "box rounding halves", width: 40, height: 30, box: FaceBox(x: -2.5, y: 0.5, w: 5, h: 4)),
            Geometry(name: "box mostly outside the image", width: 50, height: 40, box: FaceBox(x: 45, y: -18, w: 20, h: 20)),
            Geometry(name: "box equal to S", width: 130, height: 90, box: FaceBox(x: 7, y: 11, w: Float(side), h: Float(side - 9))),
            Geometry(name: "one pixel", width: 1, height: 1),
        ]
    }

    /// An rgb model with per-channel statistics, and a gray one (SPEC §4.1 steps 4–5).
    static func videoConfigs() -> [ERIConfig.Video] {
        var rgb = ERIConfig.base.video!
        rgb.mean = [0.485, 0.456, 0.406]
        rgb.std = [0.229, 0.224, 0.225]
        var gray = ERIConfig.tiny.video!
        gray.mean = [0.45]
        gray.std = [0.27]
        return [rgb, gray]
    }

    static func formatName(_ f: PixelFormat) -> String {
        switch f {
        case .rgb24: return "rgb24"
        case .bgr24: return "bgr24"
        case .rgba32: return "rgba32"
        case .bgra32: return "bgra32"
        case .gray8: return "gray8"
        case .nv12: return "nv12"
        case .i420: return "yuv420p"
        case .yuyv: return "yuyv422"
        }
    }

    @Test func framesMatchPyTorch() throws {
        let folder = TemporaryFolder("eri-features-frames")
        struct Pending { var name: String; var bytes: [UInt8]; var image: Geometry; var format: PixelFormat; var stride: Int; var video: ERIConfig.Video; var output: String }
        var pending: [Pending] = []
        var manifest: [[String: Any]] = []
        var random = TestRandom(seed: 7)
        for video in Self.videoConfigs() {
            for geometry in Self.geometries(side: video.imageSize) {
                for format in PixelFormat.allCases where !format.isYUV {  // YUV: YUVTests, against FFmpeg
                    let stride = geometry.width * format.bytesPerPixel + geometry.rowPadding
                    let bytes = (0..<(stride * geometry.height)).map { _ in random.byte() }
                    let i = pending.count
                    let input = folder.file("\(i).u8"), output = folder.file("\(i).f32")
                    try Data(bytes).write(to: URL(fileURLWithPath: input))
                    let name = "\(video.color.rawValue) S=\(video.imageSize) \(Self.formatName(format)) \(geometry.width)×\(geometry.height) \(geometry.name)"
                    pending.append(Pending(name: name, bytes: bytes, image: geometry, format: format, stride: stride, video: video, output: output))
                    // Float → Double is exact, so the oracle sees the very box values we use.
                    let box: Any = geometry.box.map { [Double($0.x), Double($0.y), Double($0.w), Double($0.h)] } ?? NSNull()
                    manifest.append(["input": input, "output": output, "width": geometry.width, "height": geometry.height,
                                     "stride": stride, "format": Self.formatName(format), "box": box,
                                     "video": ["image_size": video.imageSize, "color": video.color.rawValue,
                                               "mean": video.mean.map(Double.init), "std": video.std.map(Double.init)]])
                }
            }
        }
        try writeJSON(manifest, to: folder.file("manifest.json"))
        try Oracle.run("dump_frames.py", [folder.file("manifest.json")])
        var worst: Float = 0
        for c in pending {
            if FileManager.default.fileExists(atPath: c.output + ".error") {
                Issue.record("\(c.name): the reference failed: \((try? String(contentsOfFile: c.output + ".error", encoding: .utf8)) ?? "")")
                continue
            }
            let want = try readFloats(c.output)
            let size = c.video.channels * c.video.imageSize * c.video.imageSize
            var got = [Float](repeating: .nan, count: size)
            try c.bytes.withUnsafeBytes { raw in
                let view = try ImageView(data: raw.baseAddress!, width: c.image.width, height: c.image.height,
                                     stride: c.stride, format: c.format, box: c.image.box)
                try got.withUnsafeMutableBufferPointer { try preprocessFrame(view, config: c.video, into: $0) }
            }
            worst = max(worst, check(c.name, got, want, tolerance: 1e-5))
        }
        print("frames: \(pending.count) cases, worst max|diff| = \(worst)")
    }

    /// A clip samples frames by SPEC §4.1 step 1 and preprocesses each one.
    @Test func clipStacksSampledFrames() throws {
        var video = ERIConfig.tiny.video!
        video.frames = 5
        var random = TestRandom(seed: 9)
        let images: [[UInt8]] = (0..<3).map { _ in (0..<(20 * 16 * 3)).map { _ in random.byte() } }
        let pointers = images.map { bytes -> UnsafeMutableRawPointer in
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 1)
            p.copyMemory(from: bytes, byteCount: bytes.count)
            return p
        }
        defer { pointers.forEach { $0.deallocate() } }
        let views = try pointers.map { try ImageView(data: UnsafeRawPointer($0), width: 20, height: 16, stride: 60, format: .rgb24) }
        let clip = try preprocessClip(views, config: video)
        #expect(clip.shape == [5, 1, 48, 48])
        let per = 48 * 48
        for (j, index) in frameIndices(available: 3, frames: 5).enumerated() {
            var single = [Float](repeating: 0, count: per)
            try single.withUnsafeMutableBufferPointer { try preprocessFrame(views[index], config: video, into: $0) }
            #expect(Array(clip.data[(j * per)..<((j + 1) * per)]) == single, "clip frame \(j) is image \(index)")
        }
    }
}
