import ERICore

/// SPEC §5 MHA: [Q K V] = x·W_inᵀ + b_in, softmax(QKᵀ/√(d/heads)) per head
/// with padded keys masked, heads concatenated, then `out_proj`.
struct MultiHeadAttention {
    let inProj: Linear   // (3d, d), rows Q, K, V
    let outProj: Linear  // (d, d)
    let heads: Int

    struct Cache {
        let qkv: UnsafeMutablePointer<Float>            // (rows, 3d)
        let probabilities: UnsafeMutablePointer<Float>  // (sequences, heads, length, length)
        let attended: UnsafeMutablePointer<Float>       // (rows, d)
    }

    /// x (rows × d, rows = sequences·length) → out = OutProj(MHA(x)) (rows × d).
    func forward(_ x: UnsafePointer<Float>, sequences: Int, length: Int, width d: Int, valid: [Int]?,
                 arena: Arena, tape: Tape?, into out: UnsafeMutablePointer<Float>) -> Cache? {
        let rows = sequences * length
        let qkv = arena.floats(rows * 3 * d).baseAddress!                                   // (rows, 3d)
        let keep = tape != nil
        let probabilities = arena.floats((keep ? sequences * heads : 1) * length * length).baseAddress!  // (S·heads | 1, L, L)
        let attended = arena.floats(rows * d).baseAddress!                                  // (rows, d)
        inProj.forward(x, rows: rows, into: qkv)
        multiHeadAttention(qkv: qkv, sequences: sequences, length: length, width: d, heads: heads, validLengths: valid,
                           probabilities: probabilities, keep: keep, into: attended)
        outProj.forward(attended, rows: rows, into: out)
        return keep ? Cache(qkv: qkv, probabilities: probabilities, attended: attended) : nil
    }

    /// dOut (rows × d) → dx (rows × d, overwritten); `x` is the forward's input.
    func backward(_ dOut: UnsafePointer<Float>, input x: UnsafePointer<Float>, cache: Cache, sequences: Int, length: Int, width d: Int,
                  arena: Arena, into dx: UnsafeMutablePointer<Float>) {
        let rows = sequences * length
        let dAttended = arena.floats(rows * d).baseAddress!      // (rows, d)
        let dQKV = arena.floats(rows * 3 * d).baseAddress!       // (rows, 3d)
        let scratch = arena.floats(length * length).baseAddress!  // (L, L)
        outProj.backward(dOut, input: cache.attended, rows: rows, dx: dAttended)
        multiHeadAttentionBackward(qkv: cache.qkv, probabilities: cache.probabilities, dOut: dAttended, sequences: sequences,
                                   length: length, width: d, heads: heads, scratch: scratch, dQKV: dQKV)
        inProj.backward(dQKV, input: x, rows: rows, dx: dx)
    }
}

/// SPEC §5 `EncoderLayer(d, heads, ff)`, pre-norm:
/// h = x + Drop(OutProj(MHA(LN1(x)))), y = h + Drop(FF2(Drop(GELU(FF1(LN2(h)))))).
struct EncoderLayer {
    let ln1: LayerNorm, attention: MultiHeadAttention, ln2: LayerNorm, ff1: Linear, ff2: Linear

    init(_ p: Parameters, prefix: String, heads: Int) {
        ln1 = LayerNorm(p, prefix + ".ln1")
        attention = MultiHeadAttention(inProj: Linear(p, prefix + ".attn.in_proj"), outProj: Linear(p, prefix + ".attn.out_proj"),
                                       heads: heads)
        ln2 = LayerNorm(p, prefix + ".ln2")
        ff1 = Linear(p, prefix + ".ff1")
        ff2 = Linear(p, prefix + ".ff2")
    }

    var ff: Int { ff1.outputs }

