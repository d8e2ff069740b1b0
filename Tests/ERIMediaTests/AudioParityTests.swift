import Foundation
import Testing
@testable import ERIMedia
import ERITestSupport

/// Stereo with different content left and right, so a swapped or mixed
/// channel cannot pass.
let stereoSource = "aevalsrc=0.5*sin(2*PI*440*t)|0.3*sin(2*PI*1250*t+1)+0.2*sin(2*PI*97*t):s=44100:d=1.5"

/// Decoded audio against `ffmpeg -i F -ar RATE -f f32le` (channels kept),
/// channel by channel, for the libsndfile path (WAV, FLAC) and the
/// FFmpeg path (Ogg Vorbis and Opus, AAC, MP3, audio inside a video file).
@Suite struct AudioParityTests {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var encoder: [String]
        var fileExtension: String
        var rate: Int
        /// Whether libsndfile (rather than FFmpeg) reads it.
        var viaSndFile: Bool
        var description: String { "\(name) → \(rate) Hz" }
    }

    static let cases: [Case] = [
        Case(name: "WAV s16", encoder: ["-c:a", "pcm_s16le"], fileExtension: "wav", rate: 16000, viaSndFile: true),
        Case(name: "WAV s16, same rate", encoder: ["-c:a", "pcm_s16le"], fileExtension: "wav", rate: 44100, viaSndFile: true),
        Case(name: "WAV float", encoder: ["-c:a", "pcm_f32le"], fileExtension: "wav", rate: 16000, viaSndFile: true),
        Case(name: "FLAC 24-bit", encoder: ["-c:a", "flac", "-sample_fmt", "s32"], fileExtension: "flac", rate: 16000, viaSndFile: true),
        Case(name: "OGG Vorbis", encoder: ["-c:a", "libvorbis"], fileExtension: "ogg", rate: 16000, viaSndFile: false),
        Case(name: "AAC in MP4", encoder: ["-c:a", "aac", "-b:a", "128k"], fileExtension: "m4a", rate: 16000, viaSndFile: false),
        Case(name: "MP3", encoder: ["-c:a", "libmp3lame", "-b:a", "128k"], fileExtension: "mp3", rate: 22050, viaSndFile: false),
        Case(name: "Opus in OGG", encoder: ["-c:a", "libopus"], fileExtension: "opus", rate: 16000, viaSndFile: false),
    ]

    @Test(arguments: cases)
    func samplesMatchTheCommandLine(_ c: Case) throws {
        let folder = TemporaryFolder()
        let file = folder.file("sound.\(c.fileExtension)")
        try ffmpeg(["-f", "lavfi", "-i", stereoSource] + c.encoder + [file])
        #expect((SndFileReader(path: file) != nil) == c.viaSndFile)
        let oracle = try cliAudio(file, rate: c.rate, in: folder)
        let (frames, decoded) = try decodeMedia(path: file, frames: 8, audioRate: c.rate)
        #expect(frames.isEmpty)
        let audio = try #require(decoded)
        #expect(audio.channels == 2 && audio.sampleRate == c.rate)
        #expect(audio.samples.count == oracle.count, "\(c): \(audio.samples.count) values, the CLI \(oracle.count)")
        for k in 0..<2 {
            let rms = rootMeanSquareDifference(channel(audio.samples, k, of: 2), channel(oracle, k, of: 2))
            #expect(rms <= 1e-4, "\(c) channel \(k): RMS difference \(rms)")
        }
        // The channels are kept apart (the caller averages them, SPEC §4.2).
        #expect(rootMeanSquareDifference(channel(audio.samples, 0, of: 2), channel(audio.samples, 1, of: 2)) > 0.1)
    }

    /// Audio inside a video file comes from the same pass as the frames.
    @Test func audioBesideVideo() throws {
        let folder = TemporaryFolder()
        let file = folder.file("both.mp4")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 64, height: 48), "-f", "lavfi", "-i", stereoSource,
                    "-t", "1.2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", file])
        let oracle = try cliAudio(file, rate: 16000, in: folder)
        let (frames, decoded) = try decodeMedia(path: file, frames: 4, audioRate: 16000)
        #expect(frames.count == 4)
        let audio = try #require(decoded)
        #expect(audio.samples.count == oracle.count)
        for k in 0..<2 {
            let rms = rootMeanSquareDifference(channel(audio.samples, k, of: 2), channel(oracle, k, of: 2))
            #expect(rms <= 1e-4, "channel \(k): RMS difference \(rms)")
        }
    }

    /// Mono and 5.1 keep their channel counts.
    @Test(arguments: [("mono", 1), ("5.1", 6)])
    func channelCountsAreKept(_ layout: String, _ count: Int) throws {
        let folder = TemporaryFolder()
        let file = folder.file("layout.wav")
        try ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=0.5",
                    "-af", "aformat=channel_layouts=\(layout)", "-c:a", "pcm_s16le", file])
        let oracle = try cliAudio(file, rate: 16000, in: folder)
        let audio = try #require(try decodeMedia(path: file, frames: nil, audioRate: 16000).audio)
        #expect(audio.channels == count)
        #expect(audio.samples.count == oracle.count)
        #expect(rootMeanSquareDifference(audio.samples, oracle) <= 1e-4)
    }
}
