import CERISupport

// The tile-specific halves of the Winograd algorithms that `Winograd`
// (Winograd.swift) drives. Each input and output transform is written out by
// hand for its matrix (tuned with perf), with the matrices' zeros and ones
// folded away; a generic matrix loop would multiply by every coefficient of
// Bᵀ or Aᵀ. The column half of the input transform (Bᵀ d) is a vector loop
// along the padded rows here; the halves that gather or scatter a tile's
// values (row by row) are SSE in CERISupport's winograd.c, four tiles at a
// time: on the backbone's small maps a tile row holds 1 to 7 tiles, too few
// for a loop across one row's tiles to vectorise.

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

    /// Aᵀ M A for every tile of one plane: M_ξ of its tiles at `m + ξ·slot`,
    /// one float per tile (tile t = ty·tileColumns + tx). Writes the plane's
    /// m·`tileRows` output lines, m·`tileColumns` floats each, one after the
    /// other to `lines`.
    static func transformOutput(_ m: UnsafePointer<Float>, slot: Int, tileRows: Int, tileColumns: Int,
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
        // Bᵀ d for tile row ty combines padded rows 2ty … 2ty+3: vector loops
        // over q = 2ty·pw + column, for the tile rows only.
        let e0 = e, e1 = e + span, e2 = e + 2 * span, e3 = e + 3 * span
        let r1 = padded + pw, r2 = padded + 2 * pw, r3 = padded + 3 * pw
        for ty in 0..<th {
            let rows = (2 * ty * pw)..<(2 * ty * pw + pw)  // the padded rows of tile row ty only
            for q in rows { e0[q] = padded[q] - r2[q] }
            for q in rows { e1[q] = r1[q] + r2[q] }
            for q in rows { e2[q] = r2[q] - r1[q] }
            for q in rows { e3[q] = r1[q] - r3[q] }
        }
        // (Bᵀ d) B: the same combinations along each row, 4 columns from 2tx,
        // four tiles at a time (CERISupport's winograd.c).
        liberi_winograd2_input_rows(e, span, pw, Int32(th), Int32(tw), v, stride)
    }

    @inline(__always)
    static func transformOutput(_ src: UnsafePointer<Float>, slot stride: Int, tileRows th: Int, tileColumns tw: Int,
                                into lines: UnsafeMutablePointer<Float>) {
        // Aᵀ M down each column j (s0 = m0j + m1j + m2j, s1 = m1j − m2j − m3j), then
        // the same along each row, four tiles at a time (CERISupport's winograd.c).
        liberi_winograd2_output_plane(src, stride, Int32(th), Int32(tw), lines)
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
        // Bᵀ d over the 6 padded rows 4ty … 4ty+5 of each tile row: vector
        // loops across the padded row's columns.
        let p0 = padded, p1 = padded + pw, p2 = padded + 2 * pw, p3 = padded + 3 * pw
        let p4 = padded + 4 * pw, p5 = padded + 5 * pw
        let e0 = e, e1 = e + span, e2 = e + 2 * span, e3 = e + 3 * span, e4 = e + 4 * span, e5 = e + 5 * span
        for ty in 0..<th {
            let rows = (4 * ty * pw)..<(4 * ty * pw + pw)  // one loop per output row of Bᵀ d: one store stream each
            for q in rows { e0[q] = 4 * p0[q] - 5 * p2[q] + p4[q] }
            for q in rows { e1[q] = (p3[q] + p4[q]) - 4 * (p1[q] + p2[q]) }
            for q in rows { e2[q] = (p4[q] - p3[q]) + 4 * (p1[q] - p2[q]) }
            for q in rows { e3[q] = (p4[q] - p2[q]) + 2 * (p3[q] - p1[q]) }
            for q in rows { e4[q] = (p4[q] - p2[q]) - 2 * (p3[q] - p1[q]) }
            for q in rows { e5[q] = 4 * p1[q] - 5 * p3[q] + p5[q] }
        }
        // (Bᵀ d) B along each row: 6 columns from 4tx, four tiles at a time
        // (CERISupport's winograd.c: o_j = combinations of d_k = row[4tx + k] as
        //  o0 = 4d0 − 5d2 + d4, o1 = (d3 + d4) − 4(d1 + d2), o2 = (d4 − d3) + 4(d1 − d2),
        //  o3 = (d4 − d2) + 2(d3 − d1), o4 = (d4 − d2) − 2(d3 − d1), o5 = 4d1 − 5d3 + d5).
        liberi_winograd4_input_rows(e, span, pw, Int32(th), Int32(tw), v, stride)
    }

    @inline(__always)
    static func transformOutput(_ src: UnsafePointer<Float>, slot stride: Int, tileRows th: Int, tileColumns tw: Int,
                                into lines: UnsafeMutablePointer<Float>) {
        // Aᵀ M down each column j, s_r = (m0+m1+m2+m3+m4, m1−m2+2(m3−m4),
        // m1+m2+4(m3+m4), m1−m2+8(m3−m4)+m5), then the same along each of the 4
        // rows, four tiles at a time (CERISupport's winograd.c).
        liberi_winograd4_output_plane(src, stride, Int32(th), Int32(tw), lines)
    }
}
