// eri-bench: liberi's side of benchmarks/bench.py (a benchmark, not a test).
//
// A line protocol on stdin/stdout, so that the driver can interleave liberi
// with ONNX Runtime and PyTorch one run at a time while each contender keeps
// its model loaded in its own process (and its own peak RSS). One command per
// line; one reply per command: `ok key=value …` or `err message`.
//
//   load MODEL.eri [FACES] open a model (threads are set separately); FACES: the face detector's weights
//                          for stream-photo
//   frames FILE            raw float32 1 × F × C × S × S normalised frames (shape from the config)
//   mfcc FILE              raw float32 1 × T × n_mfcc pooled MFCC (T from the file size)
//   threads N              OpenBLAS threads (process-wide)
//   predict both|frames|audio
//                          one timed Model.predict; replies ms= and y= (7 values)
//   backbone [OUT]         one timed pass of the video backbone alone (needs ERI_BENCH_BACKBONE,
//                          see Backbone.swift); writes the tokens to OUT as raw float32
//   gemm N                 one timed N×N×N sgemm through ERICore.gemm; replies ms= and gflops=
//   pcm FILE               raw float32 mono PCM at the model's sample rate
//   mfcc-features [OUT]    one timed MFCC of the PCM (ERIFeatures); writes it to OUT as raw float32 (T_a × n_mfcc)
//   train-step             one timed training step (zero the gradients, forward, loss, backward) of
//                          Network(training:) on the batch of 8 of `trainingBatch`; dropout and modality
//                          dropout 0; replies ms= and loss=
//   rss                    peak resident set size of this process (getrusage ru_maxrss)
//   raw FILE W H N X,Y,W,H N raw RGB24 frames of W × H (uint8, as numpy's tofile) and their face box
//   predict-raw            one timed Model.predict(frames:audio:) on the raw frames and the PCM
//                          (preprocessing included); replies ms= and y=
//   preprocess-raw         the same preprocessing alone (preprocessClip, AudioPreprocessor.features);
//                          replies video_ms= audio_ms= ms=
//   stream-bench SECONDS READ_EVERY [WARMUP]
//                          ModelStream on a synthetic live source (Stream.swift); replies rtf=, read and
//                          push percentiles
//   stream-photo FILE W H  a raw RGB24 photograph of a face: the next stream-bench pans over it without
//                          face boxes, so the stream detects the face (needs `load MODEL FACES`)
//   stream-memory SECONDS EVERY [READ_EVERY]
//                          the current RSS (/proc/self/statm) every EVERY media seconds of a stream
//   detector WEIGHTS MIN_FACE
//                          open the MTCNN face detector (face-mtcnn.safetensors) for faces ≥ MIN_FACE px
//   detect FILE W H [REPEATS]
//                          median of REPEATS timed detections on a raw RGB24 W × H image (Faces.swift);
//                          replies ms=, faces= and boxes= (x1,y1,x2,y2,score;…)
//   blas                   OpenBLAS's build config and the kernel set it chose for this CPU
//   quit
//
// Everything timed is the library's public API; files are read before timing.

import CBLAS  // only to ask OpenBLAS which kernels it picked (the `blas` command)
import ERICore
import ERIFaces
import ERIFeatures
import ERIModel
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time in milliseconds.
func nowMilliseconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
}

/// Peak resident set size of this process in KiB (Linux reports ru_maxrss in KiB).
func peakRSSKiB() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Int(usage.ru_maxrss)
}

/// Reads a whole file of float32 values (native byte order, as numpy's tofile writes them).
func readFloats(_ path: String) throws -> [Float] {
    guard let f = fopen(path, "rb") else { throw ERIError.io("cannot open \(path)") }
    defer { fclose(f) }
    fseek(f, 0, SEEK_END)
    let bytes = ftell(f)
    fseek(f, 0, SEEK_SET)
    guard bytes >= 0, bytes % 4 == 0 else { throw ERIError.io("\(path): size \(bytes) is not a whole number of float32") }
    var values = [Float](repeating: 0, count: bytes / 4)
    let read = values.withUnsafeMutableBytes { fread($0.baseAddress, 1, bytes, f) }
    guard read == bytes else { throw ERIError.io("\(path): short read (\(read) of \(bytes) bytes)") }
    return values
}

