import CERISupport
#if canImport(Glibc)
import Glibc
#endif

// Row-wise and elementwise kernels of SPEC §5. They take raw pointers because
// they run on arena buffers inside the forward pass; each loop is simple
// enough for the compiler to vectorise, except reductions, which use SIMD8.

/// Sum of `n` floats with eight SIMD accumulators (Swift does not vectorise
/// float reductions on its own, since that reorders additions).
@inline(__always)
public func simdSum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        acc += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += x[i]; i += 1 }
    return s
}

/// Σ (x − mean)² with SIMD8 accumulators.
@inline(__always)
func simdSquaredDeviation(_ x: UnsafePointer<Float>, _ n: Int, mean: Float) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    let m = SIMD8<Float>(repeating: mean)
    var i = 0
    while i + 8 <= n {
        let d = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - m
        acc += d * d
        i += 8
    }
    var s = acc.sum()
    while i < n { let d = x[i] - mean; s += d * d; i += 1 }
    return s
}

/// LayerNorm over the last axis (PyTorch semantics, eps 1e-5, biased
/// variance). When `normalised` and `inverseStd` are given (training), it
/// also keeps x̂ (rows × d) and 1/σ per row for `layerNormBackward`.
public func layerNorm(_ x: UnsafePointer<Float>, rows: Int, width d: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                      into y: UnsafeMutablePointer<Float>, normalised: UnsafeMutablePointer<Float>? = nil,
                      inverseStd: UnsafeMutablePointer<Float>? = nil, eps: Float = 1e-5) {
    for r in 0..<rows {
        let xr = x + r * d, yr = y + r * d
        let mean = simdSum(xr, d) / Float(d)
        let variance = simdSquaredDeviation(xr, d, mean: mean) / Float(d)
        let inv = 1 / (variance + eps).squareRoot()
        if let normalised, let inverseStd {
            let nr = normalised + r * d
            inverseStd[r] = inv
            for i in 0..<d {
                nr[i] = (xr[i] - mean) * inv
                yr[i] = nr[i] * weight[i] + bias[i]
            }
        } else {
            for i in 0..<d { yr[i] = (xr[i] - mean) * inv * weight[i] + bias[i] }
        }
    }
}

/// In-place softmax of each row of `width`, treating -inf as a zero weight:
/// four lanes at a time with a polynomial exp within 2 ulp (CERISupport's
/// activations.c; an exp below e^−87.33, under FLT_MIN, is 0).
public func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width n: Int) {
    liberi_softmax_rows(x, rows, n)
}

@inline(__always) public func relu(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { x[i] = max(x[i], 0) }
}

/// PReLU per channel in place over `channels` rows of `count` values (CNHW
/// or CHW maps, or rows × channels with count 1 per row: see `perRow`):
/// x if x ≥ 0, else slope[c]·x.
public func prelu(_ x: UnsafeMutablePointer<Float>, channels: Int, count n: Int, slopes: UnsafePointer<Float>) {
    for c in 0..<channels {
        let row = x + c * n, a = slopes[c]
        for i in 0..<n { let v = row[i]; row[i] = v >= 0 ? v : a * v }
    }
}

/// PReLU over rows × channels (a linear layer's output, one slope per column), in place.
public func prelu(_ x: UnsafeMutablePointer<Float>, rows: Int, channels: Int, slopes: UnsafePointer<Float>) {
    for r in 0..<rows {
        let row = x + r * channels
        for c in 0..<channels { let v = row[c]; row[c] = v >= 0 ? v : slopes[c] * v }
    }
}

/// Exact GELU, 0.5·x·(1 + erf(x/√2)) (SPEC §5), in place: four lanes at a
/// time with erf to 1.5e-7 as PyTorch's vectorised float GELU computes it
/// (CERISupport's activations.c), split over the compute threads
/// (element-wise, so the same at any thread count).
public func gelu(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    parallelRanges(n, grain: 1 << 14) { r in liberi_gelu(x + r.lowerBound, r.count) }
}

@inline(__always) public func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

/// y += x, elementwise.
@inline(__always) public func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] += x[i] }
}

