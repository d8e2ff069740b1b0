// SPEC §5 `MaxPool2d(3, stride 2, pad 1)`, padding −∞: the inference forward,
// the training forward that records each maximum's position, and its gradient.
//
// Each kernel splits its planes over threads with `parallelRanges`; a plane's
// outputs are computed the same way whatever the split, so the results do
// not depend on the thread count.

import CERISupport

/// The backbone's one pooling layer, SPEC §5 `MaxPool2d(3, stride 2, pad 1)`:
/// its window, and the side of the map it writes, which every buffer size
/// and map side after the stem derives from.
public enum MaxPool2dShape {
    public static let kernel = 3, stride = 2, padding = 1
    /// Side of the pooled map for an input map of side `input`: (input − 1) / 2 + 1.
    public static func outputSide(_ input: Int) -> Int {
        Conv2dShape.outputSide(input, kernel: kernel, stride: stride, padding: padding)
    }
}

/// MaxPool2d(3, stride 2, padding 1) with −∞ padding (SPEC §5) over `planes`
/// planes of h × w (CNHW: planes = C·N), into planes of oh × ow
/// (`MaxPool2dShape.outputSide` of each). Separable, so that neighbouring
/// windows share their comparisons: first the max of each horizontal window
/// of 3 (stride 2) per input row, then of 3 such rows. Windows are clipped
/// at the borders, which is what −∞ padding amounts to.
public func maxPool3x3s2(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int, into y: UnsafeMutablePointer<Float>) {
    let ow = MaxPool2dShape.outputSide(w)
    // Planes are independent: split them over threads, each with its own row scratch
    // (CERISupport's maxpool.c: the stride-2 windows four at a time).
    parallelRanges(planes, grain: max(1, 16_384 / max(1, h * w))) { range in
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: h * ow)  // horizontal maxima, h × ow
        defer { rows.deallocate() }
        liberi_maxpool3x3s2(x, Int32(range.lowerBound), Int32(range.upperBound), Int32(h), Int32(w), rows, y)
    }
}

/// `maxPool3x3s2` for training: the same outputs, and in `argmax` the flat
/// input index of each maximum (the first one in scan order, as PyTorch's
/// CPU kernel keeps), which `maxPoolBackward` routes the gradient to.
/// Parallel over planes.
public func maxPool3x3s2Training(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int,
                                 into y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>) {
    let oh = MaxPool2dShape.outputSide(h), ow = MaxPool2dShape.outputSide(w)
    parallelRanges(planes, grain: max(1, 4096 / max(h * w, 1))) { range in
        for p in range {
            let src = x + p * h * w, base = Int32(p * h * w)
            let out = y + p * oh * ow, arg = argmax + p * oh * ow
            for oy in 0..<oh {
                let y0 = max(0, 2 * oy - 1), y1 = min(h, 2 * oy + 2)
                // Outputs whose 3×3 window lies inside the plane: the unrolled scan.
                let interior = oy > 0 && y1 - y0 == 3
                let oxHi = (w - 2) / 2 + 1  // 2·ox + 1 < w
                for ox in 0..<ow {
                    var m: Float, at: Int
                    if interior && ox > 0 && ox < oxHi {
                        let i0 = y0 &* w &+ 2 &* ox &- 1
                        m = src[i0]; at = i0
                        @inline(__always) func take(_ i: Int) { let v = src[i]; if v > m { m = v; at = i } }
                        take(i0 &+ 1); take(i0 &+ 2)
                        take(i0 &+ w); take(i0 &+ w &+ 1); take(i0 &+ w &+ 2)
                        take(i0 &+ 2 &* w); take(i0 &+ 2 &* w &+ 1); take(i0 &+ 2 &* w &+ 2)
                    } else {
                        let x0 = max(0, 2 * ox - 1), x1 = min(w, 2 * ox + 2)
                        m = src[y0 * w + x0]; at = y0 * w + x0
                        for iy in y0..<y1 {
                            for ix in x0..<x1 {
                                let v = src[iy * w + ix]
                                if v > m { m = v; at = iy * w + ix }
                            }
                        }
                    }
                    out[oy * ow + ox] = m
                    arg[oy * ow + ox] = base &+ Int32(truncatingIfNeeded: at)
                }
            }
        }
    }
}

