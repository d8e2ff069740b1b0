/// Multi-head scaled dot-product attention over packed sequences (SPEC §5 MHA).
///
/// `qkv` holds, for each of `sequences` × `length` rows, [Q K V] of width 3d
/// (the in_proj output). Head h reads columns h·d/heads …; keys at or past a
/// sequence's valid length are masked (−∞). The concatenated heads are
/// written to `out` (rows × d).
///
/// `probabilities` receives each head's softmax. With `keep`, it holds
/// sequences × heads × length × length floats and every head keeps its own
/// (the backward pass reads them); without, it is length × length scratch
/// that each head overwrites (inference).
public func multiHeadAttention(qkv: UnsafePointer<Float>, sequences: Int, length: Int, width d: Int, heads: Int,
                               validLengths: [Int]?, probabilities: UnsafeMutablePointer<Float>, keep: Bool,
                               into out: UnsafeMutablePointer<Float>) {
    let dh = d / heads, ld = 3 * d
    let scale = 1 / Float(dh).squareRoot()
    for s in 0..<sequences {
        let base = qkv + s * length * ld
        let valid = validLengths?[s] ?? length
        for h in 0..<heads {
            let p = keep ? probabilities + (s * heads + h) * length * length : probabilities  // (length, length)
            // P = softmax(Q Kᵀ / √dh) over the valid keys
            gemm(transposeB: true, m: length, n: length, k: dh, alpha: scale, a: base + h * dh, lda: ld, b: base + d + h * dh, ldb: ld,
                 c: p, ldc: length)
            if valid < length { for i in 0..<length { for j in valid..<length { p[i * length + j] = -.infinity } } }
            softmaxRows(p, rows: length, width: length)
            gemm(m: length, n: dh, k: length, a: p, lda: length, b: base + 2 * d + h * dh, ldb: ld, c: out + s * length * d + h * dh, ldc: d)
        }
    }
}

/// Gradient of attention w.r.t. [Q K V]: dV = Pᵀ·dO, dP = dO·Vᵀ, dS = softmax'(dP),
/// dQ = dS·K·scale, dK = dSᵀ·Q·scale. `probabilities` are those `multiHeadAttention`
/// kept; `scratch` holds length × length floats; dQKV (rows × 3d) is overwritten.
public func multiHeadAttentionBackward(qkv: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
                                       sequences: Int, length: Int, width d: Int, heads: Int,
                                       scratch: UnsafeMutablePointer<Float>, dQKV: UnsafeMutablePointer<Float>) {
    let dh = d / heads, ld = 3 * d
    let scale = 1 / Float(dh).squareRoot()
    for s in 0..<sequences {
        let base = qkv + s * length * ld, dBase = dQKV + s * length * ld
        let dO = dOut + s * length * d
        for h in 0..<heads {
            let p = probabilities + (s * heads + h) * length * length
            // dV = Pᵀ dO
            gemm(transposeA: true, m: length, n: dh, k: length, a: p, lda: length, b: dO + h * dh, ldb: d,
                 c: dBase + 2 * d + h * dh, ldc: ld)
            // dP = dO Vᵀ, then the softmax backward.
            gemm(transposeB: true, m: length, n: length, k: dh, a: dO + h * dh, lda: d, b: base + 2 * d + h * dh, ldb: ld,
                 c: scratch, ldc: length)
            softmaxRowsBackward(p, scratch, rows: length, width: length)
            // dQ = dS K · scale; dK = dSᵀ Q · scale
            gemm(m: length, n: dh, k: length, alpha: scale, a: scratch, lda: length, b: base + d + h * dh, ldb: ld,
                 c: dBase + h * dh, ldc: ld)
            gemm(transposeA: true, m: length, n: dh, k: length, alpha: scale, a: scratch, lda: length, b: base + h * dh, ldb: ld,
                 c: dBase + d + h * dh, ldc: ld)
        }
    }
}