    struct Cache {
        let ln1: LayerNorm.Cache, normed1: UnsafeMutablePointer<Float>, attention: MultiHeadAttention.Cache
        let dropAttention: UnsafeMutablePointer<Float>?
        let ln2: LayerNorm.Cache, normed2: UnsafeMutablePointer<Float>
        let preActivation: UnsafeMutablePointer<Float>, activated: UnsafeMutablePointer<Float>
        let dropHidden: UnsafeMutablePointer<Float>?, dropOutput: UnsafeMutablePointer<Float>?
    }

    /// x (rows × d, read) → y (rows × d, a new arena buffer).
    func forward(_ x: UnsafePointer<Float>, sequences: Int, length: Int, width d: Int, valid: [Int]?,
                 arena: Arena, tape: Tape?) -> (UnsafeMutablePointer<Float>, Cache?) {
        let rows = sequences * length
        let y = arena.floats(rows * d).baseAddress!         // (rows, d)
        let scratch = arena.mark                            // inference: the rest is scratch, rewound at the end
        defer { if tape == nil { arena.rewind(to: scratch) } }
        let normed1 = arena.floats(rows * d).baseAddress!   // (rows, d)
        let ln1Cache = ln1.forward(x, rows: rows, width: d, into: normed1, tape: tape)
        let h = arena.floats(rows * d).baseAddress!         // (rows, d)
        let attentionCache = attention.forward(normed1, sequences: sequences, length: length, width: d, valid: valid,
                                               arena: arena, tape: tape, into: h)
        let dropAttention = tape?.drop(h, rows * d)
        addInPlace(h, x, rows * d)                          // h = x + Drop(OutProj(…))
        let normed2 = arena.floats(rows * d).baseAddress!   // (rows, d)
        let ln2Cache = ln2.forward(h, rows: rows, width: d, into: normed2, tape: tape)
        let preActivation = arena.floats(rows * ff).baseAddress!                                   // (rows, ff)
        ff1.forward(normed2, rows: rows, into: preActivation)
        // GELU in place for inference; training keeps its input for the backward pass.
        let activated = tape == nil ? preActivation : arena.floats(rows * ff).baseAddress!        // (rows, ff)
        let pre = UnsafePointer(preActivation)
        parallelRanges(rows * ff, grain: 1 << 14) { r in   // element-wise: the same at any thread count
            if activated != preActivation { (activated + r.lowerBound).update(from: pre + r.lowerBound, count: r.count) }
            gelu(activated + r.lowerBound, r.count)
        }
        let dropHidden = tape?.drop(activated, rows * ff)
        ff2.forward(activated, rows: rows, into: y)
        let dropOutput = tape?.drop(y, rows * d)
        addInPlace(y, h, rows * d)                          // y = h + Drop(FF2(…))
        guard tape != nil else { return (y, nil) }
        return (y, Cache(ln1: ln1Cache!, normed1: normed1, attention: attentionCache!, dropAttention: dropAttention,
                         ln2: ln2Cache!, normed2: normed2, preActivation: preActivation, activated: activated,
                         dropHidden: dropHidden, dropOutput: dropOutput))
    }

    /// dy (rows × d) → dx (rows × d, overwritten).
    func backward(_ dy: UnsafePointer<Float>, cache c: Cache, sequences: Int, length: Int, width d: Int, arena: Arena,
                  into dx: UnsafeMutablePointer<Float>) {
        let rows = sequences * length
        let dh = arena.floats(rows * d).baseAddress!          // (rows, d)
        let dSmall = arena.floats(rows * d).baseAddress!      // (rows, d)
        let dHidden = arena.floats(rows * ff).baseAddress!    // (rows, ff)
        // y = h + Drop(FF2(Drop(GELU(FF1(LN2(h)))))): dh = dy + the FF path's gradient.
        dh.update(from: dy, count: rows * d)
        dSmall.update(from: dy, count: rows * d)
        undrop(c.dropOutput, dSmall, rows * d)
        ff2.backward(dSmall, input: c.activated, rows: rows, dx: dHidden)
        undrop(c.dropHidden, dHidden, rows * ff)
        geluBackward(c.preActivation, dHidden, rows * ff)
        ff1.backward(dHidden, input: c.normed2, rows: rows, dx: dSmall)
        ln2.backward(dSmall, cache: c.ln2, rows: rows, width: d, dx: dh, accumulate: true)
        // h = x + Drop(OutProj(MHA(LN1(x)))): dx = dh + the attention path's gradient.
        dx.update(from: dh, count: rows * d)
        dSmall.update(from: dh, count: rows * d)
        undrop(c.dropAttention, dSmall, rows * d)
        attention.backward(dSmall, input: c.normed1, cache: c.attention, sequences: sequences, length: length, width: d,
                           arena: arena, into: dh)
        ln1.backward(dh, cache: c.ln1, rows: rows, width: d, dx: dx, accumulate: true)
    }
}

