import Foundation
import Testing
import ERICore
@testable import ERIMedia
import ERITestSupport

/// Damaged and hostile inputs: each is an .io, .format or .decode error whose
/// message names the file, returned within a time bound — never a crash or a hang.
@Suite struct HostileFileTests {
    /// A small valid MP4 with video and audio; `faststart` puts the index first.
    static func makeMP4(_ path: String, faststart: Bool, seconds: String = "2") throws {   // or .mkv
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 96, height: 64), "-f", "lavfi",
                    "-i", "sine=frequency=440:sample_rate=44100", "-t", seconds, "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest"] + (faststart ? ["-movflags", "+faststart"] : []) + [path])
    }

    /// `makeMP4`'s file as `.<ext>`, cut to its first 60 %; returns the cut file.
    static func truncated(_ ext: String, faststart: Bool, in folder: TemporaryFolder) throws -> String {
        let good = folder.file("good." + ext), bad = folder.file("truncated." + ext)
        try makeMP4(good, faststart: faststart)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        try bytes.prefix(bytes.count * 6 / 10).write(to: URL(fileURLWithPath: bad))
        return bad
    }

    /// Expects every entry point to fail on `path` with one of `codes`, naming the file.
    static func expectFailure(_ path: String, _ codes: Set<ERIError.Code>, probeToo: Bool = false,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        var calls: [(String, @Sendable () throws -> Void)] = [
            ("decodeMedia", { _ = try decodeMedia(path: path, frames: 8, audioRate: 16000) }),
            ("decodeMedia video", { _ = try decodeMedia(path: path, frames: 4, audioRate: nil) }),
            ("decodeMedia audio", { _ = try decodeMedia(path: path, frames: nil, audioRate: 16000) }),
        ]
        if probeToo { calls.append(("probeMedia", { _ = try probeMedia(path: path) })) }
        for (name, call) in calls {
            guard let error = expectMediaError(20, sourceLocation: sourceLocation, call) else { continue }
            #expect(codes.contains(error.code), "\(name): \(error.code) \(error.message)", sourceLocation: sourceLocation)
            #expect(error.message.contains(path), "\(name): \(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func truncatedMP4WithIndexAtTheEnd() throws {
        let folder = TemporaryFolder()
        Self.expectFailure(try Self.truncated("mp4", faststart: false, in: folder), [.format], probeToo: true)   // no moov atom
    }

    @Test func truncatedMP4WithIndexAtTheStart() throws {
        let folder = TemporaryFolder()
        let bad = try Self.truncated("mp4", faststart: true, in: folder)
        Self.expectFailure(bad, [.decode])   // the index points past the end
        let error = expectMediaError { _ = try decodeAllFrames(path: bad, maxFrames: 1000) }
        #expect(error?.code == .decode)
    }

    /// A Matroska file cut short: the demuxer only logs it ("File ended prematurely").
    @Test func truncatedMatroska() throws {
        let folder = TemporaryFolder()
        Self.expectFailure(try Self.truncated("mkv", faststart: false, in: folder), [.decode])
    }

    @Test func randomBytesNamedMP4() throws {
        let folder = TemporaryFolder()
        let path = folder.file("random.mp4")
        var generator = TestRandom(seed: 42)
        try Data((0..<65536).map { _ in UInt8(truncatingIfNeeded: generator.next()) }).write(to: URL(fileURLWithPath: path))
        Self.expectFailure(path, [.format, .decode])
    }

    @Test func zeroByteFile() throws {
        let folder = TemporaryFolder()
        let path = folder.file("empty.mp4")
        try Data().write(to: URL(fileURLWithPath: path))
        Self.expectFailure(path, [.format], probeToo: true)
        #expect(expectMediaError { _ = try decodeAllFrames(path: path, maxFrames: 4) }?.code == .format)
    }

    /// Bytes overwritten in the middle of the mdat box: the decoder reports
    /// errors (or conceals them), which liberi refuses.
    @Test func corruptedVideoStream() throws {
        let folder = TemporaryFolder()
        let good = folder.file("good.mp4"), bad = folder.file("corrupt.mp4")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 96, height: 64), "-t", "2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", good])
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        let mdat = try #require(findBox("mdat", in: bytes))
        var generator = TestRandom(seed: 7)
        let middle = mdat.lowerBound + mdat.count / 2
        for i in middle..<middle + min(4096, mdat.count / 4) { bytes[i] = UInt8(truncatingIfNeeded: generator.next()) }
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        for call: @Sendable () throws -> Void in [{ _ = try decodeMedia(path: bad, frames: 8, audioRate: nil) },
                                                  { _ = try decodeAllFrames(path: bad, maxFrames: 1000) }] {
            let error = expectMediaError(20, call)
            #expect(error?.code == .decode, "\(error?.message ?? "")")
            #expect(error?.message.contains(bad) == true)
        }
    }

    /// A YUV4MPEG header claiming 0×0: FFmpeg refuses it at open.
    @Test func zeroByZeroVideoHeader() throws {
        let folder = TemporaryFolder()
        let path = folder.file("zero.y4m")
        var bytes = Array("YUV4MPEG2 W0 H0 F25:1 Ip A1:1 C420jpeg\nFRAME\n".utf8)
        bytes += [UInt8](repeating: 128, count: 1024)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        Self.expectFailure(path, [.format, .decode], probeToo: true)
    }

    /// A QuickTime rawvideo track whose sample description says 0×0 (the
    /// fields of a valid file overwritten): the decoder cannot open.
    @Test func zeroByZeroMovSampleDescription() throws {
        let folder = TemporaryFolder()
        let good = folder.file("raw.mov"), bad = folder.file("zero.mov")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 32, height: 16), "-frames:v", "3",
                    "-c:v", "rawvideo", "-pix_fmt", "rgb24", good])
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        // The visual sample entry ("raw "): width and height are 16-bit fields 32 bytes into it.
        let stsd = try #require(findBox("stsd", in: bytes))
        let entry = try #require(findBytes(Array("raw ".utf8), in: bytes, after: stsd.lowerBound))
        #expect(bytes[entry + 28] == 0 && bytes[entry + 29] == 32 && bytes[entry + 30] == 0 && bytes[entry + 31] == 16)
        for i in entry + 28..<entry + 32 { bytes[i] = 0 }
        if let tkhd = findBox("tkhd", in: bytes) {
            for i in tkhd.upperBound - 8..<tkhd.upperBound { bytes[i] = 0 }   // its width and height (16.16)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        for call: @Sendable () throws -> Void in [{ _ = try decodeMedia(path: bad, frames: 2, audioRate: nil) },
                                                  { _ = try decodeAllFrames(path: bad, maxFrames: 10) }] {
            let error = expectMediaError(20, call)
            #expect(error.map { [ERIError.Code.format, .decode].contains($0.code) } == true, "\(error?.message ?? "")")
            #expect(error?.message.contains(bad) == true)
        }
    }

    /// A YUV4MPEG header claiming 100000×1, with the frames to match: beyond
    /// the supported size, a .format error before anything is converted.
    @Test func hundredThousandByOneVideoHeader() throws {
        let folder = TemporaryFolder()
        let path = folder.file("wide.y4m")
        var bytes = Array("YUV4MPEG2 W100000 H1 F25:1 Ip A1:1 C420jpeg\n".utf8)
        for _ in 0..<2 { bytes += Array("FRAME\n".utf8) + [UInt8](repeating: 100, count: 200_000) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = expectMediaError { _ = try decodeMedia(path: path, frames: 2, audioRate: nil) }
        #expect(error?.code == .format, "\(error?.message ?? "")")
        #expect(error?.message.contains(path) == true && error?.message.contains("100000×1") == true)
        #expect(expectMediaError { _ = try decodeAllFrames(path: path, maxFrames: 2) }?.code == .format)
    }

    /// A WAV header with no data.
    @Test func audioFileWithNoSamples() throws {
        let folder = TemporaryFolder()
        let path = folder.file("silence.wav")
        try Data(waveHeader(channels: 1, rate: 16000, dataBytes: 0)).write(to: URL(fileURLWithPath: path))
        Self.expectFailure(path, [.decode, .format])
        let error = expectMediaError { _ = try decodeMedia(path: path, frames: nil, audioRate: 16000) }
        #expect(error?.code == .decode && error?.message == "\(path): decoded no audio sample")
        // The probe reads the header fine: an audio file, no video.
        let probe = try probeMedia(path: path)
        #expect(!probe.hasVideo && probe.hasAudio)
    }

    @Test func directory() throws {
        let folder = TemporaryFolder()
        Self.expectFailure(folder.path, [.io], probeToo: true)
        let error = expectMediaError { _ = try decodeMedia(path: folder.path, frames: 1, audioRate: nil) }
        #expect(error?.message == "\(folder.path): is a directory")
    }

    @Test func missingPath() throws {
        let folder = TemporaryFolder()
        let path = folder.file("nothing-here.mp4")
        Self.expectFailure(path, [.io], probeToo: true)
        #expect(expectMediaError { _ = try probeMedia(path: path) }?.message == "\(path): no such file")
    }

    /// A file its reader may not read. Root reads anything, so as root the
    /// check runs in a child process that becomes nobody (65534) first.
    @Test func unreadableFile() throws {
        let folder = TemporaryFolder()
        let path = folder.file("secret.mp4")
        try Self.makeMP4(path, faststart: true, seconds: "0.5")
        #expect(chmod(folder.path, 0o755) == 0 && chmod(path, 0) == 0)
        if geteuid() != 0 {
            Self.expectFailure(path, [.io], probeToo: true)
            return
        }
        let result = try #require(try ChildProcess.run("unreadable", path))
        #expect(result == "\(ERIError.Code.io.rawValue) \(path): permission denied")
    }

    @Test func badArguments() throws {
        let folder = TemporaryFolder()
        let path = folder.file("clip.mkv")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 16, height: 16), "-frames:v", "2", "-c:v", "ffv1", path])
        #expect(expectMediaError { _ = try decodeMedia(path: path, frames: 0, audioRate: nil) }?.code == .invalidArgument)
        #expect(expectMediaError { _ = try decodeMedia(path: path, frames: 2, audioRate: 0) }?.code == .invalidArgument)
        #expect(expectMediaError { _ = try decodeMedia(path: path, frames: nil, audioRate: nil) }?.code == .invalidArgument)
        #expect(expectMediaError { _ = try decodeAllFrames(path: path, maxFrames: 0) }?.code == .invalidArgument)
        #expect(expectMediaError { _ = try decodeMedia(path: "", frames: 2, audioRate: nil) }?.code == .invalidArgument)
    }
}

