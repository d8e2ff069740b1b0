import Foundation
import Testing
import ERICore
@testable import ERIFeatures
import ERITestSupport

/// NV12, I420 and YUYV frames against FFmpeg's own conversion: ffmpeg turns an
/// RGB picture into each YUV layout, then back into RGB24 with swscale (its
/// BT.601 limited-range default, as liberi reads untagged YUV; `neighbor`
/// chroma, as liberi takes each pixel's own chroma sample, where FFmpeg's
/// default would interpolate NV12's and not I420's). liberi's reading of the
/// YUV bytes must give the same RGB within swscale's fixed-point rounding
/// (≤ 3 levels; a BT.709 or full-range matrix is off by 10–40 levels on the
/// saturated colours here), and the same model input as that RGB24 frame.
@Suite struct YUVTests {
    static let width = 96, height = 70  // odd chroma rows: the last chroma row covers one luma row

    /// A picture with edges, gradients and saturated colours (noise would only test chroma subsampling).
    static func picture() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                bytes[i] = UInt8((x * 255) / (width - 1))
                bytes[i + 1] = UInt8((y * 255) / (height - 1))
                bytes[i + 2] = (x / 12 + y / 10) % 2 == 0 ? 230 : 20
                if x > 60 && y > 40 { bytes[i] = 255; bytes[i + 1] = 0; bytes[i + 2] = 0 }  // a saturated block
            }
        }
        return bytes
    }

    /// `pix_fmt` bytes of the picture and FFmpeg's RGB24 of those bytes.
    static func convert(_ pixFmt: String, folder: TemporaryFolder) throws -> (yuv: [UInt8], rgb: [UInt8]) {
        let size = "\(width)x\(height)"
        try Data(picture()).write(to: URL(fileURLWithPath: folder.file("in.rgb")))
        try ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-i", folder.file("in.rgb"),
                    "-f", "rawvideo", "-pix_fmt", pixFmt, folder.file("out.\(pixFmt)")])
        try ffmpeg(["-f", "rawvideo", "-pix_fmt", pixFmt, "-s", size, "-i", folder.file("out.\(pixFmt)"),
                    "-vf", "scale=flags=neighbor+accurate_rnd", "-f", "rawvideo", "-pix_fmt", "rgb24", folder.file("back.\(pixFmt).rgb")])
        return ([UInt8](try Data(contentsOf: URL(fileURLWithPath: folder.file("out.\(pixFmt)")))),
                [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder.file("back.\(pixFmt).rgb")))))
    }

    @Test(arguments: [PixelFormat.nv12, .i420, .yuyv])
    func readsAsFFmpegConverts(_ format: PixelFormat) throws {
        let folder = TemporaryFolder("eri-yuv")
        let name = ["nv12": "nv12", "i420": "yuv420p", "yuyv": "yuyv422"]["\(format)"]!
        let (yuv, rgb) = try Self.convert(name, folder: folder)
        let w = Self.width, h = Self.height
        let expectedBytes = format == .yuyv ? w * h * 2 : w * h + 2 * ((w + 1) / 2) * ((h + 1) / 2)
        #expect(yuv.count == expectedBytes)
        try yuv.withUnsafeBytes { raw in
            try rgb.withUnsafeBytes { rgbRaw in
                let view = try ImageView(data: raw.baseAddress!, width: w, height: h, stride: w * format.bytesPerPixel, format: format)
                let ours = view.rgbFloats()
                let theirs = rgb.map(Float.init)
                let diffs = zip(ours, theirs).map { abs($0 - $1) }
                let mean = diffs.reduce(0, +) / Float(diffs.count)
                print("  \(name): max |liberi − ffmpeg| \(diffs.max()!) levels, mean \(mean)")
                #expect(diffs.max()! <= 3, "\(name): max diff \(diffs.max()!) levels")
                #expect(mean <= 1.5, "\(name): mean diff \(mean) levels")
                // The model input from the YUV frame and from FFmpeg's RGB24 of it: the same within those levels.
                for video in [ERIConfig.tiny.video!, ERIConfig.small.video!] {
                    let box = FaceBox(x: 10, y: 5, w: 60, h: 50)
                    let rgbView = try ImageView(data: rgbRaw.baseAddress!, width: w, height: h, stride: w * 3, format: .rgb24, box: box)
                    let n = video.channels * video.imageSize * video.imageSize
                    var a = [Float](repeating: 0, count: n), b = a
                    try a.withUnsafeMutableBufferPointer { try preprocessFrame(view.with(box: box), config: video, into: $0) }
                    try b.withUnsafeMutableBufferPointer { try preprocessFrame(rgbView, config: video, into: $0) }
                    check("\(name) → \(video.color) \(video.imageSize) px", a, b, tolerance: 3 / (255 * video.std[0]))
                }
            }
        }
    }

    @Test func planesMayLieAnywhere() throws {
        // NV12 with a padded stride and the UV plane elsewhere gives what the contiguous layout gives.
        let folder = TemporaryFolder("eri-yuv-planes")
        let (yuv, _) = try Self.convert("nv12", folder: folder)
        let w = Self.width, h = Self.height, stride = w + 32, chromaStride = w + 16
        var luma = [UInt8](repeating: 7, count: stride * h)
        var chroma = [UInt8](repeating: 9, count: chromaStride * ((h + 1) / 2))
        for y in 0..<h { for x in 0..<w { luma[y * stride + x] = yuv[y * w + x] } }
        for y in 0..<((h + 1) / 2) { for x in 0..<w { chroma[y * chromaStride + x] = yuv[w * h + y * w + x] } }
        try yuv.withUnsafeBytes { contiguous in
            try luma.withUnsafeBytes { l in
                try chroma.withUnsafeBytes { c in
                    let a = try ImageView(data: contiguous.baseAddress!, width: w, height: h, stride: w, format: .nv12).rgbFloats()
                    let b = try ImageView(data: l.baseAddress!, width: w, height: h, stride: stride, format: .nv12,
                                          chroma: c.baseAddress!, chromaStride: chromaStride).rgbFloats()
                    #expect(a == b)
                }
            }
        }
    }

    @Test func badLayoutsAreRefused() throws {
        let bytes = [UInt8](repeating: 128, count: 64 * 64 * 2)
        try bytes.withUnsafeBytes { raw in
            let p = raw.baseAddress!
            #expect(throws: ERIError.self) { _ = try ImageView(data: p, width: 7, height: 4, stride: 14, format: .yuyv) }   // odd width
            #expect(throws: ERIError.self) { _ = try ImageView(data: p, width: 8, height: 4, stride: 8, format: .yuyv) }    // stride < 2·width
            #expect(throws: ERIError.self) { _ = try ImageView(data: p, width: 8, height: 4, stride: 8, format: .nv12, chromaStride: 3) }
            #expect(throws: ERIError.self) { _ = try ImageView(data: p, width: 8, height: 4, stride: 8, format: .i420, chromaStride: 3) }
            #expect(throws: Never.self) { _ = try ImageView(data: p, width: 8, height: 4, stride: 8, format: .i420) }
        }
    }
}
