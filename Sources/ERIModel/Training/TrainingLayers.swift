import ERICore

// Training-mode layers: each forward keeps what its backward needs in the
// step's arena, and each backward accumulates into its parameters'
// gradients. They mirror the inference layers of Encoder.swift, unfolded.

/// Inverted dropout masks drawn from the step's generator: each kept value
/// is scaled by 1/(1 − p). With p = 0 no mask is drawn and nothing changes.
struct Dropout {
    let p: Float

    /// Returns the mask (nil when p = 0) after applying it to x in place.
    func forward(_ x: UnsafeMutablePointer<Float>, _ n: Int, arena: Arena, rng: inout SeededGenerator) -> UnsafeMutablePointer<Float>? {
        guard p > 0 else { return nil }
        let mask = arena.floats(n).baseAddress!
        let keep = 1 / (1 - p)
        for i in 0..<n {
            mask[i] = rng.uniform(0, 1) < p ? 0 : keep
            x[i] *= mask[i]
        }
        return mask
    }

    static func backward(_ mask: UnsafeMutablePointer<Float>?, _ dy: UnsafeMutablePointer<Float>, _ n: Int) {
        guard let mask else { return }
        for i in 0..<n { dy[i] *= mask[i] }
    }
}

struct TrainLinear {
    let weight: Parameter, bias: Parameter
    var inputs: Int { weight.shape[1] }
    var outputs: Int { weight.shape[0] }

    init(_ p: Parameters, _ prefix: String) {
        weight = p[prefix + ".weight"]
        bias = p[prefix + ".bias"]
    }

    func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        linear(x, rows: rows, inputs: inputs, weight: weight.value, bias: bias.value, outputs: outputs, into: y)
    }

    func backward(_ dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows: Int, dx: UnsafeMutablePointer<Float>?, accumulate: Bool = false) {
        linearBackward(dy, x, rows: rows, inputs: inputs, outputs: outputs, weight: weight.value, dx: dx, accumulateDX: accumulate,
                       dWeight: weight.gradient, dBias: bias.gradient)
    }
}

struct TrainLayerNorm {
    let weight: Parameter, bias: Parameter
    init(_ p: Parameters, _ prefix: String) {
        weight = p[prefix + ".weight"]
        bias = p[prefix + ".bias"]
    }

    struct Cache { let normalised: UnsafeMutablePointer<Float>; let inverseStd: UnsafeMutablePointer<Float> }

    func forward(_ x: UnsafePointer<Float>, rows: Int, width: Int, into y: UnsafeMutablePointer<Float>, arena: Arena) -> Cache {
        let c = Cache(normalised: arena.floats(rows * width).baseAddress!, inverseStd: arena.floats(rows).baseAddress!)
        layerNormTraining(x, rows: rows, width: width, weight: weight.value, bias: bias.value, into: y,
                          normalised: c.normalised, inverseStd: c.inverseStd)
        return c
    }

    func backward(_ dy: UnsafePointer<Float>, cache: Cache, rows: Int, width: Int, dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        layerNormBackward(dy, rows: rows, width: width, weight: weight.value, normalised: cache.normalised, inverseStd: cache.inverseStd,
                          dx: dx, accumulate: accumulate, dWeight: weight.gradient, dBias: bias.gradient)
    }
}

/// SPEC §5 Encoder in training mode.
struct TrainEncoder {
    struct Layer {
        let ln1: TrainLayerNorm, inProj: TrainLinear, outProj: TrainLinear, ln2: TrainLayerNorm, ff1: TrainLinear, ff2: TrainLinear
    }
    struct LayerCache {
        let input: UnsafeMutablePointer<Float>       // x (rows × d)
        let ln1: TrainLayerNorm.Cache, normed1: UnsafeMutablePointer<Float>
        let qkv: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>, attended: UnsafeMutablePointer<Float>
        let dropAttention: UnsafeMutablePointer<Float>?
        let residual: UnsafeMutablePointer<Float>    // h
        let ln2: TrainLayerNorm.Cache, normed2: UnsafeMutablePointer<Float>
        let preActivation: UnsafeMutablePointer<Float>, activated: UnsafeMutablePointer<Float>
        let dropHidden: UnsafeMutablePointer<Float>?, dropOutput: UnsafeMutablePointer<Float>?
    }
    struct Cache {
        var layers: [LayerCache]
        let last: UnsafeMutablePointer<Float>     // input of the final norm
        let norm: TrainLayerNorm.Cache
        let sequences: Int, length: Int, valid: [Int]?
    }

    let width: Int, heads: Int, ff: Int
    let layers: [Layer]
    let norm: TrainLayerNorm
    let dropout: Dropout

