import Testing
@testable import ERICore
@testable import ERIModel
@testable import ERITrain

/// The training-time frame augmentation, against closed-form expectations:
/// identity, mirror, the brightness/contrast map, and a crop of a linear ramp
/// (bilinear sampling reproduces a ramp exactly, so the expected value is the
/// ramp at the sampling position the doc comment states).
struct AugmentationTests {
    static var video: ERIConfig.Video {
        var v = ERIConfig.small.video!
        v.frames = 2
        v.imageSize = 16
        v.mean = [0.5, 0.4, 0.3]
        v.std = [0.5, 0.25, 0.2]
        return v
    }

    /// Frames of 2 clips whose pixels (on the [0, 1] scale) are `pixel(clip, frame, channel, x, y)`, normalised.
    static func frames(_ pixel: (Int, Int, Int, Int, Int) -> Float) -> Tensor {
        let v = video, s = v.imageSize
        var t = Tensor(zeros: [2, v.frames, 3, s, s])
        for i in 0..<2 { for f in 0..<v.frames { for c in 0..<3 { for y in 0..<s { for x in 0..<s {
            t.data[(((i * v.frames + f) * 3 + c) * s + y) * s + x] = (pixel(i, f, c, x, y) - v.mean[c]) / v.std[c]
        } } } } }
        return t
    }

    static func pixel(_ t: Tensor, _ i: Int, _ f: Int, _ c: Int, _ x: Int, _ y: Int) -> Float {
        let v = video, s = v.imageSize
        return t.data[(((i * v.frames + f) * 3 + c) * s + y) * s + x] * v.std[c] + v.mean[c]
    }

    static let pattern: (Int, Int, Int, Int, Int) -> Float = { i, f, c, x, y in
        Float((x * 7 + y * 13 + c * 5 + f * 3 + i * 11) % 17) / 16
    }

    @Test func identityMirrorAndBrightnessContrast() {
        let batcher = Batcher(config: ERIConfig.small)
        let v = Self.video, s = v.imageSize
        let source = Self.frames(Self.pattern)

        var same = source
        batcher.augment(&same, clip: 1, v, FrameAugmentation())
        for k in 0..<source.count { #expect(abs(same.data[k] - source.data[k]) < 1e-5) }

        var mirrored = source
        batcher.augment(&mirrored, clip: 1, v, FrameAugmentation(flip: true))
        var toned = source
        batcher.augment(&toned, clip: 0, v, FrameAugmentation(contrast: 1.1, brightness: -0.04))
        for f in 0..<v.frames { for c in 0..<3 { for y in 0..<s { for x in 0..<s {
            // Clip 1 mirrored, clip 0 untouched by it.
            #expect(abs(Self.pixel(mirrored, 1, f, c, x, y) - Self.pattern(1, f, c, s - 1 - x, y)) < 1e-5)
            #expect(abs(Self.pixel(mirrored, 0, f, c, x, y) - Self.pattern(0, f, c, x, y)) < 1e-5)
            let want = (Self.pattern(0, f, c, x, y) - 0.5) * 1.1 + 0.5 - 0.04
            #expect(abs(Self.pixel(toned, 0, f, c, x, y) - want) < 1e-5)
        } } } }
    }

    @Test func cropSamplesWhereItSays() {
        let batcher = Batcher(config: ERIConfig.small)
        let v = Self.video, s = v.imageSize
        let ramp: (Int, Int, Int, Int, Int) -> Float = { _, f, c, x, y in 0.01 * Float(x) + 0.02 * Float(y) + 0.05 * Float(c + f) }
        var cropped = Self.frames(ramp)
        let a = FrameAugmentation(flip: true, scale: 0.75, left: 1.5, top: 0.5)
        batcher.augment(&cropped, clip: 0, v, a)
        for f in 0..<v.frames { for c in 0..<3 { for y in 0..<s { for x in 0..<s {
            let sx = a.left + (Float(s - 1 - x) + 0.5) * a.scale - 0.5, sy = a.top + (Float(y) + 0.5) * a.scale - 0.5
            #expect(sx >= 0 && sx <= Float(s - 1) && sy >= 0 && sy <= Float(s - 1))   // inside: no clamping in play
            let want = 0.01 * sx + 0.02 * sy + 0.05 * Float(c + f)
            #expect(abs(Self.pixel(cropped, 0, f, c, x, y) - want) < 1e-5, "(\(x), \(y))")
        } } } }
    }

    @Test func randomDrawsStayInTheirRanges() {
        var rng = SeededGenerator(seed: 9)
        var flips = 0, scales: Set<Float> = []
        for _ in 0..<500 {
            let a = FrameAugmentation.random(imageSize: 64, rng: &rng)
            if a.flip { flips += 1 }
            scales.insert(a.scale)
            #expect(FrameAugmentation.scales.contains(a.scale) && FrameAugmentation.contrasts.contains(a.contrast)
                    && FrameAugmentation.brightnesses.contains(a.brightness))
            let side = 64 * a.scale
            #expect(a.left >= 0 && a.top >= 0 && a.left + side <= 64.0001 && a.top + side <= 64.0001)
        }
        #expect(flips > 200 && flips < 300)
        #expect(scales.count > 400)
        #expect(FrameAugmentation.scales.lowerBound < 1 && FrameAugmentation.contrasts.lowerBound < 1 && FrameAugmentation.brightnesses.upperBound > 0)
    }

    /// Training batches are augmented (and differ between draws); evaluation batches are the stored frames.
    @Test func trainingBatchesAreAugmentedEvaluationOnesAreNot() {
        let c = ERIConfig.small.videoOnly
        let v = c.video!, per = 3 * v.imageSize * v.imageSize
        var rng = SeededGenerator(seed: 4)
        let stored = Tensor(shape: [v.frames, 3, v.imageSize, v.imageSize], data: (0..<(v.frames * per)).map { _ in rng.uniform(-1, 1) })
        var clip = PreparedClip(record: ClipRecord(id: "1", split: .val, labels: [Float](repeating: 0.5, count: 7), line: 2))
        clip.frames = stored
        let batcher = Batcher(config: c)
        let eval = batcher.batch([clip], training: false, rng: &rng).input.frames!
        #expect(eval.data == stored.data)
        let a = batcher.batch([clip], training: true, rng: &rng).input.frames!, b = batcher.batch([clip], training: true, rng: &rng).input.frames!
        #expect(a.data != stored.data && a.data != b.data)
    }
}
