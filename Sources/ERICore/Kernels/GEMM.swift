import CBLAS

/// Row-major single-precision GEMM through OpenBLAS:
/// C[m×n] = alpha · op(A) · op(B) + beta · C, op = transpose when asked.
/// Every convolution and linear layer of the network ends up here.
@inline(__always)
public func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        // BLAS leaves C untouched when k = 0 only if beta = 1; make it explicit.
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
        return
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// OpenBLAS's thread count is process-wide: the last setting wins.
public func setComputeThreads(_ n: Int) {
    openblas_set_num_threads(Int32(n))
}

public func computeThreads() -> Int { Int(openblas_get_num_threads()) }

/// Linear layer on rows: Y[rows × out] = X[rows × in] · Wᵀ + b, W being out × in (PyTorch layout).
public func linear(_ x: UnsafePointer<Float>, rows: Int, inputs: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                   outputs: Int, into y: UnsafeMutablePointer<Float>) {
    if let bias {
        for r in 0..<rows { (y + r * outputs).update(from: bias, count: outputs) }
    }
    gemm(transposeB: true, m: rows, n: outputs, k: inputs, a: x, lda: inputs, b: weight, ldb: inputs,
         beta: bias == nil ? 0 : 1, c: y, ldc: outputs)
}

/// Gradient of `linear`: dX = dY·W (rows × in), dW += dYᵀ·X (out × in),
/// db += Σ_rows dY. `dx` may be nil when the input needs no gradient.
public func linearBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, inputs: Int, outputs: Int,
                           weight: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, accumulateDX: Bool = false,
                           dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?) {
    if let dx {
        gemm(m: rows, n: inputs, k: outputs, a: dy, lda: outputs, b: weight, ldb: inputs, beta: accumulateDX ? 1 : 0, c: dx, ldc: inputs)
    }
    gemm(transposeA: true, m: outputs, n: inputs, k: rows, a: dy, lda: outputs, b: x, ldb: inputs, beta: 1, c: dWeight, ldc: inputs)
    if let dBias {
        for r in 0..<rows { addInPlace(dBias, dy + r * outputs, outputs) }
    }
}
