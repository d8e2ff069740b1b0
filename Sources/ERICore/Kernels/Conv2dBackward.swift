// Gradients of the 2-D convolution kernels in Conv2d.swift (training).
//
// The kernels outside OpenBLAS split their work with `parallelRanges` over
// units whose outputs are disjoint (input channels for col2im, BatchNorm
// channels, pooling planes), and every output element is computed the same
// way whatever the split: the results are bit-identical for any thread count.

/// The output positions o in 0..<count whose input index o·stride − padding + tap lies in 0..<size.
@inline(__always) func validOutputs(count: Int, size: Int, stride: Int, padding: Int, tap: Int) -> Range<Int> {
    let lo = min(count, max(0, (padding - tap + stride - 1) / stride))
    let last = size - 1 + padding - tap  // the largest o·stride allowed
    let hi = last < 0 ? lo : max(lo, min(count, last / stride + 1))
    return lo..<hi
}

/// Scatters an im2col-shaped gradient back onto the CNHW input (the adjoint of `im2col`), accumulating.
/// Each input element receives its taps in (ky, kx) order, in parallel over input channels.
public func col2im(_ columns: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                   into dx: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let plane = oh * ow, rowLength = images * plane
    let k = s.kernel, stride = s.stride
    parallelRanges(s.inputs * images, grain: 2) { units in
        for unit in units {
            let c = unit / images, n = unit % images
            let dst = dx + (c * images + n) * h * w
            for ky in 0..<k {
                let oys = validOutputs(count: oh, size: h, stride: stride, padding: s.padding, tap: ky)
                for kx in 0..<k {
                    let oxs = validOutputs(count: ow, size: w, stride: stride, padding: s.padding, tap: kx)
                    guard !oxs.isEmpty else { continue }
                    let src = columns + ((c * k + ky) * k + kx) * rowLength + n * plane
                    for oy in oys {
                        let line = dst + (oy * stride - s.padding + ky) * w - s.padding + kx
                        let from = src + oy * ow
                        if stride == 1 {
                            for ox in oxs { line[ox] += from[ox] }
                        } else {
                            for ox in oxs { line[ox * stride] += from[ox] }
                        }
                    }
                }
            }
        }
    }
}

/// `im2col` (Conv2d.swift) split over (channel, image) pairs with `parallelRanges`:
/// the same matrix, row (c, ky, kx), column (n, oy, ox), zeros on padding.
public func im2colParallel(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                           into columns: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let plane = oh * ow, rowLength = images * plane
    let k = s.kernel, stride = s.stride
    parallelRanges(s.inputs * images, grain: 2) { units in
        for unit in units {
            let c = unit / images, n = unit % images
            let src = x + (c * images + n) * h * w
            for ky in 0..<k {
                let oys = validOutputs(count: oh, size: h, stride: stride, padding: s.padding, tap: ky)
                for kx in 0..<k {
                    let oxs = validOutputs(count: ow, size: w, stride: stride, padding: s.padding, tap: kx)
                    let dst = columns + ((c * k + ky) * k + kx) * rowLength + n * plane
                    if oys.isEmpty || oxs.isEmpty { dst.update(repeating: 0, count: plane); continue }
                    if oys.lowerBound > 0 { dst.update(repeating: 0, count: oys.lowerBound * ow) }
                    if oys.upperBound < oh { (dst + oys.upperBound * ow).update(repeating: 0, count: (oh - oys.upperBound) * ow) }
                    for oy in oys {
                        let out = dst + oy * ow
                        let line = src + (oy * stride - s.padding + ky) * w - s.padding + kx
                        for ox in 0..<oxs.lowerBound { out[ox] = 0 }
                        if stride == 1 {
                            for ox in oxs { out[ox] = line[ox] }
                        } else {
                            for ox in oxs { out[ox] = line[ox * stride] }
                        }
                        for ox in oxs.upperBound..<ow { out[ox] = 0 }
                    }
                }
            }
        }
    }
}

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
        im2colParallel(x, shape: s, images: images, height: h, width: w, into: columns)
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
        im2colParallel(x, shape: s, images: images, height: h, width: w, into: columns)
        cols = UnsafePointer(columns)
    }
    gemm(transposeB: true, m: s.outputs, n: s.patch, k: n, a: dy, lda: n, b: cols, ldb: n, beta: 1, c: dWeight, ldc: s.patch)
    guard let dx else { return }
    if direct {
        gemm(transposeA: true, m: s.patch, n: n, k: s.outputs, a: weight, lda: s.patch, b: dy, ldb: n, beta: 1, c: dx, ldc: n)
    } else {
        gemm(transposeA: true, m: s.patch, n: n, k: s.outputs, a: weight, lda: s.patch, b: dy, ldb: n, c: columns, ldc: n)
        col2im(columns, shape: s, images: images, height: h, width: w, into: dx)
    }
}