func writeFloats(_ values: [Float], to path: String) throws {
    guard let f = fopen(path, "wb") else { throw ERIError.io("cannot create \(path)") }
    defer { fclose(f) }
    let written = values.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    guard written == values.count * 4 else { throw ERIError.io("\(path): short write") }
}

/// Operands of the sgemm ceiling: C = A·B, all n × n, uniform in [−1, 1).
final class GEMMWorkspace {
    let n: Int
    let a, b, c: UnsafeMutableBufferPointer<Float>

    init(n: Int) {
        self.n = n
        a = .allocate(capacity: n * n)
        b = .allocate(capacity: n * n)
        c = .allocate(capacity: n * n)
        var rng = SeededGenerator(seed: 7)
        for i in 0..<(n * n) { a[i] = rng.uniform(-1, 1); b[i] = rng.uniform(-1, 1); c[i] = 0 }
    }

    deinit { a.deallocate(); b.deallocate(); c.deallocate() }

    /// Milliseconds of one n³ sgemm through ERICore's `gemm` (the network's only GEMM entry point).
    func timeOne() -> Double {
        let start = nowMilliseconds()
        gemm(m: n, n: n, k: n, a: a.baseAddress!, lda: n, b: b.baseAddress!, ldb: n, c: c.baseAddress!, ldc: n)
        return nowMilliseconds() - start
    }
}

/// The training-step batch: 8 clips made from the loaded frames and MFCC by exact rotations, so
/// that bench.py's PyTorch worker builds the identical batch (numpy's `np.roll`) while the 8 clips
/// still differ (identical clips would leave the PCC term of the loss with zero variance). Clip i:
/// frames rotated by i frames, MFCC rotated by i·⌊T/8⌋ steps (both towards the start);
/// targets[i][e] = (0.1·(i+1) + 0.05·e) mod 1.
let trainingBatchSize = 8

func rotatedBatch(_ x: Tensor, by shift: (Int) -> Int) -> Tensor {
    // x: 1 × L × (rest); → B × L × (rest), clip i = x rotated left by shift(i) along L.
    let length = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
    var out = [Float](repeating: 0, count: trainingBatchSize * length * inner)
    for i in 0..<trainingBatchSize {
        let s = shift(i) % length
        for l in 0..<length {
            let src = ((l + s) % length) * inner, dst = (i * length + l) * inner
            for j in 0..<inner { out[dst + j] = x.data[src + j] }
        }
    }
    return Tensor(shape: [trainingBatchSize] + x.shape.dropFirst(), data: out)
}

func trainingBatch(frames: Tensor?, mfcc: Tensor?) -> TrainingBatch {
    let b = trainingBatchSize
    var targets = [Float](repeating: 0, count: b * 7)
    for i in 0..<b {
        for e in 0..<7 {
            let t: Double = 0.1 * Double(i + 1) + 0.05 * Double(e)
            targets[i * 7 + e] = Float(t.truncatingRemainder(dividingBy: 1))
        }
    }
    let batchFrames = frames.map { f in rotatedBatch(f) { i in i } }
    let batchMFCC = mfcc.map { m -> Tensor in
        let stride = m.shape[1] / b
        return rotatedBatch(m) { i in i * stride }
    }
    let input = NetworkInput(frames: batchFrames, mfcc: batchMFCC)
    return TrainingBatch(input: input, targets: Tensor(shape: [b, 7], data: targets))
}

/// What one benchmarking process holds between commands.
final class BenchState {
    var model: Model?
    var frames: Tensor?
    var mfcc: Tensor?
    var pcm: [Float] = []
    var gemmWorkspace: GEMMWorkspace?
    var rawClip: RawClip?
    var detector: FaceDetector?
    var photograph: (pixels: [UInt8], width: Int, height: Int)?
    var audioPreprocessor: AudioPreprocessor?
    /// Built on the first `train-step` (from the loaded model's file, dropout 0) and kept.
    var training: (network: Network, batch: TrainingBatch)?

    func requireModel() throws -> Model {
        guard let model else { throw ERIError.invalidArgument("no model: send `load MODEL.eri` first") }
        return model
    }

