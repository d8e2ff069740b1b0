import Foundation
import Testing
import ERICore
import ERIMedia
@testable import ERISynth
import ERITestSupport

/// The cues of the table are in the decoded media: one subject, one clip seed
/// (so the same head motion, blinks and timing), different labels.
@Suite struct CueTests {
    static let frames = 100

    static func subject() -> SubjectProfile {
        var subject = SubjectProfile.random(seed: 21, index: 0, number: 1)
        subject.width = 96
        subject.height = 96
        subject.expressiveness = 1
        return subject
    }

    static func labels(_ values: [Emotion: Float]) -> [Float] {
        var labels = [Float](repeating: 0, count: 7)
        for (emotion, value) in values { labels[emotion.rawValue] = value }
        return labels
    }

    /// Renders a clip with these labels; returns the paths of its mp4 and wav.
    static func render(_ labels: [Float], in folder: TemporaryFolder, name: String) throws -> (video: String, wav: String) {
        try FileManager.default.createDirectory(atPath: folder.path, withIntermediateDirectories: true)
        let clip = ClipSpec(labels: labels, frames: frames, seed: 5, snr: 25)
        let paths = (folder.file(name + ".mp4"), folder.file(name + ".wav"))
        try renderClip(clip, subject: subject(), videoPath: paths.0, wavPath: paths.1)
        return paths
    }

    /// Mean count per frame of pixels that are bright and colourless: the whites of the eyes.
    static func eyeWhiteArea(_ video: String) throws -> Double {
        let decoded = try decodeMedia(path: video, frames: frames, audioRate: nil)
        var count = 0
        for frame in decoded.frames {
            for p in stride(from: 0, to: frame.pixels.count, by: 3) {
                let r = Int(frame.pixels[p]), g = Int(frame.pixels[p + 1]), b = Int(frame.pixels[p + 2])
                if min(r, g, b) >= 165 && max(r, g, b) - min(r, g, b) <= 45 { count += 1 }
            }
        }
        return Double(count) / Double(decoded.frames.count)
    }

    /// Energy of the loudness envelope (10 ms RMS, mean removed) between
    /// `low` and `high` Hz, and its share of the energy from 1 to 20 Hz.
    static func envelopeBand(_ samples: [Float], low: Double, high: Double) -> (energy: Double, share: Double) {
        let hop = 160
        var envelope: [Double] = []
        for start in stride(from: 0, to: samples.count - hop + 1, by: hop) {
            var sum = 0.0
            for s in samples[start..<(start + hop)] { sum += Double(s) * Double(s) }
            envelope.append((sum / Double(hop)).squareRoot())
        }
        let mean = envelope.reduce(0, +) / Double(envelope.count)
        func power(_ frequency: Double) -> Double {
            var re = 0.0, im = 0.0
            for (n, value) in envelope.enumerated() {
                let angle = 2 * Double.pi * frequency * Double(n) / 100
                re += (value - mean) * cos(angle)
                im -= (value - mean) * sin(angle)
            }
            return re * re + im * im
        }
        var band = 0.0, total = 0.0
        for step in 0...190 {
            let frequency = 1 + Double(step) * 0.1
            let p = power(frequency)
            total += p
            if frequency >= low - 1e-9 && frequency <= high + 1e-9 { band += p }
        }
        return (band, band / total)
    }

    @Test func surpriseWidensTheEyes() throws {
        let folder = TemporaryFolder()
        let high = try Self.render(Self.labels([.surprise: 1]), in: folder, name: "high")
        let low = try Self.render(Self.labels([.surprise: 0.05, .adoration: 0.2]), in: folder, name: "low")
        let highArea = try Self.eyeWhiteArea(high.video), lowArea = try Self.eyeWhiteArea(low.video)
        #expect(lowArea > 5, "the eyes are visible at rest (\(lowArea) pixels)")
        #expect(highArea > 1.4 * lowArea, "eye whites: high surprise \(highArea) px, low \(lowArea) px")
    }

    @Test func amusementLaughsAtAboutFiveHertz() throws {
        let folder = TemporaryFolder()
        let amused = try wavSamples(Self.render(Self.labels([.amusement: 1]), in: folder, name: "amused").wav)
        let neutral = try wavSamples(Self.render(Self.labels([:]), in: folder, name: "neutral").wav)
        let laugh = Self.envelopeBand(amused, low: 4, high: 6), calm = Self.envelopeBand(neutral, low: 4, high: 6)
        #expect(laugh.energy > 4 * calm.energy, "4–6 Hz envelope energy: amused \(laugh.energy), neutral \(calm.energy)")
        #expect(laugh.share > calm.share, "4–6 Hz share: amused \(laugh.share), neutral \(calm.share)")
        #expect(laugh.share > 0.3)
    }

    /// The modality column of the cue table: Anxiety is audio only, Disgust
    /// and Adoration are video only.
    @Test func audioOnlyAndVideoOnlyEmotions() throws {
        let folder = TemporaryFolder()
        let neutral = try Self.render(Self.labels([:]), in: folder, name: "neutral")
        let anxious = try Self.render(Self.labels([.anxiety: 1]), in: folder, name: "anxious")
        let disgusted = try Self.render(Self.labels([.disgust: 1, .adoration: 0.8]), in: folder, name: "disgusted")
        func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

        #expect(try bytes(anxious.video) == bytes(neutral.video), "anxiety must not show")
        #expect(try bytes(anxious.wav) != bytes(neutral.wav), "anxiety must be heard")
        #expect(try bytes(disgusted.wav) == bytes(neutral.wav), "disgust and adoration must not be heard")
        #expect(try bytes(disgusted.video) != bytes(neutral.video), "disgust and adoration must show")
    }
}
