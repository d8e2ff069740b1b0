// The end-to-end rows of the benchmark: `Model.predict(frames:audio:)` from raw
// RGB24 frames (with a face box) and raw float PCM, preprocessing included,
// and the preprocessing alone (SPEC §4.1 `preprocessClip`, §4.2
// `AudioPreprocessor.features`).

import ERICore
import ERIFeatures
import ERIModel
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

/// N raw RGB24 frames of width × height in one buffer, and the face box they share.
final class RawClip {
    let bytes: UnsafeMutableBufferPointer<UInt8>
    let width: Int, height: Int, count: Int
    let box: FaceBox

    init(path: String, width: Int, height: Int, count: Int, box: FaceBox) throws {
        let values = try readBytes(path)
        guard values.count == width * height * 3 * count else {
            throw ERIError.invalidArgument("\(path) holds \(values.count) bytes, not \(count) RGB24 frames of \(width)×\(height)")
        }
        bytes = .allocate(capacity: values.count)
        _ = bytes.initialize(from: values)
        self.width = width; self.height = height; self.count = count; self.box = box
    }

    deinit { bytes.deallocate() }

    var views: [ImageView] {
        (0..<count).map { i in
            try! ImageView(data: UnsafeRawPointer(bytes.baseAddress! + i * width * height * 3), width: width, height: height,
                      stride: width * 3, format: .rgb24, box: box)
        }
    }
}

func readBytes(_ path: String) throws -> [UInt8] {
    guard let f = fopen(path, "rb") else { throw ERIError.io("cannot open \(path)") }
    defer { fclose(f) }
    fseek(f, 0, SEEK_END)
    let size = ftell(f)
    fseek(f, 0, SEEK_SET)
    var out = [UInt8](repeating: 0, count: max(0, size))
    let read = out.withUnsafeMutableBytes { fread($0.baseAddress, 1, size, f) }
    guard read == size else { throw ERIError.io("\(path): short read") }
    return out
}

/// One timed `Model.predict(frames:audio:)` on the raw clip and PCM (mono at the model's rate).
func timePredictRaw(model: Model, clip: RawClip, pcm: [Float]) throws -> (ms: Double, y: [Float]) {
    let views = clip.views
    return try pcm.withUnsafeBufferPointer { samples in
        let audio = try PCMView(samples: samples, sampleRate: model.config.audio!.sampleRate, channels: 1)
        let start = nowMilliseconds()
        let y = try model.predict(frames: views, audio: audio)
        return (nowMilliseconds() - start, y)
    }
}

/// The preprocessing of `Model.predict(frames:audio:)` alone: frames → F × C × S × S, PCM → T × n_mfcc.
/// The `AudioPreprocessor` is built outside the timing, as a Model builds it when it opens.
func timePreprocessRaw(model: Model, preprocessor: AudioPreprocessor, clip: RawClip, pcm: [Float])
    throws -> (video: Double, audio: Double)
{
    let views = clip.views
    let t0 = nowMilliseconds()
    let frames = try preprocessClip(views, config: model.config.video!)
    let t1 = nowMilliseconds()
    let mfcc = try pcm.withUnsafeBufferPointer {
        try preprocessor.features(PCMView(samples: $0, sampleRate: model.config.audio!.sampleRate, channels: 1))
    }
    let t2 = nowMilliseconds()
    if frames.data.isEmpty || mfcc.data.isEmpty { throw ERIError(.internal, "empty preprocessing output") }
    return (t1 - t0, t2 - t1)
}
