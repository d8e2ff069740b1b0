/// 2-D convolution for a batch of images stored channel-major, "CNHW":
/// x[c][n][y][x]. With that layout a whole batch is one GEMM per layer,
/// W (C_out × C_in·k·k) · columns (C_in·k·k × N·H_out·W_out), and the product
/// is already the next layer's CNHW input: no transposes between layers.
public struct Conv2dShape: Equatable, Sendable {
    public var inputs: Int, outputs: Int, kernel: Int, stride: Int, padding: Int
    public init(inputs: Int, outputs: Int, kernel: Int, stride: Int, padding: Int) {
        self.inputs = inputs; self.outputs = outputs; self.kernel = kernel; self.stride = stride; self.padding = padding
    }
    public func outputSide(_ input: Int) -> Int { (input + 2 * padding - kernel) / stride + 1 }
    /// Rows of the im2col matrix.
    public var patch: Int { inputs * kernel * kernel }
}

/// Writes the im2col matrix of CNHW `x` (images × h × w per channel):
/// row (c, ky, kx), column (n, oy, ox), zeros where the tap lands on padding.
public func im2col(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                   into columns: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let plane = oh * ow
    let rowLength = images * plane
    // "Same" stride-1 convolutions (every 3×3 after the first of a stage):
    // each tap's plane is the input plane shifted, so it is one block copy
    // plus zeroed borders, instead of one short copy per output row (perf
    // showed the per-row memcpy calls dominating).
    let samePlane = s.stride == 1 && oh == h && ow == w
    for c in 0..<s.inputs {
        for ky in 0..<s.kernel {
            for kx in 0..<s.kernel {
                let row = columns + ((c * s.kernel + ky) * s.kernel + kx) * rowLength
                if samePlane {
                    let shift = kx - s.padding
                    let oyLo = max(0, s.padding - ky), oyHi = max(oyLo, min(oh, h + s.padding - ky))
                    for n in 0..<images {
                        let src = x + (c * images + n) * h * w
                        let dst = row + n * plane
                        if oyLo > 0 { dst.update(repeating: 0, count: oyLo * ow) }
                        if oyHi < oh { (dst + oyHi * ow).update(repeating: 0, count: (oh - oyHi) * ow) }
                        let count = (oyHi - oyLo) * ow
                        guard count > 0 else { continue }
                        let base = src + (oyLo - s.padding + ky) * w, d = dst + oyLo * ow
                        if shift >= 0 {
                            d.update(from: base + shift, count: max(0, count - shift))
                            for r in 0..<(oyHi - oyLo) { for ox in max(0, ow - shift)..<ow { d[r * ow + ox] = 0 } }
                        } else {
                            (d - shift).update(from: base, count: max(0, count + shift))
                            for r in 0..<(oyHi - oyLo) { for ox in 0..<min(ow, -shift) { d[r * ow + ox] = 0 } }
                        }
                    }
                    continue
                }
                // Output columns whose input x lands inside the image: ox in [oxLo, oxHi).
                let oxLo = min(ow, max(0, (s.padding - kx + s.stride - 1) / s.stride))
                let oxHi = max(oxLo, min(ow, max(0, (w - 1 + s.padding - kx) / s.stride + 1)))
                for n in 0..<images {
                    let src = x + (c * images + n) * h * w
                    for oy in 0..<oh {
                        let dst = row + n * plane + oy * ow
                        let iy = oy * s.stride - s.padding + ky
                        if iy < 0 || iy >= h || oxLo >= oxHi {
                            dst.update(repeating: 0, count: ow)
                            continue
                        }
                        if oxLo > 0 { dst.update(repeating: 0, count: oxLo) }
                        if oxHi < ow { (dst + oxHi).update(repeating: 0, count: ow - oxHi) }
                        let line = src + iy * w - s.padding + kx
                        if s.stride == 1 {
                            (dst + oxLo).update(from: line + oxLo, count: oxHi - oxLo)
                        } else {
                            for ox in oxLo..<oxHi { dst[ox] = line[ox * s.stride] }
                        }
                    }
                }
            }
        }
    }
}

/// Convolution + per-channel bias (a folded BatchNorm), optionally adding a
/// residual and applying ReLU in the same pass over the output.
/// `columns` is scratch of `patch × images·H_out·W_out` floats (unused by 1×1 stride-1 layers).
public func conv2d(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                   weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>? = nil,
                   relu: Bool, columns: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let n = images * oh * ow
    let b: UnsafePointer<Float>
    if s.kernel == 1 && s.stride == 1 && s.padding == 0 {
        b = x  // a 1×1 convolution reads the CNHW input as it is
    } else {
        im2col(x, shape: s, images: images, height: h, width: w, into: columns)
        b = UnsafePointer(columns)
    }
    gemm(m: s.outputs, n: n, k: s.patch, a: weight, lda: s.patch, b: b, ldb: n, c: y, ldc: n)
    for o in 0..<s.outputs {
        let row = y + o * n
        let beta = bias[o]
        if let residual {
            let r = residual + o * n
            if relu { for i in 0..<n { row[i] = max(row[i] + beta + r[i], 0) } }
            else { for i in 0..<n { row[i] += beta + r[i] } }
        } else {
            if relu { for i in 0..<n { row[i] = max(row[i] + beta, 0) } }
            else { for i in 0..<n { row[i] += beta } }
        }
    }
}

/// MaxPool2d(3, stride 2, padding 1) with −∞ padding (SPEC §5), CNHW in and out.
/// Separable: first the max of each horizontal window of 3 (stride 2) per
/// input row, then of 3 such rows; the window clipped at the borders.
public func maxPool3x3s2(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int, into y: UnsafeMutablePointer<Float>) {
    let oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1
    let rows = UnsafeMutablePointer<Float>.allocate(capacity: h * ow)  // horizontal maxima, h × ow
    defer { rows.deallocate() }
    for p in 0..<planes {
        let src = x + p * h * w, dst = y + p * oh * ow
        for iy in 0..<h {
            let line = src + iy * w, out = rows + iy * ow
            // ox = 0 covers columns −1 (padding), 0, 1.
            out[0] = w > 1 ? max(line[0], line[1]) : line[0]
            var ox = 1
            while ox < ow {
                let c = 2 * ox
                let m = max(line[c - 1], line[c])
                out[ox] = c + 1 < w ? max(m, line[c + 1]) : m
                ox += 1
            }
        }
        for oy in 0..<oh {
            let c = 2 * oy
            let a = rows + max(c - 1, 0) * ow, b = rows + c * ow
            let out = dst + oy * ow
            if c + 1 < h {
                let d = rows + (c + 1) * ow
                for ox in 0..<ow { out[ox] = max(max(a[ox], b[ox]), d[ox]) }
            } else {
                for ox in 0..<ow { out[ox] = max(a[ox], b[ox]) }
            }
        }
    }
}

/// Folds an inference-mode BatchNorm into the preceding bias-free convolution:
/// w' = w·γ/√(var+ε), b' = β − mean·γ/√(var+ε).
public func foldBatchNorm(weight: [Float], outputs: Int, gamma: [Float], beta: [Float], mean: [Float], variance: [Float],
                          eps: Float = 1e-5) -> (weight: [Float], bias: [Float]) {
    let per = weight.count / outputs
    var w = weight
    var b = [Float](repeating: 0, count: outputs)
    for o in 0..<outputs {
        let scale = gamma[o] / (variance[o] + eps).squareRoot()
        for i in 0..<per { w[o * per + i] *= scale }
        b[o] = beta[o] - mean[o] * scale
    }
    return (w, b)
}

// MARK: - Gradients

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
