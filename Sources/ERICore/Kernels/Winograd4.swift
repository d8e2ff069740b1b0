/// Winograd F(4×4, 3×3): the same scheme as `Winograd3x3` (read its comment
/// first) with 4×4 output tiles from 6×6 input tiles, so 36 GEMMs of
/// C_out × C_in · C_in × tiles replace 144 multiply-adds per tile and channel
/// pair with 36: 2.25 products per output instead of F(2×2)'s 4, and V and M
/// shrink likewise. Its transforms use the points 0, ±1, ±2 (Lavin & Gray
/// 2015), which amplify float32 rounding more than F(2×2)'s: on ResNet
/// weights the outputs stay within a few 1e-7 of a float64 convolution (see
/// WinogradTests), far inside the parity tolerances.
///
/// Its transformed weights are 36/9 the size of the plain ones (F(2×2)'s:
/// 16/9), and each GEMM streams all of U_ξ for few tiles on small maps. So
/// `applies` keeps it to maps of side ≥ 5: there it saves the most work and
/// the weights are small (dbn-base: stages 1–3). On dbn-base's 4×4 maps
/// with 512 channels, streaming F(4×4)'s 38 MB of U per layer and pass
/// costs about what its saved multiply-adds gain (an estimate, not a
/// measurement), so F(2×2) runs there with 9/4 less weight memory (about
/// 60 MB for that stage); on 2×2 maps most of a 6×6 tile would be padding.
///
///     Bᵀ = | 4  0 −5  0  1  0 |   G = |  ¼     0    0  |   Aᵀ = | 1  1  1  1  1  0 |
///          | 0 −4 −4  1  1  0 |       | −⅙   −⅙   −⅙  |        | 0  1 −1  2 −2  0 |
///          | 0  4 −4 −1  1  0 |       | −⅙    ⅙   −⅙  |        | 0  1  1  4  4  0 |
///          | 0 −2 −1  2  1  0 |       | 1/24 1/12  ⅙  |        | 0  1 −1  8 −8  1 |
///          | 0  2 −1 −2  1  0 |       | 1/24 −1/12 ⅙  |
///          | 0  4  0 −5  0  1 |       |  0     0    1  |
public enum Winograd4x4 {
    /// Whether a convolution on maps of side `side` should take this path.
    public static func applies(_ s: Conv2dShape, side: Int) -> Bool {
        Winograd3x3.applies(s) && side >= 5
    }

    /// U = G g Gᵀ for every (output, input) pair, in float64, stored [ξ][o][c]
    /// with ξ = 6·i + j: 36 × outputs × inputs floats.
    public static func transformWeights(_ weight: [Float], outputs: Int, inputs: Int) -> [Float] {
        precondition(weight.count == outputs * inputs * 9, "weight must be outputs × inputs × 3 × 3")
        let g: [(Double, Double, Double)] = [(1.0 / 4, 0, 0), (-1.0 / 6, -1.0 / 6, -1.0 / 6), (-1.0 / 6, 1.0 / 6, -1.0 / 6),
                                             (1.0 / 24, 1.0 / 12, 1.0 / 6), (1.0 / 24, -1.0 / 12, 1.0 / 6), (0, 0, 1)]
        var u = [Float](repeating: 0, count: 36 * outputs * inputs)
        u.withUnsafeMutableBufferPointer { u in
            weight.withUnsafeBufferPointer { weight in
                for o in 0..<outputs {
                    for c in 0..<inputs {
                        let k = weight.baseAddress! + (o * inputs + c) * 9
                        for i in 0..<6 {
                            let (a, b, cc) = g[i]
                            let t0 = a * Double(k[0]) + b * Double(k[3]) + cc * Double(k[6])
                            let t1 = a * Double(k[1]) + b * Double(k[4]) + cc * Double(k[7])
                            let t2 = a * Double(k[2]) + b * Double(k[5]) + cc * Double(k[8])
                            for j in 0..<6 {
                                let (p, q, r) = g[j]
                                u[((i * 6 + j) * outputs + o) * inputs + c] = Float(p * t0 + q * t1 + r * t2)
                            }
                        }
                    }
                }
            }
        }
        return u
    }