    func handle(_ words: [String]) throws -> String {
        switch words[0] {
        case "load":
            guard words.count == 2 || words.count == 3 else { throw ERIError.invalidArgument("usage: load MODEL.eri [FACES]") }
            let start = nowMilliseconds()
            let m = try Model(path: words[1], faceModel: words.count == 3 ? words[2] : nil)
            model = m
            training = nil
            return "ok preset=\(m.presetName) load_ms=\(nowMilliseconds() - start)"

        case "frames":
            guard words.count == 2 else { throw ERIError.invalidArgument("usage: frames FILE") }
            guard let v = try requireModel().config.video else { throw ERIError.invalidArgument("the model has no video branch") }
            let shape = [1, v.frames, v.channels, v.imageSize, v.imageSize]
            let values = try readFloats(words[1])
            guard values.count == shape.reduce(1, *) else {
                throw ERIError.invalidArgument("\(words[1]) holds \(values.count) floats; the model needs \(shape)")
            }
            frames = Tensor(shape: shape, data: values)
            training = nil
            return "ok shape=\(shape.map(String.init).joined(separator: "x"))"

        case "mfcc":
            guard words.count == 2 else { throw ERIError.invalidArgument("usage: mfcc FILE") }
            guard let a = try requireModel().config.audio else { throw ERIError.invalidArgument("the model has no audio branch") }
            let values = try readFloats(words[1])
            let n = a.mfcc.nMFCC
            guard !values.isEmpty, values.count % n == 0 else {
                throw ERIError.invalidArgument("\(words[1]) holds \(values.count) floats, not a multiple of n_mfcc = \(n)")
            }
            mfcc = Tensor(shape: [1, values.count / n, n], data: values)
            training = nil
            return "ok steps=\(values.count / n)"

        case "threads":
            guard words.count == 2, let n = Int(words[1]), n > 0 else { throw ERIError.invalidArgument("usage: threads N") }
            setComputeThreads(n)
            return "ok threads=\(computeThreads())"

        case "predict":
            guard words.count == 2 else { throw ERIError.invalidArgument("usage: predict both|frames|audio") }
            let m = try requireModel()
            let input: NetworkInput
            switch words[1] {
            case "both": input = NetworkInput(frames: frames, mfcc: mfcc)
            case "frames": input = NetworkInput(frames: frames)
            case "audio": input = NetworkInput(mfcc: mfcc)
            default: throw ERIError.invalidArgument("predict takes both, frames or audio")
            }
            let start = nowMilliseconds()
            let y = try m.predict(input)
            let ms = nowMilliseconds() - start
            return "ok ms=\(ms) y=" + y.data.map { "\($0)" }.joined(separator: ",")

        case "train-step":
            guard words.count == 1 else { throw ERIError.invalidArgument("usage: train-step") }
            if training == nil {
                let m = try requireModel()
                guard frames != nil || mfcc != nil else { throw ERIError.invalidArgument("no inputs: send `frames FILE` and/or `mfcc FILE` first") }
                var file = m.file
                file.config.train.dropout = 0           // the PyTorch worker sets every nn.Dropout to p = 0
                file.config.train.modalityDropout = 0
                training = (Network(training: Parameters(file: file)), trainingBatch(frames: frames, mfcc: mfcc))
            }
            let (network, batch) = training!
            var rng = SeededGenerator(seed: 1)  // unused with dropout 0
            let start = nowMilliseconds()
            network.parameters.zeroGradients()
            let (loss, _) = try network.step(batch, rng: &rng)
            let ms = nowMilliseconds() - start
            return "ok ms=\(ms) loss=\(loss)"

        case "backbone":
            let m = try requireModel()
            guard let frames else { throw ERIError.invalidArgument("no frames: send `frames FILE` first") }
            guard let result = try timeBackbone(model: m, frames: frames) else {
                return "ok unavailable=no-public-backbone-hook"
            }
            if words.count == 2 { try writeFloats(result.tokens.data, to: words[1]) }
            return "ok ms=\(result.ms) shape=\(result.tokens.shape.map(String.init).joined(separator: "x"))"

        case "gemm":
            guard words.count == 2, let n = Int(words[1]), n > 0 else { throw ERIError.invalidArgument("usage: gemm N") }
            if gemmWorkspace?.n != n { gemmWorkspace = GEMMWorkspace(n: n) }
            let ms = gemmWorkspace!.timeOne()
            let gflops = 2 * Double(n) * Double(n) * Double(n) / (ms * 1e6)
            return "ok ms=\(ms) gflops=\(gflops)"

        case "pcm":
            guard words.count == 2 else { throw ERIError.invalidArgument("usage: pcm FILE") }
            pcm = try readFloats(words[1])
            return "ok samples=\(pcm.count)"

        case "mfcc-features":
            guard let a = try requireModel().config.audio else { throw ERIError.invalidArgument("the model has no audio branch") }
            guard !pcm.isEmpty else { throw ERIError.invalidArgument("no PCM: send `pcm FILE` first") }
            let result = try timeMFCC(config: a, pcm: pcm)
            if words.count == 2 { try writeFloats(result.values.data, to: words[1]) }
            return "ok ms=\(result.ms) shape=\(result.values.shape.map(String.init).joined(separator: "x"))"

        case "blas":
            // Names without spaces, for the key=value reply.
            let core = String(cString: openblas_get_corename())
            let config = String(cString: openblas_get_config()).split(separator: " ").joined(separator: "_")
            return "ok core=\(core) config=\(config) threads=\(computeThreads())"

        case "rss":
            return "ok maxrss_kib=\(peakRSSKiB())"

        case "raw":
            let b = words.count == 6 ? words[5].split(separator: ",").compactMap { Float($0) } : []
            guard words.count == 6, let w = Int(words[2]), let h = Int(words[3]), let n = Int(words[4]), b.count == 4 else {
                throw ERIError.invalidArgument("usage: raw FILE W H N X,Y,W,H")
            }
            rawClip = try RawClip(path: words[1], width: w, height: h, count: n, box: FaceBox(x: b[0], y: b[1], w: b[2], h: b[3]))
            return "ok frames=\(n)"

        case "predict-raw", "preprocess-raw":
            let m = try requireModel()
            guard let clip = rawClip, !pcm.isEmpty else { throw ERIError.invalidArgument("send `raw …` and `pcm FILE` first") }
            guard let a = m.config.audio, m.config.video != nil else { throw ERIError.invalidArgument("the model needs both branches") }
            if words[0] == "predict-raw" {
                let (ms, y) = try timePredictRaw(model: m, clip: clip, pcm: pcm)
                return "ok ms=\(ms) y=" + y.map { "\($0)" }.joined(separator: ",")
            }
            if audioPreprocessor?.config != a { audioPreprocessor = try AudioPreprocessor(config: a) }
            let t = try timePreprocessRaw(model: m, preprocessor: audioPreprocessor!, clip: clip, pcm: pcm)
            return "ok video_ms=\(t.video) audio_ms=\(t.audio) ms=\(t.video + t.audio)"

        case "detector":
            detector = try openDetector(words: words)
            return "ok"

        case "detect":
            guard let detector else { throw ERIError.invalidArgument("no detector: send `detector WEIGHTS MIN_FACE` first") }
            return try detectReply(detector: detector, words: words)

        case "stream-bench":
            defer { photograph = nil }
            return try streamBenchReply(model: try requireModel(), pcm: pcm, words: words, photograph: photograph)

        case "stream-photo":
            guard words.count == 4, let w = Int(words[2]), let h = Int(words[3]), w > 80, h > 80 else {
                throw ERIError.invalidArgument("usage: stream-photo FILE W H (more than 80 px each way)")
            }
            let pixels = try readBytes(words[1])
            guard pixels.count == w * h * 3 else { throw ERIError.invalidArgument("\(words[1]) holds \(pixels.count) bytes, not \(w)×\(h)×3") }
            photograph = (pixels, w, h)
            return "ok"

        case "stream-memory":
            return try streamMemoryReply(model: try requireModel(), pcm: pcm, words: words)

        default:
            throw ERIError.invalidArgument("unknown command \"\(words[0])\"")
        }
    }
}

setvbuf(stdout, nil, _IOLBF, 0)
BLASKernels.selectFastKernels()  // what liberi does when it opens a model: the ceiling uses the same kernels
let state = BenchState()
while let line = readLine() {
    let words = line.split(separator: " ").map(String.init)
    if words.isEmpty { continue }
    if words[0] == "quit" { print("ok"); break }
    do {
        print(try state.handle(words))
    } catch let e as ERIError {
        print("err \(e.message)")
    } catch {
        print("err \(error)")
    }
}
