// Gradients of the 2-D convolution kernels in Conv2d.swift (training).
//
// The kernels outside OpenBLAS split their work with `parallelRanges` over
// units whose outputs are disjoint ((channel, image) planes for col2im,
// BatchNorm channels, pooling planes), and every output element is computed
// the same way whatever the split, so their results do not depend on the
// thread count (OpenBLAS's own may).

/// The output positions o in 0..<count whose input index o·stride − padding + tap lies in 0..<size.
@inline(__always) func validOutputs(count: Int, size: Int, stride: Int, padding: Int, tap: Int) -> Range<Int> {
    let lo = min(count, max(0, (padding - tap + stride - 1) / stride))
    let last = size - 1 + padding - tap  // the largest o·stride allowed
    let hi = last < 0 ? lo : max(lo, min(count, last / stride + 1))
    return lo..<hi
}

/// Scatters an im2col-shaped gradient back onto the CNHW input (the adjoint of `im2col`), accumulating.
/// Each input element receives its taps in (ky, kx) order, in parallel over (channel, image) planes.
public func col2im(_ columns: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                   into dx: UnsafeMutablePointer<Float>) {
    col2im(UnsafeMutablePointer(mutating: columns), shape: s, images: images, first: 0, count: images, height: h, width: w,
           into: dx, clobber: false)
}

/// `col2im` of the columns of images first..<first+count only: `columns`
/// holds just their im2col columns (rows of count·H_out·W_out), `dx` all `images`.
/// With `clobber`, a "same" stride-1 convolution's columns whose taps land on
/// padding are zeroed in `columns`, so that each tap's rows scatter as one
/// contiguous shifted add (those zeros land on neighbouring row ends).
func col2im(_ columns: UnsafeMutablePointer<Float>, shape s: Conv2dShape, images: Int, first: Int, count: Int, height h: Int, width w: Int,
            into dx: UnsafeMutablePointer<Float>, clobber: Bool) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let plane = oh * ow, rowLength = count * plane
    let k = s.kernel, stride = s.stride
    let samePlane = clobber && stride == 1 && oh == h && ow == w
    // Per tap, the outputs whose input is inside the image (once, not per plane: integer divisions).
    let rowsOfTap = (0..<k).map { validOutputs(count: oh, size: h, stride: stride, padding: s.padding, tap: $0) }
    let columnsOfTap = (0..<k).map { validOutputs(count: ow, size: w, stride: stride, padding: s.padding, tap: $0) }
    parallelRanges(s.inputs * count, grain: 2) { units in
        for unit in units {
            let c = unit / count, n = unit % count
            let dst = dx + (c * images + first + n) * h * w
            for ky in 0..<k {
                let oys = rowsOfTap[ky]
                for kx in 0..<k {
                    let oxs = columnsOfTap[kx]
                    guard !oxs.isEmpty, !oys.isEmpty else { continue }
                    let src = columns + ((c * k + ky) * k + kx) * rowLength + n * plane
                    if samePlane {
                        for oy in oys {
                            let row = src + oy * ow
                            for ox in 0..<oxs.lowerBound { row[ox] = 0 }
                            for ox in oxs.upperBound..<ow { row[ox] = 0 }
                        }
                        // Input index of output j (= oy·w + ox) is j + offset.
                        let offset = (ky - s.padding) * w + kx - s.padding
                        let lo = max(oys.lowerBound * ow, -offset), hi = min(oys.upperBound * ow, h * w - offset)
                        if lo < hi {
                            let d = dst + offset
                            for j in lo..<hi { d[j] += src[j] }
                        }
                        continue
                    }
                    for oy in oys {
                        let line = dst + (oy * stride - s.padding + ky) * w - s.padding + kx
                        let from = src + oy * ow
                        if stride == 1 {
                            for ox in oxs { line[ox] += from[ox] }
                        } else {
                            var at = line + oxs.lowerBound &* stride
                            for ox in oxs { at.pointee += from[ox]; at += stride }
                        }
                    }
                }
            }
        }
    }
}

