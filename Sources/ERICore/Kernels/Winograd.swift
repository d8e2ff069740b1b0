/// Winograd F(2×2, 3×3) for the stride-1, padding-1 3×3 convolutions of the
/// backbone (all but the first convolution of each stage: about 80 % of its
/// multiply-adds). Each 2×2 output tile comes from a 4×4 input tile d as
///
///     Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A
///
/// so the 36 multiply-adds per tile, input channel and output channel of the
/// direct convolution become 16, done as 16 GEMMs (one per tile position ξ):
/// M_ξ (C_out × tiles) = U_ξ (C_out × C_in) · V_ξ (C_in × tiles).
/// F(2×2, 3×3) only adds and subtracts inputs and outputs (G has halves,
/// exact in binary), so its float32 error stays at the direct convolution's
/// level. The backbone uses it on small maps (side < 5) and the larger
/// `Winograd4x4` (2.25 products per output, a little more rounding) on the rest.
///
/// Layouts: x and y CNHW (as `conv2d`), U [ξ][o][c], V [ξ][c][t], M [ξ][o][t]
/// (see `scratchCount` for where V and M live),
/// tile t = (n, ty, tx) row-major; tiles past an odd border read zeros and
/// their extra outputs are dropped.
///
///     Bᵀ = | 1  0 −1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
///          | 0  1  1  0 |        | ½    ½    ½  |         | 0  1 −1 −1 |
///          | 0 −1  1  0 |        | ½   −½    ½  |
///          | 0  1  0 −1 |        | 0    0    1  |
public enum Winograd3x3 {
    /// Whether a convolution can take this path.
    public static func applies(_ s: Conv2dShape) -> Bool {
        s.kernel == 3 && s.stride == 1 && s.padding == 1
    }

    /// U = G g Gᵀ for every (output, input) pair of a PyTorch-layout weight
    /// (outputs × inputs × 3 × 3, BatchNorm already folded in), computed in
    /// float64 and stored [ξ][o][c]: 16 × outputs × inputs floats.
    public static func transformWeights(_ weight: [Float], outputs: Int, inputs: Int) -> [Float] {
        precondition(weight.count == outputs * inputs * 9, "weight must be outputs × inputs × 3 × 3")
        let g: [(Double, Double, Double)] = [(1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)]
        var u = [Float](repeating: 0, count: 16 * outputs * inputs)
        u.withUnsafeMutableBufferPointer { u in
            weight.withUnsafeBufferPointer { weight in
                for o in 0..<outputs {
                    for c in 0..<inputs {
                        let k = weight.baseAddress! + (o * inputs + c) * 9
                        // t = G g (4 × 3) row by row, then U row i = t_i Gᵀ.
                        for i in 0..<4 {
                            let (a, b, cc) = g[i]
                            let t0 = a * Double(k[0]) + b * Double(k[3]) + cc * Double(k[6])
                            let t1 = a * Double(k[1]) + b * Double(k[4]) + cc * Double(k[7])
                            let t2 = a * Double(k[2]) + b * Double(k[5]) + cc * Double(k[8])
                            for j in 0..<4 {
                                let (p, q, r) = g[j]
                                u[((i * 4 + j) * outputs + o) * inputs + c] = Float(p * t0 + q * t1 + r * t2)
                            }
                        }
                    }
                }
            }
        }
        return u
    }

    /// Tiles per image (2×2 outputs each).
    public static func tiles(height h: Int, width w: Int) -> Int { ((h + 1) / 2) * ((w + 1) / 2) }

    /// Scratch floats `forward` needs: 17 slots of max(C_in, C_out) × tiles.
    /// V_ξ lives in slot ξ + 1 and GEMM ξ writes M_ξ into slot ξ, which held
    /// V_{ξ−1}, already consumed: 17 slots instead of 16 for V plus 16 for M.
    public static func scratchCount(inputs: Int, outputs: Int, images: Int, height h: Int, width w: Int) -> Int {
        17 * max(inputs, outputs) * images * tiles(height: h, width: w)
    }

    /// y = (relu?)(conv3×3(x) + bias (+ residual)), the same contract as
    /// `conv2d` with a stride-1 padding-1 3×3 shape; `weight` from
    /// `transformWeights`, `scratch` of `scratchCount` floats. The transforms
    /// run on `computeThreads()` threads, the GEMMs on OpenBLAS's.
    public static func forward(_ x: UnsafePointer<Float>, inputs: Int, outputs: Int, images: Int, height h: Int, width w: Int,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>? = nil,
                               relu: Bool, scratch: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let tileCount = images * tiles(height: h, width: w)
        let slot = max(inputs, outputs) * tileCount
        transformInput(x, channels: inputs, images: images, height: h, width: w, slot: slot, into: scratch + slot)
        for xi in 0..<16 {
            gemm(m: outputs, n: tileCount, k: inputs, a: weight + xi * outputs * inputs, lda: inputs,
                 b: scratch + (xi + 1) * slot, ldb: tileCount, c: scratch + xi * slot, ldc: tileCount)
        }
        transformOutput(scratch, channels: outputs, images: images, height: h, width: w, slot: slot, bias: bias,
                        residual: residual, relu: relu, into: y)
    }