    init(_ p: Parameters, prefix: String, width: Int, config: ERIConfig.Encoder, dropout: Float) {
        self.width = width
        heads = config.heads
        ff = config.ff
        layers = (0..<config.layers).map { l in
            let q = "\(prefix).layers.\(l)"
            return Layer(ln1: TrainLayerNorm(p, "\(q).ln1"), inProj: TrainLinear(p, "\(q).attn.in_proj"), outProj: TrainLinear(p, "\(q).attn.out_proj"),
                         ln2: TrainLayerNorm(p, "\(q).ln2"), ff1: TrainLinear(p, "\(q).ff1"), ff2: TrainLinear(p, "\(q).ff2"))
        }
        norm = TrainLayerNorm(p, "\(prefix).norm")
        self.dropout = Dropout(p: dropout)
    }

    /// x: sequences·length × d (read only). Returns the output and the cache.
    func forward(_ x: UnsafePointer<Float>, sequences: Int, length: Int, valid: [Int]?, arena: Arena,
                 rng: inout SeededGenerator) -> (UnsafeMutablePointer<Float>, Cache) {
        let d = width, rows = sequences * length
        var current = arena.floats(rows * d).baseAddress!
        current.update(from: x, count: rows * d)
        let pe = positionalEncoding(rows: length, width: d)
        pe.withUnsafeBufferPointer { pe in for s in 0..<sequences { addInPlace(current + s * length * d, pe.baseAddress!, length * d) } }
        var caches: [LayerCache] = []
        for layer in layers {
            let normed1 = arena.floats(rows * d).baseAddress!
            let ln1 = layer.ln1.forward(current, rows: rows, width: d, into: normed1, arena: arena)
            let qkv = arena.floats(rows * 3 * d).baseAddress!
            layer.inProj.forward(normed1, rows: rows, into: qkv)
            let probabilities = arena.floats(sequences * heads * length * length).baseAddress!
            let attended = arena.floats(rows * d).baseAddress!
            multiHeadAttentionTraining(qkv: qkv, sequences: sequences, length: length, width: d, heads: heads, validLengths: valid,
                                       probabilities: probabilities, into: attended)
            let residual = arena.floats(rows * d).baseAddress!
            layer.outProj.forward(attended, rows: rows, into: residual)
            let dropAttention = dropout.forward(residual, rows * d, arena: arena, rng: &rng)
            addInPlace(residual, current, rows * d)                          // h = x + Drop(OutProj(…))
            let normed2 = arena.floats(rows * d).baseAddress!
            let ln2 = layer.ln2.forward(residual, rows: rows, width: d, into: normed2, arena: arena)
            let preActivation = arena.floats(rows * ff).baseAddress!
            layer.ff1.forward(normed2, rows: rows, into: preActivation)
            let activated = arena.floats(rows * ff).baseAddress!
            // GELU (erf per element) split over the threads: element-wise, the same at any count.
            let pre = UnsafePointer(preActivation)
            parallelRanges(rows * ff, grain: 1 << 14) { r in
                (activated + r.lowerBound).update(from: pre + r.lowerBound, count: r.count)
                gelu(activated + r.lowerBound, r.count)
            }
            let dropHidden = dropout.forward(activated, rows * ff, arena: arena, rng: &rng)
            let next = arena.floats(rows * d).baseAddress!
            layer.ff2.forward(activated, rows: rows, into: next)
            let dropOutput = dropout.forward(next, rows * d, arena: arena, rng: &rng)
            addInPlace(next, residual, rows * d)                             // y = h + Drop(FF2(…))
            caches.append(LayerCache(input: current, ln1: ln1, normed1: normed1, qkv: qkv, probabilities: probabilities, attended: attended,
                                     dropAttention: dropAttention, residual: residual, ln2: ln2, normed2: normed2,
                                     preActivation: preActivation, activated: activated, dropHidden: dropHidden, dropOutput: dropOutput))
            current = next
        }
        let out = arena.floats(rows * d).baseAddress!
        let normCache = norm.forward(current, rows: rows, width: d, into: out, arena: arena)
        return (out, Cache(layers: caches, last: current, norm: normCache, sequences: sequences, length: length, valid: valid))
    }

