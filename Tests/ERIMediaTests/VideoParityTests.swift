import Foundation
import Testing
import ERICore
import ERIFeatures
@testable import ERIMedia
import ERITestSupport

/// A moving test pattern of any size (testsrc2 only makes even sizes, and
/// cropping a subsampled format rounds down, hence rgb24 before the crop).
func testPattern(width: Int, height: Int, rate: String = "25") -> String {
    "testsrc2=size=\(width + width % 2)x\(height + height % 2):rate=\(rate),format=rgb24,crop=\(width):\(height):0:0"
}

/// Decoded frames against the ffmpeg CLI's own decode (`-f rawvideo -pix_fmt rgb24`):
/// every frame via decodeAllFrames, and the SPEC §4.1 selection via decodeMedia.
@Suite struct VideoParityTests {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var width: Int
        var height: Int
        var encoder: [String]
        var fileExtension: String
        /// Largest mean absolute difference allowed, in grey levels.
        var tolerance: Double
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "H.264 4:4:4 97×61", width: 97, height: 61,
             encoder: ["-c:v", "libx264", "-pix_fmt", "yuv444p"], fileExtension: "mp4", tolerance: 1),
        Case(name: "H.264 4:2:0 96×64 with B-frames", width: 96, height: 64,
             encoder: ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "3"], fileExtension: "mp4", tolerance: 1),
        Case(name: "H.264 4:2:0 BT.709 full range", width: 64, height: 48,
             encoder: ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-color_range", "pc", "-colorspace", "bt709",
                       "-color_primaries", "bt709", "-color_trc", "bt709"], fileExtension: "mkv", tolerance: 1),
        Case(name: "MPEG-4 part 2 97×61 with B-frames", width: 97, height: 61,
             encoder: ["-c:v", "mpeg4", "-q:v", "3", "-bf", "2"], fileExtension: "avi", tolerance: 1),
        Case(name: "MJPEG 97×61", width: 97, height: 61,
             encoder: ["-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "3"], fileExtension: "mov", tolerance: 1),
        Case(name: "H.264 4:2:2 10-bit 98×62", width: 98, height: 62,
             encoder: ["-c:v", "libx264", "-pix_fmt", "yuv422p10le"], fileExtension: "mkv", tolerance: 1),
        Case(name: "VP9 4:2:0 96×64", width: 96, height: 64,
             encoder: ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p"],
             fileExtension: "webm", tolerance: 1),
        Case(name: "FFV1 bgr0 97×61 (lossless)", width: 97, height: 61,
             encoder: ["-c:v", "ffv1", "-pix_fmt", "bgr0"], fileExtension: "mkv", tolerance: 0),
        Case(name: "FFV1 yuv420p 97×61 (lossless)", width: 97, height: 61,
             encoder: ["-c:v", "ffv1", "-pix_fmt", "yuv420p"], fileExtension: "mkv", tolerance: 0),
    ]

    @Test(arguments: cases)
    func framesMatchTheCommandLine(_ c: Case) throws {
        let folder = TemporaryFolder()
        let file = folder.file("clip.\(c.fileExtension)")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: c.width, height: c.height), "-t", "1.6"] + c.encoder + [file])
        let oracle = try cliFrames(file, width: c.width, height: c.height, in: folder)
        #expect(oracle.count == 40)

        let all = try decodeAllFrames(path: file, maxFrames: 10_000)
        #expect(all.count == oracle.count)
        var worst = 0.0
        for (frame, expected) in zip(all, oracle) {
            #expect(frame.width == c.width && frame.height == c.height)
            #expect(frame.pixels.count == c.width * c.height * 3)
            worst = max(worst, meanAbsoluteDifference(frame.pixels, expected))
        }
        #expect(worst <= c.tolerance, "\(c.name): worst mean abs diff \(worst)")
        if ProcessInfo.processInfo.environment["ERI_MEDIA_TEST_VERBOSE"] != nil { print("WORST", c.name, worst) }
        #expect(all.map(\.index) == Array(0..<all.count))

        // SPEC §4.1: F = 6 of N = 40 → floor((j + 0.5)·40/6).
        let (frames, audio) = try decodeMedia(path: file, frames: 6, audioRate: 16000)
        #expect(audio == nil)
        #expect(frames.map(\.index) == [3, 10, 16, 23, 30, 36])
        for frame in frames {
            let difference = meanAbsoluteDifference(frame.pixels, oracle[frame.index])
            #expect(difference <= c.tolerance, "\(c.name) frame \(frame.index): mean abs diff \(difference)")
        }
        // The first frames of decodeAllFrames are the same frames.
        let first = try decodeAllFrames(path: file, maxFrames: 3)
        #expect(first == Array(all.prefix(3)))
    }

    /// Rotation metadata (a display matrix) turns the frames upright, as the
    /// CLI's default -autorotate does.
    @Test(arguments: [90, 180, 270])
    func rotationMetadataIsApplied(_ degrees: Int) throws {
        let folder = TemporaryFolder()
        let plain = folder.file("plain.mp4"), rotated = folder.file("rotated.mp4")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 64, height: 48), "-t", "0.4",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", plain])
        // ffmpeg 5.1 writes a display matrix for the rotate tag when stream-copying.
        try ffmpeg(["-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=\(degrees)", rotated])
        let sideways = degrees != 180
        let (width, height) = sideways ? (48, 64) : (64, 48)
        let oracle = try cliFrames(rotated, width: width, height: height, in: folder)
        let frames = try decodeAllFrames(path: rotated, maxFrames: 100)
        let unrotated = try decodeAllFrames(path: plain, maxFrames: 100)
        #expect(frames.count == oracle.count && frames.count == 10)
        for (frame, expected) in zip(frames, oracle) {
            #expect(frame.width == width && frame.height == height)
            let difference = meanAbsoluteDifference(frame.pixels, expected)
            #expect(difference <= 1, "rotate=\(degrees) frame \(frame.index): mean abs diff \(difference)")
            if ProcessInfo.processInfo.environment["ERI_MEDIA_TEST_VERBOSE"] != nil { print("ROT", degrees, difference) }
        }
        #expect(frames[0].pixels != unrotated[0].pixels)
        let probe = try probeMedia(path: rotated)
        #expect(probe.width == width && probe.height == height)
    }

    /// Variable frame rate: sampling is by decoded-frame index, whatever the timestamps.
    @Test func variableFrameRateIsSampledByIndex() throws {
        let folder = TemporaryFolder()
        let file = folder.file("vfr.mkv")
        // 30 frames: 10 at 25 fps, then 10 at 5 fps, then 10 at 8⅓ fps (the filter's time base is 1/25 s).
        let setpts = "setpts='if(lt(N,10),N*0.04,if(lt(N,20),0.4+(N-10)*0.2,2.4+(N-20)*0.12))/TB'"
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 97, height: 61), "-frames:v", "30", "-vf", setpts,
                    "-vsync", "vfr", "-c:v", "ffv1", "-pix_fmt", "bgr0", file])
        let oracle = try cliFrames(file, width: 97, height: 61, in: folder)
        #expect(oracle.count == 30)
        let (frames, _) = try decodeMedia(path: file, frames: 7, audioRate: nil)
        #expect(frames.map(\.index) == (0..<7).map { (2 * $0 + 1) * 30 / 14 })
        for frame in frames { #expect(frame.pixels == oracle[frame.index]) }
        let all = try decodeAllFrames(path: file, maxFrames: 100)
        let steps = zip(all.dropFirst(), all).map { ($0.timestamp! - $1.timestamp!) }
        #expect(abs(steps[0] - 0.04) < 0.002 && abs(steps[12] - 0.2) < 0.002 && abs(steps[25] - 0.12) < 0.002)
    }

    /// N < F: indices repeat (SPEC §4.1), and the repeated frames are equal.
    @Test func fewerFramesThanAskedRepeat() throws {
        let folder = TemporaryFolder()
        let file = folder.file("short.mkv")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 33, height: 17), "-frames:v", "3",
                    "-c:v", "ffv1", "-pix_fmt", "bgr0", file])
        let (frames, _) = try decodeMedia(path: file, frames: 8, audioRate: nil)
        #expect(frames.map(\.index) == [0, 0, 0, 1, 1, 2, 2, 2])
        #expect(frames[0] == frames[1] && frames[3] == frames[4])
        let single = try decodeMedia(path: file, frames: 1, audioRate: nil).frames
        #expect(single.map(\.index) == [1])
    }

    /// A transport stream cut in the middle of a GOP: its first packets
    /// decode to nothing, so the packet count (first pass) is not the frame
    /// count, and the frames are decoded again at the right indices.
    @Test func packetCountThatIsNotTheFrameCount() throws {
        let folder = TemporaryFolder()
        let full = folder.file("full.ts"), cut = folder.file("cut.ts")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 96, height: 64), "-t", "4",
                    "-c:v", "libx264", "-g", "25", "-bf", "2", "-pix_fmt", "yuv420p", full])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
        try bytes.suffix(from: bytes.count / 188 / 3 * 188).write(to: URL(fileURLWithPath: cut))   // whole TS packets
        let oracle = try cliFrames(cut, width: 96, height: 64, in: folder)
        let packets = try Demuxer(path: cut).countPackets(of: try #require(Demuxer(path: cut).bestVideoStream()))
        #expect(packets > oracle.count, "\(packets) packets, \(oracle.count) frames: the test needs more packets than frames")

        let (frames, _) = try decodeMedia(path: cut, frames: 8, audioRate: nil)
        #expect(frames.map(\.index) == frameIndices(available: oracle.count, frames: 8))
        for frame in frames {
            #expect(meanAbsoluteDifference(frame.pixels, oracle[frame.index]) <= 1)
        }
        // Streamed: positions whose first frame was wrong come again; the last delivery is right.
        var slots = [Int](repeating: -1, count: 8), deliveries = 0
        _ = try decodeMedia(path: cut, frames: 8, audioRate: nil) { frame, positions in
            deliveries += 1
            for j in positions { slots[j] = frame.index }
        }
        #expect(slots == frames.map(\.index))
        #expect(deliveries > 8)
        #expect(try decodeAllFrames(path: cut, maxFrames: 1000).count == oracle.count)
    }
}
