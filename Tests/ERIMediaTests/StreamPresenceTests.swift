import Foundation
import Testing
import ERICore
@testable import ERIMedia
import ERITestSupport

/// Files with one kind of stream give that kind (SPEC §7: a video-only or
/// audio-only prediction), and probeMedia reports what is there.
@Suite struct StreamPresenceTests {
    @Test func videoWithoutAudio() throws {
        let folder = TemporaryFolder()
        let file = folder.file("silent.mp4")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 64, height: 48), "-t", "1", "-c:v", "libx264", file])
        let (frames, audio) = try decodeMedia(path: file, frames: 5, audioRate: 16000)
        #expect(frames.map(\.index) == [2, 7, 12, 17, 22])
        #expect(audio == nil)
        let error = try #require(expectMediaError { _ = try decodeMedia(path: file, frames: nil, audioRate: 16000) })
        #expect(error.code == .format && error.message == "\(file): no audio stream")
    }

    @Test func audioWithoutVideo() throws {
        let folder = TemporaryFolder()
        let file = folder.file("voice.m4a")
        try ffmpeg(["-f", "lavfi", "-i", stereoSource, "-c:a", "aac", file])
        let (frames, audio) = try decodeMedia(path: file, frames: 5, audioRate: 16000)
        #expect(frames.isEmpty)
        #expect(try #require(audio).channels == 2)
        let error = try #require(expectMediaError { _ = try decodeMedia(path: file, frames: 5, audioRate: nil) })
        #expect(error.code == .format && error.message == "\(file): no video stream")
    }

    /// Cover art in an MP3 is an "attached picture" video stream: not video.
    @Test func coverArtIsNotVideo() throws {
        let folder = TemporaryFolder()
        let cover = folder.file("cover.png"), file = folder.file("song.mp3")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 32, height: 32), "-frames:v", "1", cover])
        try ffmpeg(["-f", "lavfi", "-i", stereoSource, "-i", cover, "-map", "0", "-map", "1", "-c:a", "libmp3lame",
                    "-c:v", "png", "-disposition:v", "attached_pic", file])
        let probe = try probeMedia(path: file)
        #expect(!probe.hasVideo && probe.hasAudio)
        let (frames, audio) = try decodeMedia(path: file, frames: 4, audioRate: 16000)
        #expect(frames.isEmpty && audio != nil)
    }

    @Test func probeReportsTheHeaders() throws {
        let folder = TemporaryFolder()
        let file = folder.file("both.mp4")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 97, height: 61), "-f", "lavfi", "-i", stereoSource,
                    "-t", "1.2", "-c:v", "libx264", "-pix_fmt", "yuv444p", "-c:a", "aac", "-shortest", file])
        let probe = try probeMedia(path: file)
        #expect(probe.hasVideo && probe.hasAudio)
        #expect(probe.width == 97 && probe.height == 61)
        #expect(probe.frameCount == 30)
        #expect(abs((probe.frameRate ?? 0) - 25) < 1e-9)
        #expect(abs((probe.duration ?? 0) - 1.2) < 0.1)
        #expect(probe.sampleRate == 44100 && probe.channels == 2)

        let wav = folder.file("tone.wav")
        try ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=0.5", wav])
        let audioOnly = try probeMedia(path: wav)
        #expect(!audioOnly.hasVideo && audioOnly.hasAudio && audioOnly.width == 0)
        #expect(audioOnly.sampleRate == 22050 && audioOnly.channels == 1)
        #expect(abs((audioOnly.duration ?? 0) - 0.5) < 0.01)
    }

    /// A stream with no timestamps at all still decodes (raw YUV4MPEG frames).
    @Test func y4mDecodesAndMatchesTheCommandLine() throws {
        let folder = TemporaryFolder()
        let file = folder.file("clip.y4m")
        try ffmpeg(["-f", "lavfi", "-i", testPattern(width: 31, height: 17), "-frames:v", "12", "-pix_fmt", "yuv444p", file])
        let oracle = try cliFrames(file, width: 31, height: 17, in: folder)
        let frames = try decodeMedia(path: file, frames: 3, audioRate: 16000).frames
        #expect(frames.map(\.index) == [2, 6, 10])
        for frame in frames { #expect(frame.pixels == oracle[frame.index]) }
    }
}
