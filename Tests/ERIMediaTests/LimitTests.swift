import Foundation
import Testing
import ERICore
@testable import ERIMedia
import ERITestSupport

/// Issue 15 in the media layer: audio decoded for a prediction is mixed to mono as it is decoded
/// (the same floats as mixing afterwards), files whose rate or length is out of bounds are refused
/// before they are decoded, and decoded samples get the check PCM in memory gets.
@Suite struct MediaLimitTests {
    /// Writes a RIFF/WAVE file: 16-bit ints (`ints`) or 32-bit floats (`floats`), `declaredRate` in the header.
    static func wav(_ path: String, rate: Int, channels: Int, ints: [Int16] = [], floats: [Float] = []) {
        var data = Data()
        let float = !floats.isEmpty
        if float { floats.withUnsafeBytes { data.append(contentsOf: $0) } } else { ints.withUnsafeBytes { data.append(contentsOf: $0) } }
        let bits = float ? 32 : 16, block = channels * bits / 8
        func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: v) >> (8 * UInt32($0))) } }
        func u16(_ v: Int) -> [UInt8] { (0..<2).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        let fmt = u16(float ? 3 : 1) + u16(channels) + u32(rate) + u32(rate * block) + u16(block) + u16(bits)
        var body = Array("WAVEfmt ".utf8) + u32(fmt.count) + fmt + Array("data".utf8) + u32(data.count)
        body += [UInt8](data)
        FileManager.default.createFile(atPath: path, contents: Data(Array("RIFF".utf8) + u32(body.count) + body))
    }

    /// Mono decoding = the kept channels' mean, for libsndfile (WAV at and off the model's rate) and FFmpeg (Opus, AAC).
    @Test(arguments: [("wav", ["-c:a", "pcm_s16le"], 16000), ("wav", ["-c:a", "pcm_s16le"], 22050),
                      ("opus", ["-c:a", "libopus"], 16000), ("m4a", ["-c:a", "aac"], 16000)])
    func monoIsTheChannelMean(_ ext: String, _ encoder: [String], _ rate: Int) throws {
        let folder = TemporaryFolder()
        let file = folder.file("five.\(ext)")
        try ffmpeg(["-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=1", "-af",
                    "aformat=channel_layouts=5.0,volume=0.5"] + encoder + [file])
        let kept = try #require(try decodeMedia(path: file, frames: nil, audioRate: rate).audio)
        let mono = try #require(try decodeMedia(path: file, frames: nil, audioRate: rate, mono: true).audio)
        #expect(kept.channels == 5 && mono.channels == 1 && mono.sampleRate == rate)
        let mixed = kept.samples.withUnsafeBufferPointer { downmix(interleaved: $0, channels: 5) }
        #expect(mono.samples == mixed)
    }

    @Test func ratesOutsideTheLimitsAreUnsupported() throws {
        let folder = TemporaryFolder()
        for (name, rate) in [("one", 1), ("low", 3999), ("huge", 537_000_000)] {
            let file = folder.file("\(name).wav")
            Self.wav(file, rate: rate, channels: 1, ints: (0..<400).map { Int16($0 * 50 % 3000) })
            let e = expectMediaError(5) { _ = try decodeMedia(path: file, frames: nil, audioRate: 16000, mono: true) }
            #expect(e?.code == .unsupported && e?.message == "\(file): audio at \(rate) Hz; liberi reads audio at 4000…768000 Hz", "\(e?.message ?? "")")
        }
        // FLAC at 1 Hz (libsndfile) and the same in Matroska (FFmpeg).
        let flac = folder.file("one.flac"), mka = folder.file("one.mka")
        Self.wav(folder.file("src.wav"), rate: 1, channels: 1, ints: (0..<10_000).map { Int16($0 % 7000) })
        try ffmpeg(["-i", folder.file("src.wav"), "-c:a", "flac", flac])
        try ffmpeg(["-i", folder.file("src.wav"), "-c:a", "pcm_s16le", mka])
        for file in [flac, mka] {
            let e = expectMediaError(5) { _ = try decodeMedia(path: file, frames: nil, audioRate: 16000, mono: true) }
            #expect(e?.code == .unsupported && (e?.message.contains("audio at 1 Hz") ?? false), "\(e?.message ?? "")")
        }
    }

    /// A header stating more audio than a prediction reads is refused before the samples are read:
    /// a FLAC whose STREAMINFO claims 2^35 samples (49 days at 8 kHz) and holds one second.
    @Test func tooLongIsRefusedFromTheHeader() throws {
        let folder = TemporaryFolder()
        let file = folder.file("long.flac")
        try ffmpeg(["-f", "lavfi", "-i", "sine=frequency=300:sample_rate=8000:duration=1", "-c:a", "flac", file])
        var bytes = [UInt8](FileManager.default.contents(atPath: file)!)
        #expect(Array(bytes[0..<4]) == Array("fLaC".utf8))
        // STREAMINFO from byte 8: block sizes (4), frame sizes (6), then 64 bits: rate 20, channels 3, bits 5, total samples 36.
        var packed = bytes[18..<26].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        packed = packed & ~((UInt64(1) << 36) - 1) | (UInt64(1) << 35)
        for i in 0..<8 { bytes[18 + i] = UInt8(truncatingIfNeeded: packed >> (8 * UInt64(7 - i))) }
        FileManager.default.createFile(atPath: file, contents: Data(bytes))
        let start = Date()
        let e = expectMediaError(5) { _ = try decodeMedia(path: file, frames: nil, audioRate: 16000, mono: true) }
        #expect(e?.code == .unsupported && (e?.message.contains("is longer than one prediction reads: 69.9 min at 16000 Hz") ?? false),
                "\(e?.message ?? "")")
        #expect(Date().timeIntervalSince(start) < 2)
    }

    @Test func samplesOutOfRangeAreADecodeError() throws {
        let folder = TemporaryFolder()
        let cases: [(String, Int, [Float], String)] = [
            ("huge", 16000, (0..<16000).map { $0 % 2 == 0 ? 3e38 : -3e38 }, "audio sample 0 of channel 0 is 3e+38, outside ±1.5"),
            ("huge44k", 44100, (0..<44100).map { $0 % 2 == 0 ? 3e38 : -3e38 }, "audio sample 0 of channel 0 is"),
            ("nan", 16000, (0..<16000).map { $0 == 8000 ? .nan : 0.1 }, "audio sample 8000 of channel 0 is nan, not a number"),
            ("loud", 16000, (0..<16000).map { $0 == 100 ? 1.6 : 0.1 }, "audio sample 100 of channel 0 is 1.6, outside ±1.5"),
        ]
        for (name, rate, samples, needle) in cases {
            let file = folder.file("\(name).wav")
            Self.wav(file, rate: rate, channels: 1, floats: samples)
            for mono in [false, true] {
                let e = expectMediaError(5) { _ = try decodeMedia(path: file, frames: nil, audioRate: 16000, mono: mono) }
                #expect(e?.code == .decode && (e?.message.hasPrefix(file) ?? false) && (e?.message.contains(needle) ?? false),
                        "\(name): \(e?.message ?? "")")
            }
        }
        // 1.5 itself is tolerated (resampling and mixing overshoot).
        let edge = folder.file("edge.wav")
        Self.wav(edge, rate: 16000, channels: 1, floats: (0..<16000).map { $0 == 5 ? 1.5 : 0.1 })
        #expect(try decodeMedia(path: edge, frames: nil, audioRate: 16000, mono: true).audio?.frameCount == 16000)
    }

    /// Ogg never reaches libsndfile (its Vorbis reader leaks on damaged files); FFmpeg reads it.
    @Test func oggGoesThroughFFmpeg() throws {
        let folder = TemporaryFolder()
        let ogg = folder.file("a.ogg"), renamed = folder.file("a.wav")
        try ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=0.5", "-c:a", "libvorbis", ogg])
        try FileManager.default.copyItem(atPath: ogg, toPath: renamed)
        #expect(SndFileReader(path: ogg) == nil && SndFileReader(path: renamed) == nil)
        #expect(try decodeMedia(path: renamed, frames: nil, audioRate: 16000, mono: true).audio != nil)
    }
}
