/// Multi-head scaled dot-product attention over packed sequences (SPEC §5 MHA).
///
/// `qkv` holds, for each of `sequences` × `length` rows, [Q K V] of width 3d
/// (the in_proj output). Head h reads columns h·d/heads …; keys at or past a
/// sequence's valid length are masked (−∞). The concatenated heads are
/// written to `out` (rows × d). `scores` is scratch of length × length.
public func multiHeadAttention(qkv: UnsafePointer<Float>, sequences: Int, length: Int, width d: Int, heads: Int,
                               validLengths: [Int]?, scores: UnsafeMutablePointer<Float>,
                               into out: UnsafeMutablePointer<Float>) {
    let dh = d / heads
    let scale = 1 / Float(dh).squareRoot()
    let ld = 3 * d
    for s in 0..<sequences {
        let base = qkv + s * length * ld
        let valid = validLengths?[s] ?? length
        for h in 0..<heads {
            let q = base + h * dh, k = base + d + h * dh, v = base + 2 * d + h * dh
            // scores = Q Kᵀ / √dh, length × length
            gemm(transposeB: true, m: length, n: length, k: dh, alpha: scale, a: q, lda: ld, b: k, ldb: ld,
                 c: scores, ldc: length)
            if valid < length {
                for i in 0..<length { for j in valid..<length { scores[i * length + j] = -.infinity } }
            }
            softmaxRows(scores, rows: length, width: length)
            gemm(m: length, n: dh, k: length, a: scores, lda: length, b: v, ldb: ld,
                 c: out + s * length * d + h * dh, ldc: d)
        }
    }
}