/// Floats of Wᵀ·dY that conv2dBackward computes and scatters at a time, so
/// that col2im reads them from the last-level cache rather than memory, in
/// chunks big enough that waking the other threads for each one pays off.
let col2imChunkFloats = 1 << 21

/// Training-mode convolution without bias: y = W · im2col(x), the im2col
/// matrix written to `columns` (patch × images·H_out·W_out floats; a 1×1
/// stride-1 layer reads x directly and leaves `columns` alone).
public func conv2dTraining(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                           weight: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let n = images * oh * ow
    let b: UnsafePointer<Float>
    if s.kernel == 1 && s.stride == 1 && s.padding == 0 {
        b = x
    } else {
        im2col(x, shape: s, images: images, height: h, width: w, into: columns)
        b = UnsafePointer(columns)
    }
    gemm(m: s.outputs, n: n, k: s.patch, a: weight, lda: s.patch, b: b, ldb: n, c: y, ldc: n)
}

/// Gradient of a bias-free convolution: dW += dY·colᵀ and (when `dx` is
/// given) dx += col2im(Wᵀ·dY). `columns` is the forward's im2col scratch size.
/// `inputColumns`, when given, is im2col(x) kept from the forward pass (it is
/// then not recomputed, and `columns` only holds Wᵀ·dY).
public func conv2dBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                           weight: UnsafePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                           columns: UnsafeMutablePointer<Float>, inputColumns: UnsafePointer<Float>? = nil) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let n = images * oh * ow
    let direct = s.kernel == 1 && s.stride == 1 && s.padding == 0
    let cols: UnsafePointer<Float>
    if direct { cols = x } else if let inputColumns { cols = inputColumns } else {
        im2col(x, shape: s, images: images, height: h, width: w, into: columns)
        cols = UnsafePointer(columns)
    }
    gemm(transposeB: true, m: s.outputs, n: s.patch, k: n, a: dy, lda: n, b: cols, ldb: n, beta: 1, c: dWeight, ldc: s.patch)
    guard let dx else { return }
    if direct {
        gemm(transposeA: true, m: s.patch, n: n, k: s.outputs, a: weight, lda: s.patch, b: dy, ldb: n, beta: 1, c: dx, ldc: n)
    } else {
        // Wᵀ·dY a few images at a time (each image's columns are the same
        // dot products whatever the chunk), each chunk scattered while cached.
        let perImage = oh * ow
        let chunk = max(1, min(images, col2imChunkFloats / max(1, s.patch * perImage)))
        var first = 0
        while first < images {
            let count = min(chunk, images - first)
            gemm(transposeA: true, m: s.patch, n: count * perImage, k: s.outputs, a: weight, lda: s.patch, b: dy + first * perImage, ldb: n,
                 c: columns, ldc: count * perImage)
            col2im(columns, shape: s, images: images, first: first, count: count, height: h, width: w, into: dx, clobber: true)
            first += count
        }
    }
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// BatchNorm's statistics: blocks of this many floats are summed in float
/// (SIMD8 lanes), the block sums in double — a fixed order, so the result
/// depends only on the data, and double where the counts reach millions.
let statisticsBlock = 512

@inline(__always) func blockedSum(_ x: UnsafePointer<Float>, _ m: Int) -> Double {
    var total = 0.0, i = 0
    while i < m { let n = min(statisticsBlock, m - i); total += Double(simdSum(x + i, n)); i += n }
    return total
}

@inline(__always) func blockedSquaredDeviation(_ x: UnsafePointer<Float>, _ m: Int, mean: Float) -> Double {
    var total = 0.0, i = 0
    while i < m { let n = min(statisticsBlock, m - i); total += Double(simdSquaredDeviation(x + i, n, mean: mean)); i += n }
    return total
}

