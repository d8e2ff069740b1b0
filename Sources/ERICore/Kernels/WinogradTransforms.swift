// The tile-specific halves of the Winograd algorithms that `Winograd`
// (Winograd.swift) drives. Each input and output transform is written out by
// hand for its matrix (tuned with perf), as flat loops across tiles that the
// compiler vectorises, with the matrices' zeros and ones folded away; a
// generic matrix loop would multiply by every coefficient of Bᵀ or Aᵀ.

/// What one F(m×m, 3×3) brings to the `Winograd` driver. The driver is
/// specialised for each conforming type, and the transforms are inlined into it.
protocol WinogradTransforms {
    /// m: the side of an output tile (the input tile's is m + 2).
    static var outputTile: Int { get }
    /// The rows of G ((m + 2) × 3), which the driver applies in float64 to every 3×3 weight.
    static var filterRows: [(Double, Double, Double)] { get }

    /// V_ξ = (Bᵀ d B)_ξ for every tile of one zero-padded plane: `padded` is
    /// the plane with a zero border, `width` floats per row, covering the
    /// tiles' rows −1 … m·tileRows (and columns likewise); `rows` is scratch
    /// of (m + 2) × `span` floats for Bᵀ d. Tile row ty's V_ξ go to
    /// `v + ξ·slot + ty·tileColumns`, one float per tile.
    static func transformInput(_ padded: UnsafePointer<Float>, width: Int, span: Int, tileRows: Int, tileColumns: Int,
                               rows: UnsafeMutablePointer<Float>, slot: Int, into v: UnsafeMutablePointer<Float>)

    /// Aᵀ M A for one tile row: M_ξ of its tiles at `m + ξ·slot`, one float
    /// per tile; `mixed` is scratch of m × (m + 2) × `tileColumns` floats for
    /// Aᵀ M. Writes its m output lines, m·`tileColumns` floats each, one after
    /// the other to `lines`.
    static func transformOutput(_ m: UnsafePointer<Float>, slot: Int, tileColumns: Int, mixed: UnsafeMutablePointer<Float>,
                                into lines: UnsafeMutablePointer<Float>)
}

/// F(2×2, 3×3): 2×2 output tiles from 4×4 input tiles, 16 GEMMs.
///
///     Bᵀ = | 1  0 −1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
///          | 0  1  1  0 |        | ½    ½    ½  |         | 0  1 −1 −1 |
///          | 0 −1  1  0 |        | ½   −½    ½  |
///          | 0  1  0 −1 |        | 0    0    1  |
enum WinogradF2x2: WinogradTransforms {
    static var outputTile: Int { 2 }
    static var filterRows: [(Double, Double, Double)] { [(1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1)] }

    @inline(__always)
    static func transformInput(_ padded: UnsafePointer<Float>, width pw: Int, span: Int, tileRows th: Int, tileColumns tw: Int,
                               rows e: UnsafeMutablePointer<Float>, slot stride: Int, into v: UnsafeMutablePointer<Float>) {
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
            let out = v + ty * tw
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

    @inline(__always)
    static func transformOutput(_ src: UnsafePointer<Float>, slot stride: Int, tileColumns tw: Int, mixed: UnsafeMutablePointer<Float>,
                                into lines: UnsafeMutablePointer<Float>) {
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
    }
}

/// F(4×4, 3×3): 4×4 output tiles from 6×6 input tiles, 36 GEMMs; the
/// points 0, ±1, ±2 (Lavin & Gray 2015).
///
///     Bᵀ = | 4  0 −5  0  1  0 |   G = |  ¼     0    0  |   Aᵀ = | 1  1  1  1  1  0 |
///          | 0 −4 −4  1  1  0 |       | −⅙   −⅙   −⅙  |        | 0  1 −1  2 −2  0 |
///          | 0  4 −4 −1  1  0 |       | −⅙    ⅙   −⅙  |        | 0  1  1  4  4  0 |
///          | 0 −2 −1  2  1  0 |       | 1/24 1/12  ⅙  |        | 0  1 −1  8 −8  1 |
///          | 0  2 −1 −2  1  0 |       | 1/24 −1/12 ⅙  |
///          | 0  4  0 −5  0  1 |       |  0     0    1  |
enum WinogradF4x4: WinogradTransforms {
    static var outputTile: Int { 4 }
    static var filterRows: [(Double, Double, Double)] {
        [(1.0 / 4, 0, 0), (-1.0 / 6, -1.0 / 6, -1.0 / 6), (-1.0 / 6, 1.0 / 6, -1.0 / 6),
         (1.0 / 24, 1.0 / 12, 1.0 / 6), (1.0 / 24, -1.0 / 12, 1.0 / 6), (0, 0, 1)]
    }

    @inline(__always)
    static func transformInput(_ padded: UnsafePointer<Float>, width pw: Int, span: Int, tileRows th: Int, tileColumns tw: Int,
                               rows e: UnsafeMutablePointer<Float>, slot stride: Int, into v: UnsafeMutablePointer<Float>) {
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
            let out = v + ty * tw
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

    @inline(__always)
    static func transformOutput(_ src: UnsafePointer<Float>, slot stride: Int, tileColumns tw: Int, mixed: UnsafeMutablePointer<Float>,
                                into lines: UnsafeMutablePointer<Float>) {
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
    }
}