/// Gradient of `maxPool3x3s2Training`: adds each of the n pooled gradients
/// dy[i] to dx at its maximum, argmax[i]; the window's other inputs get
/// nothing from it. dx must be zeroed first, or `clear` set. With `planes` >
/// 1, the outputs are that many equal planes whose maxima lie within their
/// own input plane of `inputPlane` floats, so the planes run in parallel
/// without two threads adding to one element. With `clear`, each input plane
/// of `inputPlane` floats is zeroed first, by the thread that fills it.
public func maxPoolBackward(_ dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, outputs n: Int, into dx: UnsafeMutablePointer<Float>,
                            planes: Int = 1, inputPlane: Int = 0, clear: Bool = false) {
    guard planes > 1 else {
        if clear { dx.update(repeating: 0, count: inputPlane) }
        for i in 0..<n { dx[Int(argmax[i])] += dy[i] }
        return
    }
    let per = n / planes
    parallelRanges(planes, grain: max(1, 4096 / max(inputPlane, 1))) { range in
        if clear { (dx + range.lowerBound * inputPlane).update(repeating: 0, count: range.count * inputPlane) }
        for i in (range.lowerBound * per)..<(range.upperBound * per) { dx[Int(argmax[i])] += dy[i] }
    }
}

// MARK: - Ceil-mode pooling (the face detector)

/// Side of MaxPool2d(kernel, stride, ceil_mode=True) without padding: PyTorch
/// rounds the window count up, so a last window may hang over the edge (it
/// then covers what is left), ⌈(input − kernel) / stride⌉ + 1.
public func ceilPoolSide(_ input: Int, kernel: Int, stride: Int) -> Int {
    input <= kernel ? 1 : (input - kernel + stride - 1) / stride + 1
}

/// MaxPool2d(kernel, stride, ceil_mode=True), no padding, over `planes`
/// planes of h × w into planes of `ceilPoolSide` each way (the windows
/// clipped at the bottom and right edges). Split over planes.
public func maxPoolCeil(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int, kernel k: Int, stride s: Int,
                        into y: UnsafeMutablePointer<Float>) {
    let oh = ceilPoolSide(h, kernel: k, stride: s), ow = ceilPoolSide(w, kernel: k, stride: s)
    parallelRanges(planes, grain: max(1, 16_384 / max(1, h * w))) { range in
        // The maximum of each window's rows first (a whole row at a time, in
        // registers), then of its columns; MTCNN's 2/2 and 3/2 windows unrolled.
        let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: w + 8)   // (w): the window rows' maximum
        defer { rowMax.deallocate() }
        // Windows wholly inside the row; the last one may be clipped.
        let inside = w >= k ? (w - k) / s + 1 : 0
        for p in range {
            let src = x + p * h * w, dst = y + p * oh * ow
            for oy in 0..<oh {
                let y0 = oy * s, y1 = min(y0 + k, h)
                let first = src + y0 * w
                var c = 0
                while c + 8 <= w {
                    var m = UnsafeRawPointer(first + c).loadUnaligned(as: SIMD8<Float>.self)
                    for iy in (y0 + 1)..<max(y0 + 1, y1) {
                        m = pointwiseMax(m, UnsafeRawPointer(src + iy * w + c).loadUnaligned(as: SIMD8<Float>.self))
                    }
                    UnsafeMutableRawPointer(rowMax + c).storeBytes(of: m, as: SIMD8<Float>.self)
                    c += 8
                }
                while c < w {
                    var m = first[c]
                    for iy in (y0 + 1)..<max(y0 + 1, y1) { m = Swift.max(m, src[iy * w + c]) }
                    rowMax[c] = m
                    c += 1
                }
                let out = dst + oy * ow
                if k == 3 && s == 2 {
                    for ox in 0..<inside { out[ox] = Swift.max(Swift.max(rowMax[2 * ox], rowMax[2 * ox + 1]), rowMax[2 * ox + 2]) }
                } else if k == 2 && s == 2 {
                    for ox in 0..<inside { out[ox] = Swift.max(rowMax[2 * ox], rowMax[2 * ox + 1]) }
                } else {
                    for ox in 0..<inside {
                        var m = rowMax[ox * s]
                        for ix in (ox * s + 1)..<(ox * s + k) { m = Swift.max(m, rowMax[ix]) }
                        out[ox] = m
                    }
                }
                for ox in inside..<ow {   // clipped at the right edge
                    let x0 = ox * s, x1 = min(x0 + k, w)
                    var m = rowMax[x0]
                    for ix in (x0 + 1)..<max(x0 + 1, x1) { m = Swift.max(m, rowMax[ix]) }
                    out[ox] = m
                }
            }
        }
    }
}