/// y = γ·x̂ + β (+ r) (→ ReLU), keeping x̂; `hasResidual`/`relu` are constants at each call.
@inline(__always) func batchNormApply(_ x: UnsafeMutablePointer<Float>, _ normalised: UnsafeMutablePointer<Float>, _ m: Int,
                                      mean: Float, inverseStd: Float, gamma: Float, beta: Float,
                                      residual: UnsafePointer<Float>?, hasResidual: Bool, relu: Bool) {
    let vm = SIMD8(repeating: mean), vi = SIMD8(repeating: inverseStd), vg = SIMD8(repeating: gamma), vb = SIMD8(repeating: beta)
    var i = 0
    while i + 8 <= m {
        let v = (load8(x + i) - vm) * vi
        store8(v, normalised + i)
        var y = v * vg + vb
        if hasResidual { y += load8(residual! + i) }
        if relu { y.replace(with: 0, where: y .< 0) }  // max(y, 0) (a −0 may keep its sign)
        store8(y, x + i)
        i += 8
    }
    while i < m {
        let v = (x[i] - mean) * inverseStd
        normalised[i] = v
        var y = v * gamma + beta
        if hasResidual { y += residual![i] }
        if relu { y = max(y, 0) }
        x[i] = y
        i += 1
    }
}

/// Training-mode BatchNorm2d on CNHW (statistics over N, H, W per channel),
/// in place on `x`, keeping x̂ and 1/σ for the backward pass and updating
/// the running statistics the PyTorch way (momentum, unbiased variance).
/// Optionally adds `residual` after the affine map and applies ReLU, in the
/// same pass (y = max(γx̂ + β + r, 0)). Parallel over channels.
public func batchNormTraining(_ x: UnsafeMutablePointer<Float>, channels: Int, perChannel m: Int,
                              gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                              runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
                              normalised: UnsafeMutablePointer<Float>, inverseStd: UnsafeMutablePointer<Float>,
                              momentum: Float = 0.1, eps: Float = 1e-5,
                              residual: UnsafePointer<Float>? = nil, relu: Bool = false) {
    parallelRanges(channels, grain: max(1, 8192 / max(m, 1))) { range in
        for c in range {
            let xc = x + c * m, nc = normalised + c * m
            // Two passes: the mean, then the squared deviations from it.
            let mu = Float(blockedSum(xc, m) / Double(m))
            let sq = blockedSquaredDeviation(xc, m, mean: mu)
            let variance = sq / Double(m)
            let inv = Float(1 / (variance + Double(eps)).squareRoot())
            inverseStd[c] = inv
            let rc = residual.map { $0 + c * m }
            switch (rc != nil, relu) {
            case (false, false): batchNormApply(xc, nc, m, mean: mu, inverseStd: inv, gamma: gamma[c], beta: beta[c], residual: nil, hasResidual: false, relu: false)
            case (false, true): batchNormApply(xc, nc, m, mean: mu, inverseStd: inv, gamma: gamma[c], beta: beta[c], residual: nil, hasResidual: false, relu: true)
            case (true, false): batchNormApply(xc, nc, m, mean: mu, inverseStd: inv, gamma: gamma[c], beta: beta[c], residual: rc, hasResidual: true, relu: false)
            case (true, true): batchNormApply(xc, nc, m, mean: mu, inverseStd: inv, gamma: gamma[c], beta: beta[c], residual: rc, hasResidual: true, relu: true)
            }
            runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mu
            let unbiased = m > 1 ? sq / Double(m - 1) : variance
            runningVar[c] = (1 - momentum) * runningVar[c] + momentum * Float(unbiased)
        }
    }
}

/// Gradient of training-mode BatchNorm, in place on dy (→ dx): per channel
/// dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)); dγ += Σ dy·x̂, dβ += Σ dy.
public func batchNormBackward(_ dy: UnsafeMutablePointer<Float>, channels: Int, perChannel m: Int, gamma: UnsafePointer<Float>,
                              normalised: UnsafePointer<Float>, inverseStd: UnsafePointer<Float>,
                              dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>) {
    batchNormBackward(UnsafePointer(dy), into: dy, channels: channels, perChannel: m, gamma: gamma, normalised: normalised,
                      inverseStd: inverseStd, dGamma: dGamma, dBeta: dBeta)
}

