import CERISupport
import ERICore

#if canImport(Glibc)
import Glibc
#endif

/// The three networks of MTCNN (Zhang et al. 2016) with facenet-pytorch 2.6.0's
/// weights (`make models` converts them into one safetensors file, tensors
/// `pnet.*`, `rnet.*`, `onet.*` as that package's state dicts name them). Each
/// runs on liberi's kernels: convolutions computed directly on CNHW maps with
/// bias and PReLU fused (CERISupport's direct_conv.c: AVX2 + FMA where the CPU
/// has them, portable C elsewhere), ceil-mode max-pooling, linear layers, a
/// two-way softmax. Every map a convolution reads is followed by
/// `MTCNNNetworks.slack` readable floats (`map(_:arena:)`). Immutable after load: one set of
/// networks serves any number of threads.
final class MTCNNNetworks: @unchecked Sendable {
    struct Conv {
        let shape: Conv2dShape
        let weight: [Float], bias: [Float]  // (out, in, k, k), (out)
        let slopes: [Float]?                // the PReLU after it, if any
        let packed: [Float]                 // the weights as the direct convolution reads them

        init(shape: Conv2dShape, weight: [Float], bias: [Float], slopes: [Float]?) {
            self.shape = shape; self.weight = weight; self.bias = bias; self.slopes = slopes
            var packed = [Float](repeating: 0, count: liberi_direct_conv_packed_size(Int32(shape.inputs), Int32(shape.outputs), Int32(shape.kernel)))
            packed.withUnsafeMutableBufferPointer {
                liberi_direct_conv_pack(weight, Int32(shape.inputs), Int32(shape.outputs), Int32(shape.kernel), $0.baseAddress!)
            }
            self.packed = packed
        }

        /// Two 1 × 1 heads on the same input as one convolution (their outputs stacked).
        init(stacking a: Conv, _ b: Conv) {
            precondition(a.shape.kernel == 1 && b.shape.kernel == 1 && a.shape.inputs == b.shape.inputs && a.slopes == nil && b.slopes == nil)
            self.init(shape: Conv2dShape(inputs: a.shape.inputs, outputs: a.shape.outputs + b.shape.outputs, kernel: 1, stride: 1, padding: 0),
                      weight: a.weight + b.weight, bias: a.bias + b.bias, slopes: nil)
        }
    }
    struct Dense {
        let weight: [Float], bias: [Float]  // (out, in), (out)
        let inputs: Int, outputs: Int
        let slopes: [Float]?
    }

