// SPEC §5 `BatchNorm2d`: folded into the convolution for inference, and the
// training-mode forward (batch statistics) with its gradient.
//
// The training kernels split their work over channels with `parallelRanges`
// and sum each channel in a fixed order, so their results do not depend on
// the thread count.

/// Folds an inference-mode BatchNorm into the preceding bias-free
/// convolution: with running statistics (SPEC §5) the BatchNorm is an affine
/// map per output channel, so w' = w·γ/√(var+ε) and b' = β − mean·γ/√(var+ε)
/// give the same outputs with no pass of their own. `weight` is PyTorch's
/// (outputs, …); the result's bias is (outputs).
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

/// SIMD8 loads and stores at any float offset: a channel's values start
/// wherever c·m floats put them, so they are not 32-byte aligned.
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

/// Σ x over `m` floats, in `statisticsBlock` blocks.
@inline(__always) func blockedSum(_ x: UnsafePointer<Float>, _ m: Int) -> Double {
    var total = 0.0, i = 0
    while i < m { let n = min(statisticsBlock, m - i); total += Double(simdSum(x + i, n)); i += n }
    return total
}

/// Σ (x − mean)² over `m` floats, in `statisticsBlock` blocks.
@inline(__always) func blockedSquaredDeviation(_ x: UnsafePointer<Float>, _ m: Int, mean: Float) -> Double {
    var total = 0.0, i = 0
    while i < m { let n = min(statisticsBlock, m - i); total += Double(simdSquaredDeviation(x + i, n, mean: mean)); i += n }
    return total
}

/// One channel of `batchNormTraining` after its statistics: x̂ = (x − mean)/σ
/// into `normalised`, and y = γ·x̂ + β (+ r) (→ ReLU) over x. `hasResidual`
/// and `relu` are constants at each call, so each of the four variants
/// compiles to its own loop.
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

/// Training-mode BatchNorm2d (SPEC §5: batch statistics over N, H, W, eps
/// 1e-5, momentum 0.1) on CNHW, in place on `x` (channels × m), keeping x̂
/// (channels × m) and 1/σ (channels) for the backward pass and updating the
/// running statistics the PyTorch way (momentum, unbiased variance).
/// Optionally adds `residual` after the affine map and applies ReLU in the
/// same pass (y = max(γx̂ + β + r, 0)), so that a BasicBlock's end costs no
/// extra pass over memory. Parallel over channels.
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

/// Gradient of `batchNormTraining`, in place on dy (→ dx): per channel
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