/// g, or g masked by a ReLU output (g where mask > 0, else 0).
@inline(__always) func masked(_ g: SIMD8<Float>, _ mask: UnsafePointer<Float>?, _ i: Int, _ hasMask: Bool) -> SIMD8<Float> {
    hasMask ? SIMD8<Float>.zero.replacing(with: g, where: load8(mask! + i) .> 0) : g
}
@inline(__always) func masked(_ g: Float, _ mask: UnsafePointer<Float>?, _ i: Int, _ hasMask: Bool) -> Float {
    hasMask ? (mask![i] > 0 ? g : 0) : g
}

/// One channel of the BatchNorm backward; `hasMask` is a constant at each call.
@inline(__always) func batchNormBackwardChannel(_ g: UnsafePointer<Float>, _ n: UnsafePointer<Float>, _ mask: UnsafePointer<Float>?,
                                                hasMask: Bool, _ out: UnsafeMutablePointer<Float>, _ m: Int,
                                                scale k: Float) -> (g: Double, gn: Double) {
    // Σ g and Σ g·x̂: SIMD8 float sums per block of `statisticsBlock`, in double across blocks.
    var sumG = 0.0, sumGN = 0.0, start = 0
    while start < m {
        let end = min(m, start + statisticsBlock)
        var accG = SIMD8<Float>.zero, accGN = SIMD8<Float>.zero
        var i = start
        while i + 8 <= end {
            let gi = masked(load8(g + i), mask, i, hasMask)
            accG += gi
            accGN += gi * load8(n + i)
            i += 8
        }
        var tailG = accG.sum(), tailGN = accGN.sum()
        while i < end { let gi = masked(g[i], mask, i, hasMask); tailG += gi; tailGN += gi * n[i]; i += 1 }
        sumG += Double(tailG); sumGN += Double(tailGN)
        start = end
    }
    let meanG = Float(sumG / Double(m)), meanGN = Float(sumGN / Double(m))
    let vk = SIMD8(repeating: k), vmg = SIMD8(repeating: meanG), vmgn = SIMD8(repeating: meanGN)
    var i = 0
    while i + 8 <= m {
        store8(vk * (masked(load8(g + i), mask, i, hasMask) - vmg - load8(n + i) * vmgn), out + i)
        i += 8
    }
    while i < m { out[i] = k * (masked(g[i], mask, i, hasMask) - meanG - n[i] * meanGN); i += 1 }
    return (sumG, sumGN)
}

/// `batchNormBackward` from `dy` into `dx` (which may be `dy`). With
/// `reluOutput`, dy is first masked by a ReLU that followed the BatchNorm
/// (dy where reluOutput > 0, else 0), in the same pass. Parallel over channels.
public func batchNormBackward(_ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, channels: Int, perChannel m: Int,
                              gamma: UnsafePointer<Float>, normalised: UnsafePointer<Float>, inverseStd: UnsafePointer<Float>,
                              dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>,
                              reluOutput: UnsafePointer<Float>? = nil) {
    parallelRanges(channels, grain: max(1, 8192 / max(m, 1))) { range in
        for c in range {
            let k = gamma[c] * inverseStd[c]
            let sums = reluOutput != nil
                ? batchNormBackwardChannel(dy + c * m, normalised + c * m, reluOutput! + c * m, hasMask: true, dx + c * m, m, scale: k)
                : batchNormBackwardChannel(dy + c * m, normalised + c * m, nil, hasMask: false, dx + c * m, m, scale: k)
            dGamma[c] += Float(sums.gn)
            dBeta[c] += Float(sums.g)
        }
    }
}

/// MaxPool 3×3 s2 p1 forward that records the flat input index of each
/// maximum (the first one in scan order, as PyTorch's CPU kernel keeps).
/// Parallel over planes.
public func maxPool3x3s2Training(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int,
                                 into y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>) {
    let oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1
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

/// Routes each pooled gradient to its maximum (accumulating into zeroed dx).
/// With `planes`, the outputs are that many equal planes whose arg-maxima stay
/// within their own input plane of `inputPlane` floats; the planes are then
/// processed in parallel, and with `clear` each input plane is zeroed first
/// (dx need not be zeroed by the caller).
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