/// SPEC §5 `Encoder(L)`: x + PE, L EncoderLayers, then the final LayerNorm `norm`.
struct Encoder {
    let width: Int
    let layers: [EncoderLayer]
    let norm: LayerNorm
    /// PE(n, d) for the longest sequence this encoder reads: `maxLength` × d.
    let positional: [Float]
    let maxLength: Int

    init(_ p: Parameters, prefix: String, width: Int, config: ERIConfig.Encoder, maxLength: Int) {
        self.width = width
        layers = (0..<config.layers).map { EncoderLayer(p, prefix: "\(prefix).layers.\($0)", heads: config.heads) }
        norm = LayerNorm(p, prefix + ".norm")
        self.maxLength = maxLength
        positional = positionalEncoding(rows: maxLength, width: width)
    }

    struct Cache {
        let layers: [EncoderLayer.Cache]
        let norm: LayerNorm.Cache
    }

    /// x (sequences·length × d, read) → the encoded sequences (sequences·length × d,
    /// a new arena buffer); keys at or past `valid[s]` are masked.
    func forward(_ x: UnsafePointer<Float>, sequences: Int, length: Int, valid: [Int]?, arena: Arena,
                 tape: Tape?) -> (UnsafeMutablePointer<Float>, Cache?) {
        let d = width, rows = sequences * length
        precondition(length <= maxLength, "sequence of \(length) steps is longer than the positional table (\(maxLength))")
        var current = arena.floats(rows * d).baseAddress!   // (rows, d) x + PE
        positional.withUnsafeBufferPointer { pe in
            for s in 0..<sequences {
                let from = x + s * length * d, to = current + s * length * d
                for i in 0..<(length * d) { to[i] = from[i] + pe[i] }
            }
        }
        var caches: [EncoderLayer.Cache] = []
        for layer in layers {
            let (y, cache) = layer.forward(current, sequences: sequences, length: length, width: d, valid: valid, arena: arena, tape: tape)
            if let cache { caches.append(cache) }
            current = y
        }
        let out = arena.floats(rows * d).baseAddress!       // (rows, d)
        let normCache = norm.forward(current, rows: rows, width: d, into: out, tape: tape)
        guard let normCache else { return (out, nil) }
        return (out, Cache(layers: caches, norm: normCache))
    }

    /// dOut (rows × d) → dx (rows × d, overwritten).
    func backward(_ dOut: UnsafePointer<Float>, cache: Cache, sequences: Int, length: Int, arena: Arena,
                  into dx: UnsafeMutablePointer<Float>) {
        let d = width, rows = sequences * length
        var dy = arena.floats(rows * d).baseAddress!        // (rows, d)
        norm.backward(dOut, cache: cache.norm, rows: rows, width: d, dx: dy, accumulate: false)
        for (l, layer) in layers.enumerated().reversed() {
            let dInput = l == 0 ? dx : arena.floats(rows * d).baseAddress!  // (rows, d)
            layer.backward(dy, cache: cache.layers[l], sequences: sequences, length: length, width: d, arena: arena, into: dInput)
            dy = dInput
        }
        if layers.isEmpty { dx.update(from: dy, count: rows * d) }
    }
}
