import Testing
@testable import ERICore
import ERITestSupport
import CERISupport

/// `gemm`'s skinny path (CERISupport's skinny_gemm.c: A read as stored, six
/// rows × 16 columns of AVX2 accumulators) against float64, on every row
/// remainder of its 6-row blocks and column counts across its 16-column
/// blocks and masked tails; C is not read with beta = 0 (NaN there stays out),
/// and the skinny kernel's result is the same at one and two threads.
@Suite(.serialized) struct SkinnyGEMMTests {
    static func reference(m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int, b: [Float], ldb: Int, beta: Float,
                          c: [Float], ldc: Int) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k { s += Double(a[i * lda + p]) * Double(b[p * ldb + j]) }
                out[i * n + j] = Double(alpha) * s + (beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j]))
            }
        }
        return out
    }

    @Test func matchesFloat64() {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        setComputeThreads(1)
        var rng = SeededGenerator(seed: 11)
        // k · m ≥ skinnyWeights, so that these shapes take the skinny path where it runs.
        let k = 3_300
        for m in [5, 6, 7, 8, 9, 10, 13] {   // every remainder of the 6-row blocks
            for n in [1, 3, 8, 9, 15, 16, 17, 31, 40, 64] {
                for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (1, -2)] {
                    let lda = k + 3, ldb = n, ldc = n + 5   // the skinny path takes a compact B only
                    let a = (0..<m * lda).map { _ in rng.uniform(-1, 1) }
                    let b = (0..<k * ldb).map { _ in rng.uniform(-1, 1) }
                    var c = (0..<m * ldc).map { _ in beta == 0 ? Float.nan : rng.uniform(-1, 1) }
                    let expected = Self.reference(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
                                                  c: c, ldc: ldc)
                    let padding = c.indices.filter { $0 % ldc >= n }.map { c[$0] }
                    c.withUnsafeMutableBufferPointer { cp in
                        gemm(m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: ldc)
                    }
                    var worst = 0.0
                    for i in 0..<m { for j in 0..<n { worst = max(worst, abs(Double(c[i * ldc + j]) - expected[i * n + j])) } }
                    // Sums of 3,300 products of values in ±1 accumulated in float32 (Σ|terms| ≈ 825):
                    // rounding reaches ~1e-4; a wrong row, column or step is off by ~1.
                    #expect(worst < 1e-3, "m \(m) n \(n) alpha \(alpha) beta \(beta): largest error \(worst)")
                    // Columns past n are not written.
                    let after = c.indices.filter { $0 % ldc >= n }.map { c[$0] }
                    #expect(zip(after, padding).allSatisfy { $0.bitPattern == $1.bitPattern }, "m \(m) n \(n): wrote past column n")
                }
            }
        }
    }

    @Test func sameAtAnyThreadCount() {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        var rng = SeededGenerator(seed: 12)
        let (m, n, k) = (512, 16, 4_608)   // dbn-base's last stage on one image: above splitMACs, split into row slices
        let a = (0..<m * k).map { _ in rng.uniform(-1, 1) }
        let b = (0..<k * n).map { _ in rng.uniform(-1, 1) }
        func run(_ threads: Int) -> [Float] {
            setComputeThreads(threads)
            var c = [Float](repeating: 0, count: m * n)
            c.withUnsafeMutableBufferPointer { gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: $0.baseAddress!, ldc: n) }
            return c
        }
        let one = run(1), two = run(2)
        // OpenBLAS (the portable path) may round row slices differently; the skinny kernel may not.
        if skinnyKernel { #expect(one.map(\.bitPattern) == two.map(\.bitPattern)) }
    }

    /// Where the CPU has AVX2 and FMA, these shapes take the skinny path (else OpenBLAS,
    /// which the tests above then check instead); the kernel itself, AVX2 (where it runs)
    /// and portable C, against OpenBLAS's product of the same operands.
    @Test func kernelMatchesOpenBLAS() {
        #expect(skinnyKernel == (liberi_avx2_fma() != 0))
        var rng = SeededGenerator(seed: 13)
        let (m, n, k) = (37, 29, 700)
        let a = (0..<m * k).map { _ in rng.uniform(-1, 1) }
        let b = (0..<k * n).map { _ in rng.uniform(-1, 1) }
        // OpenBLAS: the same product with B transposed (a transposed B never takes the skinny path).
        let bt = (0..<n * k).map { b[($0 % k) * n + $0 / k] }   // (n × k)
        var blas = [Float](repeating: .nan, count: m * n)
        blas.withUnsafeMutableBufferPointer {
            gemm(transposeB: true, m: m, n: n, k: k, a: a, lda: k, b: bt, ldb: k, c: $0.baseAddress!, ldc: n)
        }
        for simd in liberi_avx2_fma() != 0 ? [Int32(0), 1] : [0] {
            var mine = [Float](repeating: .nan, count: m * n)
            liberi_skinny_gemm(Int32(m), Int32(n), Int32(k), 1, a, k, b, n, 0, &mine, n, simd)
            let worst = zip(mine, blas).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-3, "\(simd == 1 ? "AVX2" : "portable C"): largest difference \(worst)")
        }
    }

    /// `linear` with weights packed once (`PackedWeights`, liberi_packed_gemm) against
    /// float64, on every row remainder of the 6-row blocks and output counts across the
    /// 16-column panels, with and without bias (added in the kernel; C holds NaN before
    /// the product and must not be read); the same floats at one and two threads,
    /// and a row's floats wherever it lies in the matrix (a stream's TCN reuse relies on
    /// it: `TemporalReuse`). Widths: the TCN's 384 and the audio input projection's 40.
    @Test func packedLinearMatchesFloat64() throws {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        var rng = SeededGenerator(seed: 14)
        let shapes = [1, 5, 6, 7, 13, 251].flatMap { r in [1, 9, 16, 17, 40, 128].map { (384, r, $0) } }
            + [40, 7].flatMap { k in [1, 7, 251].flatMap { r in [9, 128].map { (k, r, $0) } } }
        for (k, rows, outputs) in shapes {
            do {
                let x = (0..<rows * k).map { _ in rng.uniform(-1, 1) }
                let w = (0..<outputs * k).map { _ in rng.uniform(-1, 1) }   // (outputs × k), PyTorch's layout
                let bias = (0..<outputs).map { _ in rng.uniform(-1, 1) }
                guard let packed = PackedWeights(w, outputs: outputs, inputs: k) else {
                    #expect(!skinnyKernel)   // only where the AVX2 kernel does not run
                    return
                }
                for withBias in [false, true] {
                    func run(_ threads: Int) -> [Float] {
                        setComputeThreads(threads)
                        var y = [Float](repeating: .nan, count: rows * outputs)
                        bias.withUnsafeBufferPointer { b in
                            y.withUnsafeMutableBufferPointer {
                                linear(x, rows: rows, inputs: k, weight: w, bias: withBias ? b.baseAddress : nil, outputs: outputs,
                                       packed: packed, into: $0.baseAddress!)
                            }
                        }
                        return y
                    }
                    let one = run(1), two = run(2)
                    var worst = 0.0
                    for i in 0..<rows {
                        for o in 0..<outputs {
                            var s = withBias ? Double(bias[o]) : 0
                            for p in 0..<k { s += Double(x[i * k + p]) * Double(w[o * k + p]) }
                            worst = max(worst, abs(Double(one[i * outputs + o]) - s))
                        }
                    }
                    #expect(worst < 1e-3, "k \(k) rows \(rows) outputs \(outputs) bias \(withBias): largest error \(worst)")
                    #expect(one.map(\.bitPattern) == two.map(\.bitPattern), "rows \(rows) outputs \(outputs): differs at 2 threads")
                    // The rows shifted by 5 (the first row out, five new ones in): every row's floats stay.
                    let shifted = Array(x[k...]) + (0..<5 * k).map { _ in rng.uniform(-1, 1) }
                    var z = [Float](repeating: .nan, count: (rows + 4) * outputs)
                    bias.withUnsafeBufferPointer { b in
                        z.withUnsafeMutableBufferPointer {
                            linear(shifted, rows: rows + 4, inputs: k, weight: w, bias: withBias ? b.baseAddress : nil, outputs: outputs,
                                   packed: packed, into: $0.baseAddress!)
                        }
                    }
                    #expect(z[0..<(rows - 1) * outputs].map(\.bitPattern) == one[outputs...].map(\.bitPattern),
                            "k \(k) rows \(rows) outputs \(outputs): a row's floats depend on its position")
                }
            }
        }
    }
}
