import ERICore

#if canImport(Glibc)
import Glibc
#endif

/// The three networks of MTCNN (Zhang et al. 2016) with facenet-pytorch 2.6.0's
/// weights (`make models` converts them into one safetensors file, tensors
/// `pnet.*`, `rnet.*`, `onet.*` as that package's state dicts name them). Each
/// runs on liberi's kernels: convolutions as im2col + GEMM on CNHW maps (a
/// batch of crops is one GEMM per layer), PReLU, ceil-mode max-pooling,
/// linear layers, a two-way softmax. Immutable after load: one set of
/// networks serves any number of threads.
final class MTCNNNetworks: @unchecked Sendable {
    struct Conv {
        let shape: Conv2dShape
        let weight: [Float], bias: [Float]  // (out, in, k, k), (out)
        let slopes: [Float]?                // the PReLU after it, if any
    }
    struct Dense {
        let weight: [Float], bias: [Float]  // (out, in), (out)
        let inputs: Int, outputs: Int
        let slopes: [Float]?
    }

    let pnet: (conv1: Conv, conv2: Conv, conv3: Conv, score: Conv, box: Conv)
    let rnet: (conv1: Conv, conv2: Conv, conv3: Conv, dense: Dense, score: Dense, box: Dense)
    let onet: (conv1: Conv, conv2: Conv, conv3: Conv, conv4: Conv, dense: Dense, score: Dense, box: Dense, landmarks: Dense)

