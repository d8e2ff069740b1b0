// Gradients of the 2-D convolution kernels in Conv2d.swift (training).

/// Scatters an im2col-shaped gradient back onto the CNHW input (the adjoint of `im2col`), accumulating.
public func col2im(_ columns: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                   into dx: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let plane = oh * ow, rowLength = images * plane
    for c in 0..<s.inputs { for ky in 0..<s.kernel { for kx in 0..<s.kernel {
        let row = columns + ((c * s.kernel + ky) * s.kernel + kx) * rowLength
        for n in 0..<images {
            let dst = dx + (c * images + n) * h * w
            for oy in 0..<oh {
                let iy = oy * s.stride - s.padding + ky
                guard iy >= 0 && iy < h else { continue }
                let src = row + n * plane + oy * ow
                for ox in 0..<ow {
                    let ix = ox * s.stride - s.padding + kx
                    if ix >= 0 && ix < w { dst[iy * w + ix] += src[ox] }
                }
            }
        }
    } } }
}

/// Gradient of a bias-free convolution: dW += dY·colᵀ and (when `dx` is
/// given) dx += col2im(Wᵀ·dY). `columns` is the forward's im2col scratch size.
public func conv2dBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                           weight: UnsafePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                           columns: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let n = images * oh * ow
    let direct = s.kernel == 1 && s.stride == 1 && s.padding == 0
    let cols: UnsafePointer<Float>
    if direct { cols = x } else {
        im2col(x, shape: s, images: images, height: h, width: w, into: columns)
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

/// Training-mode BatchNorm2d on CNHW (statistics over N, H, W per channel),
/// in place on `x`, keeping x̂ and 1/σ for the backward pass and updating
/// the running statistics the PyTorch way (momentum, unbiased variance).
public func batchNormTraining(_ x: UnsafeMutablePointer<Float>, channels: Int, perChannel m: Int,
                              gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                              runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
                              normalised: UnsafeMutablePointer<Float>, inverseStd: UnsafeMutablePointer<Float>,
                              momentum: Float = 0.1, eps: Float = 1e-5) {
    for c in 0..<channels {
        let xc = x + c * m, nc = normalised + c * m
        // Two passes in double: batch statistics over up to millions of values.
        var sum = 0.0
        for i in 0..<m { sum += Double(xc[i]) }
        let mean = sum / Double(m)
        var sq = 0.0
        for i in 0..<m { let d = Double(xc[i]) - mean; sq += d * d }
        let variance = sq / Double(m)
        let inv = Float(1 / (variance + Double(eps)).squareRoot())
        inverseStd[c] = inv
        let mu = Float(mean), g = gamma[c], b = beta[c]
        for i in 0..<m {
            let v = (xc[i] - mu) * inv
            nc[i] = v
            xc[i] = v * g + b
        }
        runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mu
        let unbiased = m > 1 ? sq / Double(m - 1) : variance
        runningVar[c] = (1 - momentum) * runningVar[c] + momentum * Float(unbiased)
    }
}

/// Gradient of training-mode BatchNorm, in place on dy (→ dx): per channel
/// dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)); dγ += Σ dy·x̂, dβ += Σ dy.
public func batchNormBackward(_ dy: UnsafeMutablePointer<Float>, channels: Int, perChannel m: Int, gamma: UnsafePointer<Float>,
                              normalised: UnsafePointer<Float>, inverseStd: UnsafePointer<Float>,
                              dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>) {
    for c in 0..<channels {
        let g = dy + c * m, n = normalised + c * m
        var sumG = 0.0, sumGN = 0.0
        for i in 0..<m { sumG += Double(g[i]); sumGN += Double(g[i] * n[i]) }
        dGamma[c] += Float(sumGN)
        dBeta[c] += Float(sumG)
        let meanG = Float(sumG / Double(m)), meanGN = Float(sumGN / Double(m))
        let k = gamma[c] * inverseStd[c]
        for i in 0..<m { g[i] = k * (g[i] - meanG - n[i] * meanGN) }
    }
}

/// MaxPool 3×3 s2 p1 forward that records the flat input index of each
/// maximum (the first one in scan order, as PyTorch's CPU kernel keeps).
public func maxPool3x3s2Training(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int,
                                 into y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>) {
    let oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1
    for p in 0..<planes {
        let src = x + p * h * w
        for oy in 0..<oh {
            for ox in 0..<ow {
                var m = -Float.infinity, at = -1
                for iy in max(0, 2 * oy - 1)..<min(h, 2 * oy + 2) {
                    for ix in max(0, 2 * ox - 1)..<min(w, 2 * ox + 2) where src[iy * w + ix] > m || at < 0 {
                        m = src[iy * w + ix]; at = iy * w + ix
                    }
                }
                y[(p * oh + oy) * ow + ox] = m
                argmax[(p * oh + oy) * ow + ox] = Int32(p * h * w + at)
            }
        }
    }
}

/// Routes each pooled gradient to its maximum (accumulating into zeroed dx).
public func maxPoolBackward(_ dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, outputs n: Int, into dx: UnsafeMutablePointer<Float>) {
    for i in 0..<n { dx[Int(argmax[i])] += dy[i] }
}
