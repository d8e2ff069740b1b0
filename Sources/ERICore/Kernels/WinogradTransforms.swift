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
        // Bᵀ d for tile row ty combines padded rows 2ty … 2ty+3 (p0 … p3), across the padded
        // row's columns: e0 = p0 − p2, e1 = p1 + p2, e2 = p2 − p1, e3 = p1 − p3
        // (CERISupport's winograd.c, vectorised).
        liberi_winograd2_input_columns(padded, pw, span, Int32(th), e)
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
        // Bᵀ d over the 6 padded rows 4ty … 4ty+5 of each tile row, across the padded row's
        // columns: e0 = 4p0 − 5p2 + p4, e1 = (p3 + p4) − 4(p1 + p2), e2 = (p4 − p3) + 4(p1 − p2),
        // e3 = (p4 − p2) + 2(p3 − p1), e4 = (p4 − p2) − 2(p3 − p1), e5 = 4p1 − 5p3 + p5
        // (CERISupport's winograd.c, vectorised).
        liberi_winograd4_input_columns(padded, pw, span, Int32(th), e)
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
