import ERICore

/// SPEC §5 `Encoder(L)`: x + PE, L pre-norm EncoderLayers, a final LayerNorm.
struct TransformerEncoder {
    struct Layer {
        let ln1: LayerNormLayer
        let inProj: LinearLayer   // 3d × d, rows Q, K, V
        let outProj: LinearLayer
        let ln2: LayerNormLayer
        let ff1: LinearLayer
        let ff2: LinearLayer
    }

    let width: Int
    let heads: Int
    let ff: Int
    let layers: [Layer]
    let norm: LayerNormLayer
    /// PE rows for the longest sequence this encoder sees (grown on demand by callers' shapes).
    let positional: UnsafePointer<Float>
    let positionalRows: Int

    init(_ r: WeightReader, prefix: String, width: Int, config: ERIConfig.Encoder, maxLength: Int) {
        self.width = width
        heads = config.heads
        ff = config.ff
        layers = (0..<config.layers).map { l in
            let p = "\(prefix).layers.\(l)"
            return Layer(ln1: r.layerNorm("\(p).ln1"), inProj: r.linear("\(p).attn.in_proj"), outProj: r.linear("\(p).attn.out_proj"),
                         ln2: r.layerNorm("\(p).ln2"), ff1: r.linear("\(p).ff1"), ff2: r.linear("\(p).ff2"))
        }
        norm = r.layerNorm("\(prefix).norm")
        positionalRows = maxLength
        positional = r.store.put(positionalEncoding(rows: maxLength, width: width))
    }

    /// Encodes `sequences` sequences of `length` rows each (x: sequences·length × d,
    /// overwritten as scratch); keys at or past `validLengths[s]` are masked.
    /// Returns the normalised output (sequences·length × d) from `arena`.
    func forward(_ x: UnsafeMutablePointer<Float>, sequences: Int, length: Int, validLengths: [Int]?,
                 arena: Arena) -> UnsafeMutablePointer<Float> {
        let d = width
        let rows = sequences * length
        precondition(length <= positionalRows, "sequence longer than the positional table")
        for s in 0..<sequences { addInPlace(x + s * length * d, positional, length * d) }
        let normed = arena.floats(rows * d).baseAddress!
        let qkv = arena.floats(rows * 3 * d).baseAddress!
        let attended = arena.floats(rows * d).baseAddress!
        let hidden = arena.floats(rows * ff).baseAddress!
        let scores = arena.floats(length * length).baseAddress!
        for layer in layers {
            // h = x + OutProj(MHA(LN1(x)))
            layer.ln1(x, rows: rows, width: d, into: normed)
            layer.inProj(normed, rows: rows, into: qkv)
            multiHeadAttention(qkv: qkv, sequences: sequences, length: length, width: d, heads: heads,
                               validLengths: validLengths, scores: scores, into: attended)
            layer.outProj(attended, rows: rows, into: normed)
            addInPlace(x, normed, rows * d)
            // y = h + FF2(GELU(FF1(LN2(h))))
            layer.ln2(x, rows: rows, width: d, into: normed)
            layer.ff1(normed, rows: rows, into: hidden)
            gelu(hidden, rows * ff)
            layer.ff2(hidden, rows: rows, into: normed)
            addInPlace(x, normed, rows * d)
        }
        let out = arena.floats(rows * d).baseAddress!
        norm(x, rows: rows, width: d, into: out)
        return out
    }
}

/// SPEC §5 `TCNBlock`s, applied to one sequence at a time so that the
/// dilated taps never reach across clips; steps at or past `valid` are zero.
struct TemporalConvNet {
    struct Block {
        let conv1Taps: UnsafePointer<Float>, conv1Bias: UnsafePointer<Float>
        let conv2Taps: UnsafePointer<Float>, conv2Bias: UnsafePointer<Float>
        let dilation: Int
    }
    let width: Int
    let kernel: Int
    let blocks: [Block]

    init(_ r: WeightReader, prefix: String, width d: Int, config: ERIConfig.TCN) {
        width = d
        kernel = config.kernel
        blocks = config.dilations.enumerated().map { k, dilation in
            let p = "\(prefix).\(k)"
            return Block(conv1Taps: r.store.put(conv1dTaps(r.values("\(p).conv1.weight"), outputs: d, inputs: d, kernel: config.kernel)),
                         conv1Bias: r.pointer("\(p).conv1.bias"),
                         conv2Taps: r.store.put(conv1dTaps(r.values("\(p).conv2.weight"), outputs: d, inputs: d, kernel: config.kernel)),
                         conv2Bias: r.pointer("\(p).conv2.bias"),
                         dilation: dilation)
        }
    }

    /// x: sequences·length × d, updated in place.
    func forward(_ x: UnsafeMutablePointer<Float>, sequences: Int, length: Int, validLengths: [Int]?, arena: Arena) {
        let d = width
        let a = arena.floats(length * d).baseAddress!
        let b = arena.floats(length * d).baseAddress!
        for s in 0..<sequences {
            let xs = x + s * length * d
            let valid = validLengths?[s] ?? length
            // The block input is masked too: proj's bias makes padded rows non-zero (SPEC §5).
            if valid < length { (xs + valid * d).update(repeating: 0, count: (length - valid) * d) }
            for block in blocks {
                conv1dSame(xs, steps: length, inputs: d, taps: block.conv1Taps, kernel: kernel, dilation: block.dilation,
                           bias: block.conv1Bias, outputs: d, into: a)
                relu(a, valid * d)
                if valid < length { (a + valid * d).update(repeating: 0, count: (length - valid) * d) }
                conv1dSame(a, steps: length, inputs: d, taps: block.conv2Taps, kernel: kernel, dilation: block.dilation,
                           bias: block.conv2Bias, outputs: d, into: b)
                // y = ReLU(x + ReLU(b)), zero past the valid length
                for i in 0..<(valid * d) { xs[i] = max(xs[i] + max(b[i], 0), 0) }
            }
        }
    }
}