    /// V_ξ[c][t] = (Bᵀ d B)_ξ for the 4×4 input tile d of tile t (rows 2ty−1…2ty+2,
    /// columns 2tx−1…2tx+2, zero outside the image), V_ξ starting `slot` floats
    /// after V_{ξ−1}; split over (channel, image) planes.
    static func transformInput(_ x: UnsafePointer<Float>, channels: Int, images: Int, height h: Int, width w: Int,
                               slot stride: Int, into v: UnsafeMutablePointer<Float>) {
        let th = (h + 1) / 2, tw = (w + 1) / 2
        let tileCount = images * th * tw
        let pw = 2 * tw + 2                // padded columns −1 … 2·tw
        let ph = 2 * th + 2                // padded rows −1 … 2·th
        let span = (2 * th - 1) * pw       // see the vertical pass
        parallelRanges(channels * images, grain: max(1, 4_096 / max(1, h * w))) { planes in
            // Per thread: the zero-padded plane, then Bᵀ d for every tile row.
            let padded = UnsafeMutablePointer<Float>.allocate(capacity: ph * pw + 4 * span)
            defer { padded.deallocate() }
            padded.update(repeating: 0, count: ph * pw)  // borders stay zero; the interior is overwritten per plane
            let e = padded + ph * pw
            for p in planes {
                let c = p / images, n = p % images
                let src = x + p * h * w
                for iy in 0..<h { (padded + (iy + 1) * pw + 1).update(from: src + iy * w, count: w) }
                // Bᵀ d for tile row ty combines padded rows 2ty … 2ty+3. As flat loops
                // over q = 2ty·pw + column (the odd rows in between are computed and
                // never read), they vectorise even where a row holds 2 tiles.
                let e0 = e, e1 = e + span, e2 = e + 2 * span, e3 = e + 3 * span
                let r1 = padded + pw, r2 = padded + 2 * pw, r3 = padded + 3 * pw
                for q in 0..<span { e0[q] = padded[q] - r2[q] }
                for q in 0..<span { e1[q] = r1[q] + r2[q] }
                for q in 0..<span { e2[q] = r2[q] - r1[q] }
                for q in 0..<span { e3[q] = r1[q] - r3[q] }
                // (Bᵀ d) B: the same combinations along each row, 4 columns from 2tx,
                // vectorised across tiles.
                for ty in 0..<th {
                    let out = v + c * tileCount + (n * th + ty) * tw
                    for i in 0..<4 {
                        let row = e + i * span + 2 * ty * pw
                        let o0 = out + (4 * i) * stride, o1 = o0 + stride, o2 = o1 + stride, o3 = o2 + stride
                        for tx in 0..<tw {
                            let a = row[2 * tx], b = row[2 * tx + 1], cc = row[2 * tx + 2], d = row[2 * tx + 3]
                            o0[tx] = a - cc; o1[tx] = b + cc; o2[tx] = cc - b; o3[tx] = b - d
                        }
                    }
                }
            }
        }
    }

    /// y = Aᵀ M A per tile, plus bias (+ residual), ReLU, cropped to h × w,
    /// split over (channel, image) planes; M_ξ starts `slot` floats after M_{ξ−1}.
    static func transformOutput(_ m: UnsafePointer<Float>, channels: Int, images: Int, height h: Int, width w: Int,
                                slot stride: Int, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool,
                                into y: UnsafeMutablePointer<Float>) {
        let th = (h + 1) / 2, tw = (w + 1) / 2
        let tileCount = images * th * tw
        parallelRanges(channels * images, grain: max(1, 4_096 / max(1, h * w))) { planes in
            // Per thread: the Aᵀ M rows of a tile row, then two output rows (2·tw wide).
            let mixed = UnsafeMutablePointer<Float>.allocate(capacity: 8 * tw + 4 * tw)
            defer { mixed.deallocate() }
            let lines = mixed + 8 * tw
            for p in planes {
                let o = p / images, n = p % images
                let beta = bias[o]
                for ty in 0..<th {
                    let src = m + o * tileCount + (n * th + ty) * tw
                    // Aᵀ M: for column j, s0 = m0j + m1j + m2j, s1 = m1j − m2j − m3j.
                    for j in 0..<4 {
                        let m0 = src + j * stride, m1 = m0 + 4 * stride, m2 = m1 + 4 * stride, m3 = m2 + 4 * stride
                        let s0 = mixed + j * tw, s1 = mixed + (4 + j) * tw
                        for tx in 0..<tw {
                            let b = m1[tx], c = m2[tx]
                            s0[tx] = m0[tx] + b + c; s1[tx] = b - c - m3[tx]
                        }
                    }
                    // (Aᵀ M) A along each row: columns 2tx, 2tx + 1.
                    for r in 0..<2 {
                        let s = mixed + 4 * r * tw, line = lines + r * 2 * tw
                        let q0 = s, q1 = s + tw, q2 = s + 2 * tw, q3 = s + 3 * tw
                        for tx in 0..<tw {
                            let b = q1[tx], c = q2[tx]
                            line[2 * tx] = q0[tx] + b + c
                            line[2 * tx + 1] = b - c - q3[tx]
                        }
                    }
                    for r in 0..<min(2, h - 2 * ty) {
                        let offset = p * h * w + (2 * ty + r) * w
                        let line = lines + r * 2 * tw, dst = y + offset
                        if let residual {
                            let res = residual + offset
                            if relu { for i in 0..<w { dst[i] = max(line[i] + beta + res[i], 0) } }
                            else { for i in 0..<w { dst[i] = line[i] + beta + res[i] } }
                        } else {
                            if relu { for i in 0..<w { dst[i] = max(line[i] + beta, 0) } }
                            else { for i in 0..<w { dst[i] = line[i] + beta } }
                        }
                    }
                }
            }
        }
    }
}