    /// dOut → dx (rows × d, overwritten).
    func backward(_ dOut: UnsafePointer<Float>, cache: Cache, arena: Arena, dx: UnsafeMutablePointer<Float>) {
        let d = width, rows = cache.sequences * cache.length, length = cache.length
        let dCurrent = arena.floats(rows * d).baseAddress!
        norm.backward(dOut, cache: cache.norm, rows: rows, width: d, dx: dCurrent, accumulate: false)
        let scratch = arena.floats(rows * max(ff, 3 * d)).baseAddress!
        let dSmall = arena.floats(rows * d).baseAddress!
        let scores = arena.floats(length * length).baseAddress!
        for (layer, c) in zip(layers, cache.layers).reversed() {
            // y = h + Drop(FF2(Drop(GELU(FF1(LN2(h)))))): dCurrent is dy, becomes dh.
            dSmall.update(from: dCurrent, count: rows * d)
            Dropout.backward(c.dropOutput, dSmall, rows * d)
            let dHidden = scratch
            layer.ff2.backward(dSmall, input: c.activated, rows: rows, dx: dHidden)
            Dropout.backward(c.dropHidden, dHidden, rows * ff)
            geluBackward(c.preActivation, dHidden, rows * ff)
            layer.ff1.backward(dHidden, input: c.normed2, rows: rows, dx: dSmall)
            layer.ln2.backward(dSmall, cache: c.ln2, rows: rows, width: d, dx: dCurrent, accumulate: true)
            // h = x + Drop(OutProj(MHA(LN1(x)))): dCurrent is dh, becomes dx.
            dSmall.update(from: dCurrent, count: rows * d)
            Dropout.backward(c.dropAttention, dSmall, rows * d)
            let dAttended = arena.floats(rows * d).baseAddress!
            layer.outProj.backward(dSmall, input: c.attended, rows: rows, dx: dAttended)
            let dQKV = scratch
            multiHeadAttentionBackward(qkv: c.qkv, probabilities: c.probabilities, dOut: dAttended, sequences: cache.sequences,
                                       length: length, width: d, heads: heads, scratch: scores, dQKV: dQKV)
            layer.inProj.backward(dQKV, input: c.normed1, rows: rows, dx: dSmall)
            layer.ln1.backward(dSmall, cache: c.ln1, rows: rows, width: d, dx: dCurrent, accumulate: true)
        }
        dx.update(from: dCurrent, count: rows * d)
    }
}

/// SPEC §5 TCN blocks in training mode, one sequence at a time.
struct TrainTCN {
    struct Block {
        let conv1Weight: Parameter, conv1Bias: Parameter, conv2Weight: Parameter, conv2Bias: Parameter
        let dilation: Int
    }
    struct BlockCache {
        let input: UnsafeMutablePointer<Float>    // masked x
        let a: UnsafeMutablePointer<Float>        // ReLU(conv1) masked, before dropout
        let aDropped: UnsafeMutablePointer<Float> // conv2's input
        let dropA: UnsafeMutablePointer<Float>?
        let b: UnsafeMutablePointer<Float>        // ReLU(conv2) masked
        let dropB: UnsafeMutablePointer<Float>?
        let output: UnsafeMutablePointer<Float>
        let taps1: UnsafeMutablePointer<Float>, taps2: UnsafeMutablePointer<Float>
    }

    let width: Int, kernel: Int
    let blocks: [Block]
    let dropout: Dropout

    init(_ p: Parameters, prefix: String, width: Int, config: ERIConfig.TCN, dropout: Float) {
        self.width = width
        kernel = config.kernel
        blocks = config.dilations.enumerated().map { k, dilation in
            Block(conv1Weight: p["\(prefix).\(k).conv1.weight"], conv1Bias: p["\(prefix).\(k).conv1.bias"],
                  conv2Weight: p["\(prefix).\(k).conv2.weight"], conv2Bias: p["\(prefix).\(k).conv2.bias"], dilation: dilation)
        }
        self.dropout = Dropout(p: dropout)
    }

    func taps(_ w: Parameter, arena: Arena) -> UnsafeMutablePointer<Float> {
        let t = arena.floats(w.count).baseAddress!
        let d = width
        for o in 0..<d { for i in 0..<d { for k in 0..<kernel { t[(k * d + o) * d + i] = w.value[(o * d + i) * kernel + k] } } }
        return t
    }

    /// One dilated convolution applied to each sequence separately (taps never cross clips).
    func convolve(_ x: UnsafePointer<Float>, taps: UnsafePointer<Float>, bias: Parameter, dilation: Int,
                  sequences: Int, length: Int, into y: UnsafeMutablePointer<Float>) {
        let d = width
        for s in 0..<sequences {
            let o = s * length * d
            conv1dSame(x + o, steps: length, inputs: d, taps: taps, kernel: kernel, dilation: dilation, bias: bias.value, outputs: d, into: y + o)
        }
    }

