/// Dilated 1-D convolution over time, "same" zero padding δ(k−1)/2 (SPEC §5
/// TCNBlock), on a row-major sequence x (T × d_in) → y (T × d_out).
///
/// `taps` holds the weight rearranged tap-major, taps[k] = W[:, :, k]
/// (d_out × d_in), so each tap is one GEMM on the rows it shifts onto.
public func conv1dSame(_ x: UnsafePointer<Float>, steps t: Int, inputs: Int, taps: UnsafePointer<Float>, kernel: Int,
                       dilation: Int, bias: UnsafePointer<Float>, outputs: Int, into y: UnsafeMutablePointer<Float>) {
    for r in 0..<t { (y + r * outputs).update(from: bias, count: outputs) }
    let half = (kernel - 1) / 2
    for k in 0..<kernel {
        let shift = (k - half) * dilation      // y[t] reads x[t + shift]
        let first = max(0, -shift), last = min(t, t - shift)
        guard last > first else { continue }
        gemm(transposeB: true, m: last - first, n: outputs, k: inputs,
             a: x + (first + shift) * inputs, lda: inputs,
             b: taps + k * outputs * inputs, ldb: inputs,
             beta: 1, c: y + first * outputs, ldc: outputs)
    }
}

/// Rearranges a PyTorch Conv1d weight (d_out × d_in × k) tap-major (k × d_out × d_in).
public func conv1dTaps(_ w: [Float], outputs: Int, inputs: Int, kernel: Int) -> [Float] {
    var taps = [Float](repeating: 0, count: w.count)
    for o in 0..<outputs { for i in 0..<inputs { for k in 0..<kernel {
        taps[(k * outputs + o) * inputs + i] = w[(o * inputs + i) * kernel + k]
    } } }
    return taps
}

/// Gradient of `conv1dSame`: dx (accumulated), d taps (tap-major, accumulated), d bias.
public func conv1dSameBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, steps t: Int, inputs: Int, outputs: Int,
                               taps: UnsafePointer<Float>, kernel: Int, dilation: Int,
                               dx: UnsafeMutablePointer<Float>?, dTaps: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>) {
    for r in 0..<t { addInPlace(dBias, dy + r * outputs, outputs) }
    let half = (kernel - 1) / 2
    for k in 0..<kernel {
        let shift = (k - half) * dilation
        let first = max(0, -shift), last = min(t, t - shift)
        guard last > first else { continue }
        let rows = last - first
        // dW_k += dy[first..<last]ᵀ · x[first+shift ..< last+shift]
        gemm(transposeA: true, m: outputs, n: inputs, k: rows, a: dy + first * outputs, lda: outputs,
             b: x + (first + shift) * inputs, ldb: inputs, beta: 1, c: dTaps + k * outputs * inputs, ldc: inputs)
        if let dx {
            // dx[first+shift ..< last+shift] += dy[first..<last] · W_k
            gemm(m: rows, n: inputs, k: outputs, a: dy + first * outputs, lda: outputs, b: taps + k * outputs * inputs, ldb: inputs,
                 beta: 1, c: dx + (first + shift) * inputs, ldc: inputs)
        }
    }
}

/// The inverse of `conv1dTaps`: a tap-major gradient back to PyTorch's d_out × d_in × k.
public func conv1dWeightFromTaps(_ taps: UnsafePointer<Float>, outputs: Int, inputs: Int, kernel: Int) -> [Float] {
    var w = [Float](repeating: 0, count: outputs * inputs * kernel)
    for o in 0..<outputs { for i in 0..<inputs { for k in 0..<kernel {
        w[(o * inputs + i) * kernel + k] = taps[(k * outputs + o) * inputs + i]
    } } }
    return w
}
