import Foundation
import Testing
import ERICore
import ERIPipeline
import ERIFeatures
@testable import ERIModel
import ERITestSupport

/// `Model.predict(file:)` (behind eri_predict_file) against `predict(frames:audio:)`
/// on exactly what the ffmpeg command line decodes from the same lossless file.
@Suite struct FilePredictTests {
    @Test(arguments: ["dbn-tiny", "dbn-small"])
    func fileEqualsFramesAndSamplesTheCLIDecodes(_ preset: String) throws {
        let folder = TemporaryFolder("eri-file"), dir = folder.path
        // 2.2 s of 96×60 moving colour bars (FFV1, lossless) + stereo 44.1 kHz PCM with different channels.
        let media = dir + "/clip.mkv"
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=96x60:rate=25:duration=2.2",
                    "-f", "lavfi", "-i", "aevalsrc=0.4*sin(2*PI*300*t)*sin(2*PI*2*t)|0.2*sin(2*PI*1200*t):s=44100:d=2.2",
                    "-c:v", "ffv1", "-pix_fmt", "bgr0", "-c:a", "pcm_s16le", "-shortest", media])
        try ffmpeg(["-i", media, "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", dir + "/frames.rgb"])
        try ffmpeg(["-i", media, "-vn", "-ar", "16000", "-f", "f32le", "-acodec", "pcm_f32le", dir + "/audio.f32"])
        let rgb = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/frames.rgb")))
        let pcm = try Data(contentsOf: URL(fileURLWithPath: dir + "/audio.f32")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let frameBytes = 96 * 60 * 3
        #expect(rgb.count % frameBytes == 0 && rgb.count / frameBytes == 55)
        let model = try Model(file: ModelFile.randomlyInitialised(config: ERIConfig.preset(named: preset)!, seed: 77))
        let box = FaceBox(x: 20, y: 5, w: 50, h: 45)
        let expected = try rgb.withUnsafeBytes { raw in
            try pcm.withUnsafeBufferPointer { samples in
                let views = try (0..<(rgb.count / frameBytes)).map {
                    try ImageView(data: raw.baseAddress! + $0 * frameBytes, width: 96, height: 60, stride: 96 * 3, format: .rgb24, box: box)
                }
                return try model.predict(frames: views, audio: try PCMView(samples: samples, sampleRate: 16000, channels: 2))
            }
        }
        let got = try model.predict(file: media, box: box)
        check("\(preset) predict(file:)", got, expected, tolerance: 1e-5)
    }

    @Test func tracksAndModelsThatDoNotMatch() throws {
        let folder = TemporaryFolder("eri-file"), dir = folder.path
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1", "-c:v", "ffv1", dir + "/video.mkv"])
        try ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=1", dir + "/audio.wav"])
        let both = try Model(file: ModelFile.randomlyInitialised(config: .tiny, seed: 1))
        let audioOnly = try Model(file: ModelFile.randomlyInitialised(config: ERIConfig.tiny.audioOnly, seed: 1))
        let videoOnly = try Model(file: ModelFile.randomlyInitialised(config: ERIConfig.tiny.videoOnly, seed: 1))
        // A two-branch model predicts from whichever track a file has (the other is zeroed).
        #expect(try both.predict(file: dir + "/video.mkv").count == 7)
        #expect(try both.predict(file: dir + "/audio.wav").count == 7)
        #expect(try audioOnly.predict(file: dir + "/audio.wav").count == 7)
        // A file without any track the model can use.
        #expect(throws: ERIError.self) { try audioOnly.predict(file: dir + "/video.mkv") }
        #expect(throws: ERIError.self) { try videoOnly.predict(file: dir + "/audio.wav") }
        do { _ = try videoOnly.predict(file: dir + "/audio.wav") } catch let e as ERIError {
            #expect(e.code == .missingModality || e.code == .format, "\(e)")
            #expect(e.message.contains("audio.wav"))
        }
        // An audio track shorter than one analysis window (400 samples at 16 kHz here; 5 ms =
        // 80 samples) is the file's content: without video, missing that modality (not an
        // invalid argument), saying why; with video, the estimate goes on without it.
        try ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=0.005", dir + "/blip.wav"])
        try ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1", "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=16000:duration=0.005", "-c:v", "ffv1", "-c:a", "pcm_s16le", dir + "/blip.mkv"])
        do {
            _ = try audioOnly.predict(file: dir + "/blip.wav")
            Issue.record("a 5 ms track predicted")
        } catch let e as ERIError {
            #expect(e.code == .missingModality, "\(e)")
            #expect(e.message.contains("blip.wav") && e.message.contains("shorter than one analysis window"), "\(e)")
        }
        let p = try both.prediction(file: dir + "/blip.mkv")
        #expect(p.warnings.contains(.noAudio) && !p.warnings.contains(.noVideo) && p.intensities.count == 7)
        // Hostile paths name the file.
        FileManager.default.createFile(atPath: dir + "/noise.mp4", contents: Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }))
        for (path, code) in [(dir + "/missing.mp4", ERIError.Code.io), (dir, .io), (dir + "/noise.mp4", .format)] {
            do {
                _ = try both.predict(file: path)
                Issue.record("\(path) predicted")
            } catch let e as ERIError {
                #expect(e.code == code, "\(path): \(e)")
                #expect(e.message.contains(path))
            }
        }
    }
}