/// Sinusoidal positional encoding table (SPEC §5 `PE(n, d)`), computed in
/// double precision like the reference, rows × d.
public func positionalEncoding(rows: Int, width d: Int) -> [Float] {
    var pe = [Float](repeating: 0, count: rows * d)
    for i in stride(from: 0, to: d, by: 2) {
        let frequency = 1 / pow(10000.0, Double(i) / Double(d))
        for n in 0..<rows {
            let angle = Double(n) * frequency
            pe[n * d + i] = Float(sin(angle))
            // SPEC ambiguity: an odd d has no cos column for its last sine.
            if i + 1 < d { pe[n * d + i + 1] = Float(cos(angle)) }
        }
    }
    return pe
}

// MARK: - Gradients

/// dx = (1/σ)·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·γ; dγ += Σ dy·x̂, dβ += Σ dy.
public func layerNormBackward(_ dy: UnsafePointer<Float>, rows: Int, width d: Int, weight: UnsafePointer<Float>,
                              normalised: UnsafePointer<Float>, inverseStd: UnsafePointer<Float>,
                              dx: UnsafeMutablePointer<Float>, accumulate: Bool,
                              dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let g = dy + r * d, n = normalised + r * d, out = dx + r * d
        var meanG: Float = 0, meanGN: Float = 0
        for i in 0..<d {
            let gi = g[i] * weight[i]
            meanG += gi
            meanGN += gi * n[i]
            dWeight[i] += g[i] * n[i]
            dBias[i] += g[i]
        }
        meanG /= Float(d)
        meanGN /= Float(d)
        let inv = inverseStd[r]
        for i in 0..<d {
            let v = inv * (g[i] * weight[i] - meanG - n[i] * meanGN)
            out[i] = accumulate ? out[i] + v : v
        }
    }
}

/// Softmax backward in place on dy: dx = y·(dy − Σ dy·y), per row.
public func softmaxRowsBackward(_ y: UnsafePointer<Float>, _ dy: UnsafeMutablePointer<Float>, rows: Int, width n: Int) {
    for r in 0..<rows {
        let yr = y + r * n, g = dy + r * n
        var dot: Float = 0
        for i in 0..<n { dot += g[i] * yr[i] }
        for i in 0..<n { g[i] = yr[i] * (g[i] - dot) }
    }
}

/// GELU backward: dy · (Φ(x) + x·φ(x)), with `x` the GELU input; writes into dy.
/// Split with `parallelRanges` (element-wise, so the result is the same at any thread count).
public func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafeMutablePointer<Float>, _ n: Int) {
    let invSqrt2: Float = 0.70710678118654752, invSqrt2Pi: Float = 0.39894228040143268
    parallelRanges(n, grain: 1 << 14) { r in
        for i in r {
            let v = x[i]
            let cdf = 0.5 * (1 + erff(v * invSqrt2))
            dy[i] *= cdf + v * invSqrt2Pi * expf(-0.5 * v * v)
        }
    }
}

/// ReLU backward given the ReLU output: dy where y > 0, else 0.
/// Large arrays are split with `parallelRanges` (element-wise, so the result is the same).
public func reluBackward(_ y: UnsafePointer<Float>, _ dy: UnsafeMutablePointer<Float>, _ n: Int) {
    if n < 1 << 16 {
        for i in 0..<n { dy[i] = y[i] > 0 ? dy[i] : 0 }
        return
    }
    parallelRanges(n, grain: 1 << 15) { r in for i in r { dy[i] = y[i] > 0 ? dy[i] : 0 } }
}

/// SPEC §4.2 step 1: the mono signal is the mean of the channels. `interleaved`
/// holds frames of `channels` samples; a trailing incomplete frame is ignored.
/// `channels` must be at least 1 (a programmer error otherwise; the checked
/// entry point is `AudioPreprocessor.features`). ERIMedia mixes with it while
/// decoding, so that mixing then or afterwards gives the same floats.
public func downmix(interleaved: UnsafeBufferPointer<Float>, channels: Int) -> [Float] {
    precondition(channels >= 1, "downmix needs at least one channel")
    if channels == 1 { return Array(interleaved) }
    let frames = interleaved.count / channels
    guard frames > 0, let base = interleaved.baseAddress else { return [] }
    let scale = Float(channels)
    return [Float](unsafeUninitializedCapacity: frames) { out, initialized in
        // One pass over the interleaved samples on raw pointers: this runs over
        // every sample of every clip.
        for t in 0..<frames {
            let frame = base + t * channels
            var sum: Float = 0
            for c in 0..<channels { sum += frame[c] }
            out[t] = sum / scale
        }
        initialized = frames
    }
}