    let pnet: (conv1: Conv, conv2: Conv, conv3: Conv, score: Conv, box: Conv)
    /// P-Net's score (2) and box (4) heads as one 1 × 1 convolution of 6 outputs.
    let pnetHeads: Conv
    /// The direct convolution's AVX2 + FMA path (false: portable C; ERI_PORTABLE_KERNELS=1 forces it).
    let simd: Bool
    /// Scratch for one chunk of crops through R-Net's or O-Net's convolutions, reused chunk after chunk.
    let passes = ArenaPool(keepingAtMost: 16 << 20)
    /// Readable floats a convolution's input map must have after its end (see direct_conv.c).
    static let slack = Int(LIBERI_DIRECT_CONV_SLACK)
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
        pnetHeads = Conv(stacking: pnet.score, pnet.box)
        simd = liberi_direct_conv_simd() != 0
    }

    /// Room for a map of `count` floats that a convolution may read: `slack` zeros follow it.
    static func map(_ count: Int, arena: Arena) -> UnsafeMutablePointer<Float> {
        let p = arena.floats(count + slack).baseAddress!
        (p + count).initialize(repeating: 0, count: slack)
        return p
    }

    /// conv (+ bias) (+ PReLU) on a wide CNHW map; the output is wide too (rows as far apart as the input's).
    func run(_ c: Conv, _ x: WideMap, arena: Arena) -> WideMap {
        let k = c.shape.kernel
        let plane = Int(liberi_direct_conv_plane(Int32(x.height), Int32(x.width), Int32(x.rowStride), Int32(k)))
        let y = WideMap(values: Self.map(c.shape.outputs * x.images * plane, arena: arena), images: x.images,
                        height: x.height - k + 1, width: x.width - k + 1, rowStride: x.rowStride, planeStride: plane)
        if simd { directConvolution(c, x, simd: true, into: y.values) } else { gemmConvolution(c, x, arena: arena, into: y.values) }
        return y
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

    /// Ceil-mode max-pooling of a wide CNHW map of `channels` channels into a dense one.
    func pool(_ x: WideMap, channels: Int, kernel: Int, stride: Int, arena: Arena) -> WideMap {
        let oh = ceilPoolSide(x.height, kernel: kernel, stride: stride), ow = ceilPoolSide(x.width, kernel: kernel, stride: stride)
        let planes = channels * x.images
        let y = WideMap(dense: Self.map(planes * oh * ow, arena: arena), images: x.images, height: oh, width: ow)   // (planes, oh, ow)
        parallelRanges(planes, grain: max(1, 16_384 / max(1, x.height * x.width))) { r in
            liberi_max_pool_ceil(x.values, Int32(x.height), Int32(x.width), Int32(x.rowStride), Int32(x.planeStride), Int32(kernel),
                                 Int32(stride), Int32(oh), Int32(ow), Int32(r.lowerBound), Int32(r.upperBound), simd ? 1 : 0, y.values)
        }
        return y
    }

    /// P-Net on one normalised 3 × h × w image (followed by `slack` readable floats): the face
    /// probability and the box regression of every 12 × 12 cell (stride 2), oh × ow each
    /// (probabilities), 4 × oh × ow (regression).
    func proposals(_ image: UnsafeMutablePointer<Float>, height h: Int, width w: Int, arena: Arena)
        -> (probability: UnsafeMutablePointer<Float>, regression: UnsafeMutablePointer<Float>, height: Int, width: Int) {
        var x = run(pnet.conv1, WideMap(dense: image, images: 1, height: h, width: w), arena: arena)
        x = pool(x, channels: 10, kernel: 2, stride: 2, arena: arena)
        x = run(pnet.conv2, x, arena: arena)
        x = run(pnet.conv3, x, arena: arena)
        let heads = run(pnetHeads, x, arena: arena)   // (2 + 4, 1, oh, ow), wide
        let oh = heads.height, ow = heads.width, n = oh * ow
        let probability = arena.floats(n).baseAddress!        // (oh, ow)
        let regression = arena.floats(4 * n).baseAddress!     // (4, oh, ow)
        for y in 0..<oh {
            let row = heads.values + y * heads.rowStride
            let background = row, face = row + heads.planeStride
            for x in 0..<ow { probability[y * ow + x] = faceProbability(background[x], face[x]) }
            for c in 0..<4 { (regression + c * n + y * ow).update(from: row + (2 + c) * heads.planeStride, count: ow) }
        }
        return (probability, regression, oh, ow)
    }

    /// The chunked CNHW layout of the crops R-Net (side 24) and O-Net (48) read: each chunk
    /// of `chunk` crops (fewer in the last) a CNHW block (3 × m × side × side) of its own, one
    /// after another. A chunk is one pass through the convolutions, whose maps then stay in the
    /// core's L2 cache (R-Net's first, 28 × 4 × 528 floats, 236 KB) instead of going out to L3
    /// between layers (1.4× faster on the 640 × 480 benchmark frame); threads share the chunks.
    struct CropLayout {
        let side: Int, chunk: Int

        /// Where crop k of n goes: the offset of its first plane and the distance between its
        /// three planes.
        func place(_ k: Int, of n: Int) -> (offset: Int, planeStride: Int) {
            let start = k / chunk * chunk, m = min(chunk, n - start), plane = side * side
            return (3 * start * plane + (k - start) * plane, m * plane)
        }
    }

    static let refineLayout = CropLayout(side: 24, chunk: 4), outputLayout = CropLayout(side: 48, chunk: 1)

    /// R-Net on `n` normalised 24 × 24 crops (`refineLayout`, followed by `slack`
    /// readable floats): each crop's face probability and box regression (n × 4).
    func refine(_ crops: UnsafeMutablePointer<Float>, count n: Int, arena: Arena)
        -> (probability: [Float], regression: UnsafeMutablePointer<Float>) {
        let features = convolved(crops, count: n, layout: Self.refineLayout, width: 576, arena: arena) { x, pass in
            var x = run(rnet.conv1, x, arena: pass)
            x = pool(x, channels: 28, kernel: 3, stride: 2, arena: pass)
            x = run(rnet.conv2, x, arena: pass)
            x = pool(x, channels: 48, kernel: 3, stride: 2, arena: pass)
            return (run(rnet.conv3, x, arena: pass), 64)
        }
        let hidden = run(rnet.dense, features, rows: n, arena: arena)
        let scores = run(rnet.score, hidden, rows: n, arena: arena)                                // (n, 2)
        let regression = run(rnet.box, hidden, rows: n, arena: arena)                              // (n, 4)
        return ((0..<n).map { faceProbability(scores[2 * $0], scores[2 * $0 + 1]) }, regression)
    }

    /// O-Net on `n` normalised 48 × 48 crops (`outputLayout`, followed by `slack`
    /// readable floats): probabilities, box regression (n × 4) and landmarks (n × 10: five x,
    /// then five y, as fractions of the box).
    func output(_ crops: UnsafeMutablePointer<Float>, count n: Int, arena: Arena)
        -> (probability: [Float], regression: UnsafeMutablePointer<Float>, landmarks: UnsafeMutablePointer<Float>) {
        let features = convolved(crops, count: n, layout: Self.outputLayout, width: 1152, arena: arena) { x, pass in
            var x = run(onet.conv1, x, arena: pass)
            x = pool(x, channels: 32, kernel: 3, stride: 2, arena: pass)
            x = run(onet.conv2, x, arena: pass)
            x = pool(x, channels: 64, kernel: 3, stride: 2, arena: pass)
            x = run(onet.conv3, x, arena: pass)
            x = pool(x, channels: 64, kernel: 2, stride: 2, arena: pass)
            return (run(onet.conv4, x, arena: pass), 128)
        }
        let hidden = run(onet.dense, features, rows: n, arena: arena)
        let scores = run(onet.score, hidden, rows: n, arena: arena)                                // (n, 2)
        return ((0..<n).map { faceProbability(scores[2 * $0], scores[2 * $0 + 1]) },
                run(onet.box, hidden, rows: n, arena: arena), run(onet.landmarks, hidden, rows: n, arena: arena))
    }

    /// A network's convolutional layers (`layers`: a chunk's input map → its last map and that
    /// map's channels) on `n` crops of side × side, `chunk` crops at a time, the chunks side by
    /// side on the compute threads (each chunk's layers then run on its thread), each last map
    /// flattened into the rows of the dense layers' input (n × `width`).
    private func convolved(_ crops: UnsafeMutablePointer<Float>, count n: Int, layout: CropLayout, width: Int, arena: Arena,
                           _ layers: (WideMap, Arena) -> (map: WideMap, channels: Int)) -> UnsafeMutablePointer<Float> {
        let features = arena.floats(n * width).baseAddress!   // (n, features)
        let side = layout.side, chunk = layout.chunk
        parallelFor((n + chunk - 1) / chunk) { index in
            let start = index * chunk, m = min(chunk, n - start)
            passes.withArena { pass in
                let (map, channels) = layers(WideMap(dense: crops + 3 * start * side * side, images: m, height: side, width: side), pass)
                precondition(channels * map.height * map.width == width)
                flatten(map, channels: channels, into: features + start * width)
            }
        }
        return features
    }

    /// The dense layers' input: facenet-pytorch flattens each map after
    /// `permute(0, 3, 2, 1)`, i.e. in (x, y, c) order; from a wide CNHW map into rows of `out`.
    private func flatten(_ x: WideMap, channels: Int, into out: UnsafeMutablePointer<Float>) {
        let h = x.height, w = x.width, per = channels * h * w
        for n in 0..<x.images {
            for xx in 0..<w { for yy in 0..<h { for c in 0..<channels {
                out[n * per + (xx * h + yy) * channels + c] = x.values[(c * x.images + n) * x.planeStride + yy * x.rowStride + xx]
            } } }
        }
    }

    /// The second of a two-way softmax, as PyTorch computes it (shift by the maximum).
    @inline(__always) private func faceProbability(_ background: Float, _ face: Float) -> Float {
        let m = max(background, face)
        let a = expf(background - m), b = expf(face - m)
        return b / (a + b)
    }
}

