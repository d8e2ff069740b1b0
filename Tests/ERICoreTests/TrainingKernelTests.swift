import Testing
@testable import ERICore
import ERITestSupport

/// The threaded training kernels of Conv2d.swift, BatchNorm.swift and
/// MaxPool.swift: the same results whatever the thread count (each output
/// element is computed by one range, the same way; only OpenBLAS's GEMMs may
/// round differently), repeatable at a given count, and conv2dBackward's
/// chunked Wᵀ·dY + col2im equal to one whole GEMM + the plain col2im.
@Suite(.serialized) struct TrainingKernelTests {
    var rng = SeededGenerator(seed: 99)
    mutating func random(_ n: Int) -> [Float] { (0..<n).map { _ in rng.uniform(-1, 1) } }

    func withThreads<R>(_ n: Int, _ body: () -> R) -> R {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        setComputeThreads(n)
        return body()
    }

    @Test mutating func sameResultsForAnyThreadCount() {
        let images = 6, side = 12
        // Stride-1 "same" layers with C_out ≤ C_in take the flipped-weight convolution of dY (checked
        // against Wᵀ·dY + col2im below); the others Wᵀ·dY in chunks.
        for shape in [Conv2dShape(inputs: 5, outputs: 7, kernel: 3, stride: 1, padding: 1),
                      Conv2dShape(inputs: 7, outputs: 5, kernel: 3, stride: 1, padding: 1),
                      Conv2dShape(inputs: 6, outputs: 6, kernel: 5, stride: 1, padding: 2),
                      Conv2dShape(inputs: 5, outputs: 7, kernel: 3, stride: 2, padding: 1),
                      Conv2dShape(inputs: 5, outputs: 7, kernel: 1, stride: 2, padding: 0)] {
            let out = shape.outputSide(side), n = images * out * out
            let x = random(shape.inputs * images * side * side), w = random(shape.outputs * shape.patch), dy = random(shape.outputs * n)
            let dx0 = random(x.count)
            func backward(_ threads: Int) -> ([Float], [Float]) {
                withThreads(threads) {
                    var dx = dx0, dw = [Float](repeating: 0, count: w.count), columns = [Float](repeating: 0, count: shape.patch * n)
                    var flipped = [Float](repeating: 0, count: w.count)
                    conv2dBackward(dy, x, shape: shape, images: images, height: side, width: side, weight: w, dWeight: &dw, dx: &dx,
                                   columns: &columns, weightScratch: &flipped)
                    return (dx, dw)
                }
            }
            // OpenBLAS may round differently at another thread count; the rest of the kernel is exact.
            let one = backward(1)
            for t in [2, 3] {
                let other = backward(t)
                let dxDiff = zip(other.0, one.0).map { abs($0 - $1) }.max()!, dwDiff = zip(other.1, one.1).map { abs($0 - $1) }.max()!
                #expect(dxDiff <= 1e-5 && dwDiff <= 1e-4, "conv k\(shape.kernel) s\(shape.stride), \(t) threads: \(dxDiff), \(dwDiff)")
                let again = backward(t)
                let same = again.0 == other.0 && again.1 == other.1
                #expect(same, "conv k\(shape.kernel) s\(shape.stride): not repeatable at \(t) threads")
            }
            // col2im alone: exact at any thread count.
            let columnsIn = random(shape.patch * n)
            func scatter(_ threads: Int) -> [Float] {
                withThreads(threads) {
                    var dx = dx0
                    col2im(columnsIn, shape: shape, images: images, height: side, width: side, into: &dx)
                    return dx
                }
            }
            let scattered = scatter(1)
            let col2imSame = scatter(2) == scattered && scatter(3) == scattered
            #expect(col2imSame, "col2im k\(shape.kernel) s\(shape.stride) depends on the thread count")
            // Reference: the whole Wᵀ·dY at once, then the public col2im.
            var reference = dx0, columns = [Float](repeating: 0, count: shape.patch * n)
            gemm(transposeA: true, m: shape.patch, n: n, k: shape.outputs, a: w, lda: shape.patch, b: dy, ldb: n, c: &columns, ldc: n)
            col2im(columns, shape: shape, images: images, height: side, width: side, into: &reference)
            let diff = zip(reference, one.0).map { abs($0 - $1) }.max()!
            #expect(diff <= 1e-5, "chunked col2im k\(shape.kernel) s\(shape.stride): \(diff)")
        }

        // BatchNorm forward (with residual + ReLU) and backward (ReLU-masked), max-pool.
        let c = 5, m = 1000
        let x = random(c * m), r = random(c * m), g = random(c), b = random(c), dy = random(c * m)
        func norm(_ threads: Int) -> [[Float]] {
            withThreads(threads) {
                var y = x, xhat = x, inv = [Float](repeating: 0, count: c)
                var rm = [Float](repeating: 0, count: c), rv = [Float](repeating: 1, count: c)
                batchNormTraining(&y, channels: c, perChannel: m, gamma: g, beta: b, runningMean: &rm, runningVar: &rv,
                                  normalised: &xhat, inverseStd: &inv, residual: r, relu: true)
                var dx = [Float](repeating: 0, count: c * m), dg = [Float](repeating: 0, count: c), db = dg
                batchNormBackward(dy, into: &dx, channels: c, perChannel: m, gamma: g, normalised: xhat, inverseStd: inv,
                                  dGamma: &dg, dBeta: &db, reluOutput: y)
                return [y, xhat, inv, rm, rv, dx, dg, db]
            }
        }
        let bn1 = norm(1)
        let bnSame = norm(2) == bn1 && norm(3) == bn1
        #expect(bnSame, "BatchNorm depends on the thread count")
        #expect(bn1[0].allSatisfy { $0 >= 0 })

        let planes = 7, ps = 11, pooled = MaxPool2dShape.outputSide(ps)
        let px = random(planes * ps * ps), pdy = random(planes * pooled * pooled)
        func pool(_ threads: Int) -> ([Float], [Int32], [Float]) {
            withThreads(threads) {
                var y = [Float](repeating: 0, count: pdy.count), arg = [Int32](repeating: 0, count: pdy.count)
                maxPool3x3s2Training(px, planes: planes, height: ps, width: ps, into: &y, argmax: &arg)
                var dx = [Float](repeating: 5, count: px.count)   // cleared by the kernel
                maxPoolBackward(pdy, argmax: arg, outputs: pdy.count, into: &dx, planes: planes, inputPlane: ps * ps, clear: true)
                return (y, arg, dx)
            }
        }
        let p1 = pool(1)
        var reference = [Float](repeating: 0, count: pdy.count)
        maxPool3x3s2(px, planes: planes, height: ps, width: ps, into: &reference)
        let poolSame = p1.0 == reference
        #expect(poolSame)
        var dxSerial = [Float](repeating: 0, count: px.count)
        maxPoolBackward(pdy, argmax: p1.1, outputs: pdy.count, into: &dxSerial)
        let routed = p1.2 == dxSerial
        #expect(routed)
        for t in [2, 3] {
            let other = pool(t)
            let same = other.0 == p1.0 && other.1 == p1.1 && other.2 == p1.2
            #expect(same, "max-pool, \(t) threads")
        }
    }
}