    /// x: sequences·length × d (read only); returns the output and per-block caches.
    func forward(_ x: UnsafePointer<Float>, sequences: Int, length: Int, valid: [Int]?, arena: Arena,
                 rng: inout SeededGenerator) -> (UnsafeMutablePointer<Float>, [BlockCache]) {
        let d = width, n = sequences * length * d
        var current = arena.floats(n).baseAddress!
        current.update(from: x, count: n)
        maskRows(current, sequences: sequences, length: length, width: d, valid: valid)
        var caches: [BlockCache] = []
        for block in blocks {
            let t1 = taps(block.conv1Weight, arena: arena), t2 = taps(block.conv2Weight, arena: arena)
            let a = arena.floats(n).baseAddress!, aDropped = arena.floats(n).baseAddress!
            let b = arena.floats(n).baseAddress!, out = arena.floats(n).baseAddress!
            convolve(current, taps: t1, bias: block.conv1Bias, dilation: block.dilation, sequences: sequences, length: length, into: a)
            relu(a, n)
            maskRows(a, sequences: sequences, length: length, width: d, valid: valid)
            aDropped.update(from: a, count: n)
            let dropA = dropout.forward(aDropped, n, arena: arena, rng: &rng)
            convolve(aDropped, taps: t2, bias: block.conv2Bias, dilation: block.dilation, sequences: sequences, length: length, into: b)
            relu(b, n)
            maskRows(b, sequences: sequences, length: length, width: d, valid: valid)
            out.update(from: b, count: n)
            let dropB = dropout.forward(out, n, arena: arena, rng: &rng)
            for i in 0..<n { out[i] = max(out[i] + current[i], 0) }
            maskRows(out, sequences: sequences, length: length, width: d, valid: valid)
            caches.append(BlockCache(input: current, a: a, aDropped: aDropped, dropA: dropA, b: b, dropB: dropB, output: out, taps1: t1, taps2: t2))
            current = out
        }
        return (current, caches)
    }

    /// dy → dx (overwritten), accumulating the conv gradients.
    func backward(_ dOut: UnsafePointer<Float>, caches: [BlockCache], sequences: Int, length: Int, valid: [Int]?, arena: Arena,
                  dx: UnsafeMutablePointer<Float>) {
        let d = width, n = sequences * length * d
        let dy = arena.floats(n).baseAddress!
        dy.update(from: dOut, count: n)
        let dSum = arena.floats(n).baseAddress!, dA = arena.floats(n).baseAddress!, dIn = arena.floats(n).baseAddress!
        let dTaps = arena.floats(d * d * kernel).baseAddress!
        for (block, c) in zip(blocks, caches).reversed() {
            // y = ReLU(x + Drop(b)) masked
            maskRows(dy, sequences: sequences, length: length, width: d, valid: valid)
            for i in 0..<n { dSum[i] = c.output[i] > 0 ? dy[i] : 0 }
            dIn.update(from: dSum, count: n)                       // the residual path
            Dropout.backward(c.dropB, dSum, n)
            reluBackward(c.b, dSum, n)                             // b = ReLU(conv2)·mask: zero where b = 0
            dA.update(repeating: 0, count: n)
            dTaps.update(repeating: 0, count: d * d * kernel)
            for s in 0..<sequences {
                let o = s * length * d
                conv1dSameBackward(dSum + o, c.aDropped + o, steps: length, inputs: d, outputs: d, taps: c.taps2, kernel: kernel,
                                   dilation: block.dilation, dx: dA + o, dTaps: dTaps, dBias: block.conv2Bias.gradient)
            }
            accumulateTaps(dTaps, into: block.conv2Weight)
            Dropout.backward(c.dropA, dA, n)
            reluBackward(c.a, dA, n)
            dTaps.update(repeating: 0, count: d * d * kernel)
            for s in 0..<sequences {
                let o = s * length * d
                conv1dSameBackward(dA + o, c.input + o, steps: length, inputs: d, outputs: d, taps: c.taps1, kernel: kernel,
                                   dilation: block.dilation, dx: dIn + o, dTaps: dTaps, dBias: block.conv1Bias.gradient)
            }
            accumulateTaps(dTaps, into: block.conv1Weight)
            dy.update(from: dIn, count: n)
        }
        maskRows(dy, sequences: sequences, length: length, width: d, valid: valid)   // the block input was masked
        dx.update(from: dy, count: n)
    }

    func accumulateTaps(_ dTaps: UnsafePointer<Float>, into w: Parameter) {
        let d = width
        for o in 0..<d { for i in 0..<d { for k in 0..<kernel { w.gradient[(o * d + i) * kernel + k] += dTaps[(k * d + o) * d + i] } } }
    }
}

/// Zeroes rows (of `width` floats) at or past each sequence's valid length.
func maskRows(_ x: UnsafeMutablePointer<Float>, sequences: Int, length: Int, width: Int, valid: [Int]?) {
    guard let valid else { return }
    for s in 0..<sequences where valid[s] < length {
        (x + (s * length + valid[s]) * width).update(repeating: 0, count: (length - valid[s]) * width)
    }
}