/// A CNHW map as the direct convolution reads and writes it ("wide", see direct_conv.c): for each
/// channel, `images` planes `planeStride` floats apart, rows `rowStride` apart, of which the first
/// `height` rows × `width` columns are valid; followed by `MTCNNNetworks.slack` readable floats.
struct WideMap {
    let values: UnsafeMutablePointer<Float>
    let images: Int, height: Int, width: Int, rowStride: Int, planeStride: Int

    init(values: UnsafeMutablePointer<Float>, images: Int, height: Int, width: Int, rowStride: Int, planeStride: Int) {
        self.values = values; self.images = images; self.height = height; self.width = width
        self.rowStride = rowStride; self.planeStride = planeStride
    }
    /// An ordinary CNHW map: every position valid.
    init(dense values: UnsafeMutablePointer<Float>, images: Int, height: Int, width: Int) {
        self.init(values: values, images: images, height: height, width: width, rowStride: width, planeStride: height * width)
    }
}

/// The same convolution as `directConvolution`, same layouts, as im2col + OpenBLAS's sgemm: the
/// detector's path where the AVX2 kernel does not run (other CPUs, ERI_PORTABLE_KERNELS=1), as
/// fast as the BLAS is there. On wide maps im2col is a shifted copy: column (n, q) of row
/// (c, ky, kx) is x[c][n][q + ky · rowStride + kx], and W · columns is the wide output.
func gemmConvolution(_ c: MTCNNNetworks.Conv, _ x: WideMap, arena: Arena, into y: UnsafeMutablePointer<Float>) {
    let s = c.shape, k = s.kernel
    precondition(s.stride == 1 && s.padding == 0 && (1...3).contains(k) && x.height >= k && x.width >= k)
    let plane = Int(liberi_direct_conv_plane(Int32(x.height), Int32(x.width), Int32(x.rowStride), Int32(k)))
    let n = x.images * plane
    let columns = arena.floats(s.patch * n).baseAddress!   // (C_in·k·k, images·plane)
    for ch in 0..<s.inputs { for ky in 0..<k { for kx in 0..<k {
        let row = columns + ((ch * k + ky) * k + kx) * n
        for i in 0..<x.images {
            (row + i * plane).update(from: x.values + (ch * x.images + i) * x.planeStride + ky * x.rowStride + kx, count: plane)
        }
    } } }
    c.weight.withUnsafeBufferPointer { w in
        gemm(m: s.outputs, n: n, k: s.patch, a: w.baseAddress!, lda: s.patch, b: columns, ldb: n, c: y, ldc: n)
    }
    for o in 0..<s.outputs {
        let out = y + o * n, beta = c.bias[o], a = c.slopes?[o] ?? 1
        for i in 0..<n { let v = out[i] + beta; out[i] = v > 0 ? v : v * a }
    }
}