    /// Reads the converted file; throws `.format` naming a missing or misshapen tensor.
    init(path: String) throws {
        let file = try SafetensorsFile(path: path)
        guard file.metadata["eri.face.model"] == "mtcnn" else {
            throw ERIError.format("\(path): not liberi's MTCNN weights (metadata eri.face.model is \(file.metadata["eri.face.model"] ?? "missing")); run `make models`")
        }
        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let e = file.entry(named: name) else { throw ERIError.format("\(path): no tensor \(name)") }
            guard e.shape == shape else { throw ERIError.format("\(path): \(name) has shape \(e.shape), MTCNN needs \(shape)") }
            let values = file.floats(e)
            guard values.allSatisfy({ $0.isFinite }) else { throw ERIError.format("\(path): \(name) holds NaN or infinite values") }
            return values
        }
        func conv(_ net: String, _ name: String, _ inputs: Int, _ outputs: Int, _ k: Int, prelu: String?) throws -> Conv {
            Conv(shape: Conv2dShape(inputs: inputs, outputs: outputs, kernel: k, stride: 1, padding: 0),
                 weight: try tensor("\(net).\(name).weight", [outputs, inputs, k, k]), bias: try tensor("\(net).\(name).bias", [outputs]),
                 slopes: try prelu.map { try tensor("\(net).\($0).weight", [outputs]) })
        }
        func dense(_ net: String, _ name: String, _ inputs: Int, _ outputs: Int, prelu: String?) throws -> Dense {
            Dense(weight: try tensor("\(net).\(name).weight", [outputs, inputs]), bias: try tensor("\(net).\(name).bias", [outputs]),
                  inputs: inputs, outputs: outputs, slopes: try prelu.map { try tensor("\(net).\($0).weight", [outputs]) })
        }
        pnet = (try conv("pnet", "conv1", 3, 10, 3, prelu: "prelu1"), try conv("pnet", "conv2", 10, 16, 3, prelu: "prelu2"),
                try conv("pnet", "conv3", 16, 32, 3, prelu: "prelu3"), try conv("pnet", "conv4_1", 32, 2, 1, prelu: nil),
                try conv("pnet", "conv4_2", 32, 4, 1, prelu: nil))
        rnet = (try conv("rnet", "conv1", 3, 28, 3, prelu: "prelu1"), try conv("rnet", "conv2", 28, 48, 3, prelu: "prelu2"),
                try conv("rnet", "conv3", 48, 64, 2, prelu: "prelu3"), try dense("rnet", "dense4", 576, 128, prelu: "prelu4"),
                try dense("rnet", "dense5_1", 128, 2, prelu: nil), try dense("rnet", "dense5_2", 128, 4, prelu: nil))
        onet = (try conv("onet", "conv1", 3, 32, 3, prelu: "prelu1"), try conv("onet", "conv2", 32, 64, 3, prelu: "prelu2"),
                try conv("onet", "conv3", 64, 64, 3, prelu: "prelu3"), try conv("onet", "conv4", 64, 128, 2, prelu: "prelu4"),
                try dense("onet", "dense5", 1152, 256, prelu: "prelu5"), try dense("onet", "dense6_1", 256, 2, prelu: nil),
                try dense("onet", "dense6_2", 256, 4, prelu: nil), try dense("onet", "dense6_3", 256, 10, prelu: nil))
    }

    /// conv (+ bias) (+ PReLU) on `images` CNHW maps of h × w; returns the output and its side.
    func run(_ c: Conv, _ x: UnsafePointer<Float>, images: Int, height h: Int, width w: Int, arena: Arena)
        -> (UnsafeMutablePointer<Float>, Int, Int) {
        let oh = c.shape.outputSide(h), ow = c.shape.outputSide(w)
        let y = arena.floats(c.shape.outputs * images * oh * ow).baseAddress!                               // (C_out, N, oh, ow)
        let columns = arena.floats(c.shape.isPointwise ? 1 : c.shape.patch * images * oh * ow).baseAddress!  // (C_in·k·k, N·oh·ow)
        c.weight.withUnsafeBufferPointer { weight in
            c.bias.withUnsafeBufferPointer { bias in
                conv2d(x, shape: c.shape, images: images, height: h, width: w, weight: weight.baseAddress!, bias: bias.baseAddress!,
                       relu: false, columns: columns, into: y)
            }
        }
        if let slopes = c.slopes {
            slopes.withUnsafeBufferPointer { prelu(y, channels: c.shape.outputs, count: images * oh * ow, slopes: $0.baseAddress!) }
        }
        return (y, oh, ow)
    }

    /// A linear layer (+ PReLU) on `rows` rows.
    func run(_ d: Dense, _ x: UnsafePointer<Float>, rows: Int, arena: Arena) -> UnsafeMutablePointer<Float> {
        let y = arena.floats(rows * d.outputs).baseAddress!   // (rows, out)
        d.weight.withUnsafeBufferPointer { weight in
            d.bias.withUnsafeBufferPointer { bias in
                linear(x, rows: rows, inputs: d.inputs, weight: weight.baseAddress!, bias: bias.baseAddress!, outputs: d.outputs, into: y)
            }
        }
        if let slopes = d.slopes { slopes.withUnsafeBufferPointer { prelu(y, rows: rows, channels: d.outputs, slopes: $0.baseAddress!) } }
        return y
    }

    /// Ceil-mode max-pooling of CNHW maps; returns the output and its side.
    func pool(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int, kernel: Int, stride: Int, arena: Arena)
        -> (UnsafeMutablePointer<Float>, Int, Int) {
        let oh = ceilPoolSide(h, kernel: kernel, stride: stride), ow = ceilPoolSide(w, kernel: kernel, stride: stride)
        let y = arena.floats(planes * oh * ow).baseAddress!   // (planes, oh, ow)
        maxPoolCeil(x, planes: planes, height: h, width: w, kernel: kernel, stride: stride, into: y)
        return (y, oh, ow)
    }

    /// P-Net on one normalised 3 × h × w image: the face probability and the
    /// box regression of every 12 × 12 cell (stride 2), oh × ow each
    /// (probabilities), 4 × oh × ow (regression).
    func proposals(_ image: UnsafePointer<Float>, height h: Int, width w: Int, arena: Arena)
        -> (probability: UnsafeMutablePointer<Float>, regression: UnsafeMutablePointer<Float>, height: Int, width: Int) {
        var (x, ch, cw) = run(pnet.conv1, image, images: 1, height: h, width: w, arena: arena)
        (x, ch, cw) = pool(x, planes: 10, height: ch, width: cw, kernel: 2, stride: 2, arena: arena)
        (x, ch, cw) = run(pnet.conv2, x, images: 1, height: ch, width: cw, arena: arena)
        (x, ch, cw) = run(pnet.conv3, x, images: 1, height: ch, width: cw, arena: arena)
        let (scores, _, _) = run(pnet.score, x, images: 1, height: ch, width: cw, arena: arena)   // (2, oh, ow)
        let (regression, _, _) = run(pnet.box, x, images: 1, height: ch, width: cw, arena: arena) // (4, oh, ow)
        let n = ch * cw
        let probability = arena.floats(n).baseAddress!   // (oh, ow)
        for i in 0..<n { probability[i] = faceProbability(scores[i], scores[n + i]) }
        return (probability, regression, ch, cw)
    }

    /// R-Net on `n` normalised 24 × 24 crops (CNHW: 3 × n × 24 × 24): each crop's
    /// face probability and box regression (n × 4).
    func refine(_ crops: UnsafePointer<Float>, count n: Int, arena: Arena)
        -> (probability: [Float], regression: UnsafeMutablePointer<Float>) {
        var (x, h, w) = run(rnet.conv1, crops, images: n, height: 24, width: 24, arena: arena)
        (x, h, w) = pool(x, planes: 28 * n, height: h, width: w, kernel: 3, stride: 2, arena: arena)
        (x, h, w) = run(rnet.conv2, x, images: n, height: h, width: w, arena: arena)
        (x, h, w) = pool(x, planes: 48 * n, height: h, width: w, kernel: 3, stride: 2, arena: arena)
        (x, h, w) = run(rnet.conv3, x, images: n, height: h, width: w, arena: arena)
        let features = flattened(x, channels: 64, images: n, height: h, width: w, arena: arena)   // (n, 576)
        let hidden = run(rnet.dense, features, rows: n, arena: arena)
        let scores = run(rnet.score, hidden, rows: n, arena: arena)                                // (n, 2)
        let regression = run(rnet.box, hidden, rows: n, arena: arena)                              // (n, 4)
        return ((0..<n).map { faceProbability(scores[2 * $0], scores[2 * $0 + 1]) }, regression)
    }

    /// O-Net on `n` normalised 48 × 48 crops (CNHW): probabilities, box
    /// regression (n × 4) and landmarks (n × 10: five x, then five y, as fractions of the box).
    func output(_ crops: UnsafePointer<Float>, count n: Int, arena: Arena)
        -> (probability: [Float], regression: UnsafeMutablePointer<Float>, landmarks: UnsafeMutablePointer<Float>) {
        var (x, h, w) = run(onet.conv1, crops, images: n, height: 48, width: 48, arena: arena)
        (x, h, w) = pool(x, planes: 32 * n, height: h, width: w, kernel: 3, stride: 2, arena: arena)
        (x, h, w) = run(onet.conv2, x, images: n, height: h, width: w, arena: arena)
        (x, h, w) = pool(x, planes: 64 * n, height: h, width: w, kernel: 3, stride: 2, arena: arena)
        (x, h, w) = run(onet.conv3, x, images: n, height: h, width: w, arena: arena)
        (x, h, w) = pool(x, planes: 64 * n, height: h, width: w, kernel: 2, stride: 2, arena: arena)
        (x, h, w) = run(onet.conv4, x, images: n, height: h, width: w, arena: arena)
        let features = flattened(x, channels: 128, images: n, height: h, width: w, arena: arena)  // (n, 1152)
        let hidden = run(onet.dense, features, rows: n, arena: arena)
        let scores = run(onet.score, hidden, rows: n, arena: arena)                                // (n, 2)
        return ((0..<n).map { faceProbability(scores[2 * $0], scores[2 * $0 + 1]) },
                run(onet.box, hidden, rows: n, arena: arena), run(onet.landmarks, hidden, rows: n, arena: arena))
    }

    /// The dense layers' input: facenet-pytorch flattens each map after
    /// `permute(0, 3, 2, 1)`, i.e. in (x, y, c) order; from CNHW maps.
    private func flattened(_ x: UnsafePointer<Float>, channels: Int, images: Int, height h: Int, width w: Int, arena: Arena)
        -> UnsafeMutablePointer<Float> {
        let per = channels * h * w
        let out = arena.floats(images * per).baseAddress!   // (N, w·h·C)
        for n in 0..<images {
            for xx in 0..<w { for yy in 0..<h { for c in 0..<channels {
                out[n * per + (xx * h + yy) * channels + c] = x[((c * images + n) * h + yy) * w + xx]
            } } }
        }
        return out
    }

    /// The second of a two-way softmax, as PyTorch computes it (shift by the maximum).
    @inline(__always) private func faceProbability(_ background: Float, _ face: Float) -> Float {
        let m = max(background, face)
        let a = expf(background - m), b = expf(face - m)
        return b / (a + b)
    }
}