    /// Tiles per image (4×4 outputs each).
    public static func tiles(height h: Int, width w: Int) -> Int { ((h + 3) / 4) * ((w + 3) / 4) }

    /// Scratch floats `forward` needs: 37 slots of max(C_in, C_out) × tiles
    /// (V_ξ in slot ξ + 1, M_ξ written over slot ξ, as in `Winograd3x3`).
    public static func scratchCount(inputs: Int, outputs: Int, images: Int, height h: Int, width w: Int) -> Int {
        37 * max(inputs, outputs) * images * tiles(height: h, width: w)
    }

    /// y = (relu?)(conv3×3(x) + bias (+ residual)), as `Winograd3x3.forward`;
    /// `weight` from `Winograd4x4.transformWeights`.
    public static func forward(_ x: UnsafePointer<Float>, inputs: Int, outputs: Int, images: Int, height h: Int, width w: Int,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>? = nil,
                               relu: Bool, scratch: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let tileCount = images * tiles(height: h, width: w)
        let slot = max(inputs, outputs) * tileCount
        transformInput(x, channels: inputs, images: images, height: h, width: w, slot: slot, into: scratch + slot)
        for xi in 0..<36 {
            gemm(m: outputs, n: tileCount, k: inputs, a: weight + xi * outputs * inputs, lda: inputs,
                 b: scratch + (xi + 1) * slot, ldb: tileCount, c: scratch + xi * slot, ldc: tileCount)
        }
        transformOutput(scratch, channels: outputs, images: images, height: h, width: w, slot: slot, bias: bias,
                        residual: residual, relu: relu, into: y)
    }

    /// V_ξ[c][t] = (Bᵀ d B)_ξ for the 6×6 input tile d of tile t (rows 4ty−1…4ty+4,
    /// columns 4tx−1…4tx+4, zero outside the image); split over (channel, image) planes.
    static func transformInput(_ x: UnsafePointer<Float>, channels: Int, images: Int, height h: Int, width w: Int,
                               slot stride: Int, into v: UnsafeMutablePointer<Float>) {
        let th = (h + 3) / 4, tw = (w + 3) / 4
        let tileCount = images * th * tw
        let pw = 4 * tw + 2                // padded columns −1 … 4·tw
        let ph = 4 * th + 2                // padded rows −1 … 4·th
        let span = (4 * th - 3) * pw       // flat vertical pass: q = 4ty·pw + column
        parallelRanges(channels * images, grain: max(1, 4_096 / max(1, h * w))) { planes in
            let padded = UnsafeMutablePointer<Float>.allocate(capacity: ph * pw + 6 * span)
            defer { padded.deallocate() }
            padded.update(repeating: 0, count: ph * pw)  // borders stay zero
            let e = padded + ph * pw
            for p in planes {
                let c = p / images, n = p % images
                let src = x + p * h * w
                for iy in 0..<h { (padded + (iy + 1) * pw + 1).update(from: src + iy * w, count: w) }
                // Bᵀ d over the 6 padded rows 4ty … 4ty+5 of every tile row at once
                // (rows in between are computed and never read): long vector loops.
                let p0 = padded, p1 = padded + pw, p2 = padded + 2 * pw, p3 = padded + 3 * pw
                let p4 = padded + 4 * pw, p5 = padded + 5 * pw
                let e0 = e, e1 = e + span, e2 = e + 2 * span, e3 = e + 3 * span, e4 = e + 4 * span, e5 = e + 5 * span
                for q in 0..<span { e0[q] = 4 * p0[q] - 5 * p2[q] + p4[q] }
                for q in 0..<span { e1[q] = (p3[q] + p4[q]) - 4 * (p1[q] + p2[q]) }
                for q in 0..<span { e2[q] = (p4[q] - p3[q]) + 4 * (p1[q] - p2[q]) }
                for q in 0..<span { e3[q] = (p4[q] - p2[q]) + 2 * (p3[q] - p1[q]) }
                for q in 0..<span { e4[q] = (p4[q] - p2[q]) - 2 * (p3[q] - p1[q]) }
                for q in 0..<span { e5[q] = 4 * p1[q] - 5 * p3[q] + p5[q] }
                // (Bᵀ d) B along each row: 6 columns from 4tx, vectorised across tiles.
                for ty in 0..<th {
                    let out = v + c * tileCount + (n * th + ty) * tw
                    for i in 0..<6 {
                        let row = e + i * span + 4 * ty * pw
                        let o0 = out + (6 * i) * stride, o1 = o0 + stride, o2 = o1 + stride
                        let o3 = o2 + stride, o4 = o3 + stride, o5 = o4 + stride
                        for tx in 0..<tw {
                            let k = 4 * tx
                            let d0 = row[k], d1 = row[k + 1], d2 = row[k + 2], d3 = row[k + 3], d4 = row[k + 4], d5 = row[k + 5]
                            o0[tx] = 4 * d0 - 5 * d2 + d4
                            o1[tx] = (d3 + d4) - 4 * (d1 + d2)
                            o2[tx] = (d4 - d3) + 4 * (d1 - d2)
                            o3[tx] = (d4 - d2) + 2 * (d3 - d1)
                            o4[tx] = (d4 - d2) - 2 * (d3 - d1)
                            o5[tx] = 4 * d1 - 5 * d3 + d5
                        }
                    }
                }
            }
        }
    }