/// Σ x and Σ (x − mean)² of `m` floats, in double with four interleaved
/// partial sums (a fixed order, so the result depends only on the data).
@inline(__always) func sumInDouble(_ x: UnsafePointer<Float>, _ m: Int) -> Double {
    var a = 0.0, b = 0.0, c = 0.0, d = 0.0
    var i = 0
    while i + 4 <= m {
        a += Double(x[i]); b += Double(x[i + 1]); c += Double(x[i + 2]); d += Double(x[i + 3])
        i += 4
    }
    while i < m { a += Double(x[i]); i += 1 }
    return (a + b) + (c + d)
}

@inline(__always) func squaredDeviationInDouble(_ x: UnsafePointer<Float>, _ m: Int, mean: Double) -> Double {
    var a = 0.0, b = 0.0, c = 0.0, d = 0.0
    var i = 0
    while i + 4 <= m {
        let p = Double(x[i]) - mean, q = Double(x[i + 1]) - mean, r = Double(x[i + 2]) - mean, t = Double(x[i + 3]) - mean
        a += p * p; b += q * q; c += r * r; d += t * t
        i += 4
    }
    while i < m { let p = Double(x[i]) - mean; a += p * p; i += 1 }
    return (a + b) + (c + d)
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
            // Two passes in double: batch statistics over up to millions of values.
            let mean = sumInDouble(xc, m) / Double(m)
            let sq = squaredDeviationInDouble(xc, m, mean: mean)
            let variance = sq / Double(m)
            let inv = Float(1 / (variance + Double(eps)).squareRoot())
            inverseStd[c] = inv
            let mu = Float(mean), g = gamma[c], b = beta[c]
            switch (residual, relu) {
            case (nil, false):
                for i in 0..<m { let v = (xc[i] - mu) * inv; nc[i] = v; xc[i] = v * g + b }
            case (nil, true):
                for i in 0..<m { let v = (xc[i] - mu) * inv; nc[i] = v; xc[i] = max(v * g + b, 0) }
            case (let r?, false):
                let rc = r + c * m
                for i in 0..<m { let v = (xc[i] - mu) * inv; nc[i] = v; xc[i] = v * g + b + rc[i] }
            case (let r?, true):
                let rc = r + c * m
                for i in 0..<m { let v = (xc[i] - mu) * inv; nc[i] = v; xc[i] = max(v * g + b + rc[i], 0) }
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

/// `batchNormBackward` from `dy` into `dx` (which may be `dy`). With
/// `reluOutput`, dy is first masked by a ReLU that followed the BatchNorm
/// (dy where reluOutput > 0, else 0), in the same pass. Parallel over channels.
public func batchNormBackward(_ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, channels: Int, perChannel m: Int,
                              gamma: UnsafePointer<Float>, normalised: UnsafePointer<Float>, inverseStd: UnsafePointer<Float>,
                              dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>,
                              reluOutput: UnsafePointer<Float>? = nil) {
    parallelRanges(channels, grain: max(1, 8192 / max(m, 1))) { range in
        for c in range {
            let g = dy + c * m, n = normalised + c * m, out = dx + c * m
            let mask = reluOutput.map { $0 + c * m }
            @inline(__always) func grad(_ i: Int) -> Float {
                if let mask { return mask[i] > 0 ? g[i] : 0 }
                return g[i]
            }
            var g0 = 0.0, g1 = 0.0, g2 = 0.0, g3 = 0.0, n0 = 0.0, n1 = 0.0, n2 = 0.0, n3 = 0.0
            var i = 0
            while i + 4 <= m {
                let a = grad(i), b = grad(i + 1), d = grad(i + 2), e = grad(i + 3)
                g0 += Double(a); g1 += Double(b); g2 += Double(d); g3 += Double(e)
                n0 += Double(a * n[i]); n1 += Double(b * n[i + 1]); n2 += Double(d * n[i + 2]); n3 += Double(e * n[i + 3])
                i += 4
            }
            while i < m { let a = grad(i); g0 += Double(a); n0 += Double(a * n[i]); i += 1 }
            let sumG = (g0 + g1) + (g2 + g3), sumGN = (n0 + n1) + (n2 + n3)
            dGamma[c] += Float(sumGN)
            dBeta[c] += Float(sumG)
            let meanG = Float(sumG / Double(m)), meanGN = Float(sumGN / Double(m))
            let k = gamma[c] * inverseStd[c]
            if let mask {
                for i in 0..<m { out[i] = k * ((mask[i] > 0 ? g[i] : 0) - meanG - n[i] * meanGN) }
            } else {
                for i in 0..<m { out[i] = k * (g[i] - meanG - n[i] * meanGN) }
            }
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
                for ox in 0..<ow {
                    let x0 = max(0, 2 * ox - 1), x1 = min(w, 2 * ox + 2)
                    var m = src[y0 * w + x0], at = y0 * w + x0
                    for iy in y0..<y1 {
                        for ix in x0..<x1 {
                            let v = src[iy * w + ix]
                            let greater = v > m
                            m = greater ? v : m
                            at = greater ? iy * w + ix : at
                        }
                    }
                    out[oy * ow + ox] = m
                    arg[oy * ow + ox] = base + Int32(at)
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