/// A 44-byte canonical WAV header for 16-bit PCM.
func waveHeader(channels: Int, rate: Int, dataBytes: Int) -> [UInt8] {
    func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    func le16(_ v: Int) -> [UInt8] { (0..<2).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    return Array("RIFF".utf8) + le32(36 + dataBytes) + Array("WAVEfmt ".utf8) + le32(16) + le16(1) + le16(channels)
        + le32(rate) + le32(rate * channels * 2) + le16(channels * 2) + le16(16) + Array("data".utf8) + le32(dataBytes)
}

/// The payload range of the first box named `name` (searched for as bytes).
func findBox(_ name: String, in bytes: [UInt8]) -> Range<Int>? {
    guard let at = findBytes(Array(name.utf8), in: bytes, after: 4) else { return nil }
    let size = bytes[at - 4..<at].reduce(0) { $0 << 8 | Int($1) }
    guard size >= 8, at - 4 + size <= bytes.count else { return nil }
    return at + 4..<at - 4 + size
}

func findBytes(_ needle: [UInt8], in bytes: [UInt8], after start: Int) -> Int? {
    guard bytes.count >= needle.count else { return nil }
    var i = start
    while i + needle.count <= bytes.count {
        if bytes[i] == needle[0] && Array(bytes[i..<i + needle.count]) == needle { return i }
        i += 1
    }
    return nil
}