    /// y = Aᵀ M A per tile, plus bias (+ residual), ReLU, cropped to h × w;
    /// split over (channel, image) planes.
    static func transformOutput(_ m: UnsafePointer<Float>, channels: Int, images: Int, height h: Int, width w: Int,
                                slot stride: Int, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool,
                                into y: UnsafeMutablePointer<Float>) {
        let th = (h + 3) / 4, tw = (w + 3) / 4
        let tileCount = images * th * tw
        parallelRanges(channels * images, grain: max(1, 4_096 / max(1, h * w))) { planes in
            // Per thread: Aᵀ M (4 rows × 6 columns × tw), then 4 output rows (4·tw wide).
            let mixed = UnsafeMutablePointer<Float>.allocate(capacity: 24 * tw + 16 * tw)
            defer { mixed.deallocate() }
            let lines = mixed + 24 * tw
            for p in planes {
                let o = p / images, n = p % images
                let beta = bias[o]
                for ty in 0..<th {
                    let src = m + o * tileCount + (n * th + ty) * tw
                    // Aᵀ M down column j: s_r = rows (m0+m1+m2+m3+m4, m1−m2+2(m3−m4),
                    // m1+m2+4(m3+m4), m1−m2+8(m3−m4)+m5).
                    for j in 0..<6 {
                        let m0 = src + j * stride, m1 = m0 + 6 * stride, m2 = m1 + 6 * stride
                        let m3 = m2 + 6 * stride, m4 = m3 + 6 * stride, m5 = m4 + 6 * stride
                        let s0 = mixed + j * tw, s1 = s0 + 6 * tw, s2 = s1 + 6 * tw, s3 = s2 + 6 * tw
                        for tx in 0..<tw {
                            let a = m1[tx] + m2[tx], b = m1[tx] - m2[tx], c = m3[tx] + m4[tx], d = m3[tx] - m4[tx]
                            s0[tx] = m0[tx] + a + c; s1[tx] = b + 2 * d; s2[tx] = a + 4 * c; s3[tx] = b + 8 * d + m5[tx]
                        }
                    }
                    // (Aᵀ M) A along each of the 4 rows: columns 4tx … 4tx+3.
                    for r in 0..<4 {
                        let s = mixed + 6 * r * tw, line = lines + r * 4 * tw
                        let q0 = s, q1 = s + tw, q2 = s + 2 * tw, q3 = s + 3 * tw, q4 = s + 4 * tw, q5 = s + 5 * tw
                        for tx in 0..<tw {
                            let a = q1[tx] + q2[tx], b = q1[tx] - q2[tx], c = q3[tx] + q4[tx], d = q3[tx] - q4[tx]
                            line[4 * tx] = q0[tx] + a + c
                            line[4 * tx + 1] = b + 2 * d
                            line[4 * tx + 2] = a + 4 * c
                            line[4 * tx + 3] = b + 8 * d + q5[tx]
                        }
                    }
                    for r in 0..<min(4, h - 4 * ty) {
                        let offset = p * h * w + (4 * ty + r) * w
                        let line = lines + r * 4 * tw, dst = y + offset
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