/// The direct convolution of `c` (+ bias, + PReLU) on the wide map `x` into `y`, a wide map of
/// `liberi_direct_conv_plane` floats per plane (C_out, images), split over blocks of output
/// positions (each computed the same way whatever the split). `simd`: the AVX2 + FMA path, only
/// where `liberi_direct_conv_simd()` allows it.
func directConvolution(_ c: MTCNNNetworks.Conv, _ x: WideMap, simd: Bool, into y: UnsafeMutablePointer<Float>) {
    let s = c.shape
    precondition(s.stride == 1 && s.padding == 0 && (1...3).contains(s.kernel) && x.height >= s.kernel && x.width >= s.kernel)
    let units = Int(liberi_direct_conv_units(Int32(x.images), Int32(x.height), Int32(x.width), Int32(x.rowStride), Int32(s.kernel)))
    // A unit is 16 positions × every output channel × every tap; parts of at least ~64 K multiply-adds.
    let grain = max(1, 65_536 / max(1, 16 * s.outputs * s.patch))
    c.packed.withUnsafeBufferPointer { packed in
        c.bias.withUnsafeBufferPointer { bias in
            func run(_ slopes: UnsafePointer<Float>?) {
                parallelRanges(units, grain: grain) { r in
                    liberi_direct_conv(x.values, Int32(s.inputs), Int32(x.images), Int32(x.height), Int32(x.width), Int32(x.rowStride),
                                       Int32(x.planeStride), Int32(s.kernel), packed.baseAddress!, Int32(s.outputs), bias.baseAddress!,
                                       slopes, Int32(r.lowerBound), Int32(r.upperBound), simd ? 1 : 0, y)
                }
            }
            if let slopes = c.slopes { slopes.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
        }
    }
}
