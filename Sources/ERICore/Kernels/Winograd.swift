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
/// level; the larger F(4×4, 3×3) would save more but amplifies rounding by
/// an order of magnitude.
///
/// Layouts: x and y CNHW (as `conv2d`), U [ξ][o][c], V [ξ][c][t], M [ξ][o][t],
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
        let g: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        var u = [Float](repeating: 0, count: 16 * outputs * inputs)
        for o in 0..<outputs {
            for c in 0..<inputs {
                let k = (o * inputs + c) * 9
                // t = G g (4 × 3), then U = t Gᵀ (4 × 4).
                var t = [[Double]](repeating: [0, 0, 0], count: 4)
                for i in 0..<4 { for j in 0..<3 { for l in 0..<3 { t[i][j] += g[i][l] * Double(weight[k + l * 3 + j]) } } }
                for i in 0..<4 {
                    for j in 0..<4 {
                        var v = 0.0
                        for l in 0..<3 { v += t[i][l] * g[j][l] }
                        u[((i * 4 + j) * outputs + o) * inputs + c] = Float(v)
                    }
                }
            }
        }
        return u
    }

    /// Tiles per image and scratch floats `forward` needs for `images` images of h × w.
    public static func tiles(height h: Int, width w: Int) -> Int { ((h + 1) / 2) * ((w + 1) / 2) }
    public static func scratchCount(inputs: Int, outputs: Int, images: Int, height h: Int, width w: Int) -> Int {
        16 * images * tiles(height: h, width: w) * (inputs + outputs)
    }

    /// y = (relu?)(conv3×3(x) + bias (+ residual)), the same contract as
    /// `conv2d` with a stride-1 padding-1 3×3 shape; `weight` from
    /// `transformWeights`, `scratch` of `scratchCount` floats. The transforms
    /// run on `computeThreads()` threads, the GEMMs on OpenBLAS's.
    public static func forward(_ x: UnsafePointer<Float>, inputs: Int, outputs: Int, images: Int, height h: Int, width w: Int,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>? = nil,
                               relu: Bool, scratch: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let tileCount = images * tiles(height: h, width: w)
        let v = scratch, m = scratch + 16 * inputs * tileCount
        transformInput(x, channels: inputs, images: images, height: h, width: w, into: v)
        for xi in 0..<16 {
            gemm(m: outputs, n: tileCount, k: inputs, a: weight + xi * outputs * inputs, lda: inputs,
                 b: v + xi * inputs * tileCount, ldb: tileCount, c: m + xi * outputs * tileCount, ldc: tileCount)
        }
        transformOutput(m, channels: outputs, images: images, height: h, width: w, bias: bias, residual: residual,
                        relu: relu, into: y)
    }

    /// V_ξ[c][t] = (Bᵀ d B)_ξ for the 4×4 input tile d of tile t (rows 2ty−1…2ty+2,
    /// columns 2tx−1…2tx+2, zero outside the image), split over (channel, image) planes.
    static func transformInput(_ x: UnsafePointer<Float>, channels: Int, images: Int, height h: Int, width w: Int,
                               into v: UnsafeMutablePointer<Float>) {
        let th = (h + 1) / 2, tw = (w + 1) / 2
        let tileCount = images * th * tw
        let stride = channels * tileCount  // between consecutive ξ
        let paddedWidth = 2 * tw + 2       // input columns −1 … 2·tw
        parallelRanges(channels * images, grain: max(1, 4_096 / max(1, h * w))) { planes in
            // Per thread: 4 zero-padded input rows, then their vertical combinations.
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: 8 * paddedWidth)
            defer { rows.deallocate() }
            let mixed = rows + 4 * paddedWidth
            for p in planes {
                let c = p / images, n = p % images
                let src = x + p * h * w
                for ty in 0..<th {
                    for r in 0..<4 {
                        let row = rows + r * paddedWidth
                        let iy = 2 * ty - 1 + r
                        if iy >= 0 && iy < h {
                            row[0] = 0
                            (row + 1).update(from: src + iy * w, count: w)
                            (row + 1 + w).update(repeating: 0, count: paddedWidth - 1 - w)
                        } else {
                            row.update(repeating: 0, count: paddedWidth)
                        }
                    }
                    // Bᵀ d: rows (d0 − d2, d1 + d2, d2 − d1, d1 − d3), whole padded rows at once.
                    let d0 = rows, d1 = rows + paddedWidth, d2 = rows + 2 * paddedWidth, d3 = rows + 3 * paddedWidth
                    let e0 = mixed, e1 = mixed + paddedWidth, e2 = mixed + 2 * paddedWidth, e3 = mixed + 3 * paddedWidth
                    for j in 0..<paddedWidth {
                        e0[j] = d0[j] - d2[j]; e1[j] = d1[j] + d2[j]; e2[j] = d2[j] - d1[j]; e3[j] = d1[j] - d3[j]
                    }
                    // (Bᵀ d) B: the same combinations along each row, 4 columns from 2tx.
                    let out = v + c * tileCount + (n * th + ty) * tw
                    for i in 0..<4 {
                        let e = mixed + i * paddedWidth
                        let o0 = out + (4 * i) * stride, o1 = o0 + stride, o2 = o1 + stride, o3 = o2 + stride
                        for tx in 0..<tw {
                            let a = e[2 * tx], b = e[2 * tx + 1], cc = e[2 * tx + 2], d = e[2 * tx + 3]
                            o0[tx] = a - cc; o1[tx] = b + cc; o2[tx] = cc - b; o3[tx] = b - d
                        }
                    }
                }
            }
        }
    }

    /// y = Aᵀ M A per tile, plus bias (+ residual), ReLU, cropped to h × w,
    /// split over (channel, image) planes.
    static func transformOutput(_ m: UnsafePointer<Float>, channels: Int, images: Int, height h: Int, width w: Int,
                                bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool,
                                into y: UnsafeMutablePointer<Float>) {
        let th = (h + 1) / 2, tw = (w + 1) / 2
        let tileCount = images * th * tw
        let stride = channels * tileCount
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
