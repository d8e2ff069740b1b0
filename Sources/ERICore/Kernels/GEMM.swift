import CBLAS
import CERISupport
import Synchronization

/// Row-major single-precision GEMM through OpenBLAS:
/// C[m×n] = alpha · op(A) · op(B) + beta · C, op = transpose when asked.
/// Every convolution and linear layer of the network ends up here.
///
/// OpenBLAS itself runs on one thread. Its own worker threads spin after each
/// call (sched_yield for a while, waiting for the next), and on a small
/// machine they take the cores from liberi's worker pool, which runs
/// everything else (im2col, the Winograd transforms, pooling, the face
/// detector): two threads made dbn-base no faster than one. Instead a product
/// of at least `splitMACs` multiply-adds is cut into `computeThreads()` slices
/// of C — its columns, or its rows where it has more of them — each an
/// OpenBLAS call on one of liberi's threads. The cut depends only on the
/// shape and the thread count, so results repeat exactly; a call made inside
/// another parallel job runs whole on its thread.
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
    let threads = computeThreads()
    if !transposeA && !transposeB && n <= skinnyColumns && ldb == n && m * k >= skinnyWeights && skinnyKernel {
        // Few columns against a large A (the weights): A read as stored, never packed
        // (CERISupport's skinny_gemm.c). Rows are independent and each is computed the
        // same way in any block, so the row slices give the same floats at any thread count.
        if threads > 1 && m * n * k >= splitMACs {
            parallelRanges(m, grain: max(6, (m + threads - 1) / threads)) { r in
                liberi_skinny_gemm(Int32(r.count), Int32(n), Int32(k), alpha, a + r.lowerBound * lda, lda, b, ldb, beta,
                                   c + r.lowerBound * ldc, ldc, 1)
            }
        } else {
            liberi_skinny_gemm(Int32(m), Int32(n), Int32(k), alpha, a, lda, b, ldb, beta, c, ldc, 1)
        }
        return
    }
    if threads > 1 && m * n * k >= splitMACs {
        if n >= m {   // column slices: B's columns (rows when transposed), C's columns
            parallelRanges(n, grain: max(16, (n + threads - 1) / threads)) { r in
                sgemm(transposeA, transposeB, m, r.count, k, alpha, a, lda, b + (transposeB ? r.lowerBound * ldb : r.lowerBound), ldb,
                      beta, c + r.lowerBound, ldc)
            }
        } else {      // row slices: A's rows (columns when transposed), C's rows
            parallelRanges(m, grain: max(16, (m + threads - 1) / threads)) { r in
                sgemm(transposeA, transposeB, r.count, n, k, alpha, a + (transposeA ? r.lowerBound : r.lowerBound * lda), lda, b, ldb,
                      beta, c + r.lowerBound * ldc, ldc)
            }
        }
        return
    }
    sgemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

/// Products smaller than this run whole on the calling thread.
let splitMACs = 1 << 20

/// The skinny path (`liberi_skinny_gemm`): products with at most this many
/// columns, a compact B (ldb = n: a convolution's columns or Winograd tiles)
/// and an A of at least `skinnyWeights` floats, where OpenBLAS's packing of A
/// costs about as much as the product. (A strided B, such as attention's V
/// inside the QKV rows, is left to OpenBLAS, which packs it: read in place, a
/// block of it was a new cache line per step, and the audio branch lost 10 %.)
let skinnyColumns = 64
let skinnyWeights = 16_384
/// Whether the skinny path's AVX2 + FMA kernel runs here (read once per process:
/// ERI_PORTABLE_KERNELS=1 at start keeps every product on OpenBLAS).
let skinnyKernel = liberi_avx2_fma() != 0

@inline(__always)
private func sgemm(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                   _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
                   _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// liberi's compute threads: its worker pool's size and the slices of a large GEMM.
/// Process-wide; the last setting wins. Starts at OpenBLAS's own default (the
/// cores, or OPENBLAS_NUM_THREADS), after which OpenBLAS is kept on one thread.
public func setComputeThreads(_ n: Int) {
    _ = initialThreads
    threadSetting.store(max(1, n), ordering: .relaxed)
}

public func computeThreads() -> Int {
    _ = initialThreads
    return threadSetting.load(ordering: .relaxed)
}

private let threadSetting = Atomic<Int>(1)
/// Read once, before OpenBLAS is set to one thread (a Swift global: initialised once, thread-safely).
private let initialThreads: Int = {
    let n = max(1, Int(openblas_get_num_threads()))
    openblas_set_num_threads(1)
    threadSetting.store(n, ordering: .relaxed)
    return n
}()

/// A linear layer's weight W (out × in) packed once for inference
/// (`liberi_pack_weights`): OpenBLAS packs both operands on every call, and
/// on the audio branch's and the temporal layers' products (a few hundred
/// rows against 128–512 columns) that was about a quarter of their time.
/// Nil where the AVX2 + FMA kernel does not run (those keep OpenBLAS).
///
/// Every row is computed the same way wherever it lies in the matrix, which
/// OpenBLAS's product does not promise: a stream's TCN reuse (`TemporalReuse`)
/// needs the audio branch's input projection to give a row the same floats
/// when the window has moved, so that layer is packed too, although with its
/// 40 inputs it takes ~1.2× OpenBLAS's time (a few µs a read).
public final class PackedWeights: @unchecked Sendable {   // written once, in init
    let pointer: UnsafeMutablePointer<Float>
    public let outputs: Int, inputs: Int

    public init?(_ weight: UnsafePointer<Float>, outputs: Int, inputs: Int) {
        guard skinnyKernel, outputs > 0, inputs > 0 else { return nil }
        self.outputs = outputs
        self.inputs = inputs
        let size = liberi_packed_weights_size(Int32(outputs), Int32(inputs))
        pointer = .allocate(capacity: size)
        liberi_pack_weights(weight, Int32(outputs), Int32(inputs), pointer)
    }

    deinit { pointer.deallocate() }
}

/// Linear layer on rows: Y[rows × out] = X[rows × in] · Wᵀ + b, W being out × in (PyTorch layout).
/// With `packed` (W packed once), the product reads it in place of W; rows are
/// split over the threads as the skinny path does, each row computed the same
/// way in any slice, so results repeat exactly at any thread count.
public func linear(_ x: UnsafePointer<Float>, rows: Int, inputs: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                   outputs: Int, packed: PackedWeights? = nil, into y: UnsafeMutablePointer<Float>) {
    if let packed, rows > 0 {   // the bias is added in the kernel
        precondition(packed.outputs == outputs && packed.inputs == inputs, "packed weights of another shape")
        let threads = computeThreads()
        if threads > 1 && rows * outputs * inputs >= splitMACs {
            parallelRanges(rows, grain: max(6, (rows + threads - 1) / threads)) { r in
                liberi_packed_gemm(Int32(r.count), Int32(outputs), Int32(inputs), x + r.lowerBound * inputs, inputs,
                                   packed.pointer, bias, y + r.lowerBound * outputs, outputs)
            }
        } else {
            liberi_packed_gemm(Int32(rows), Int32(outputs), Int32(inputs), x, inputs, packed.pointer, bias, y, outputs)
        }
        return
    }
    if let bias {
        for r in 0..<rows { (y + r * outputs).update(from: bias, count: outputs) }
    }
    let beta: Float = bias == nil ? 0 : 1
    gemm(transposeB: true, m: rows, n: outputs, k: inputs, a: x, lda: inputs, b: weight, ldb: inputs,
         beta: beta, c: y, ldc: outputs)
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
