import CERISupport
import Testing
import ERICore
@testable import ERIFaces
import ERITestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The detector's direct convolution and pooling (CERISupport's direct_conv.c) against naive
/// loops in Double: both paths (AVX2 + FMA where this CPU has it, portable C always), odd sizes,
/// 1 × 1 outputs, channel counts around the kernel's block of 6, wide inputs whose invalid
/// positions hold NaN (which must never reach a valid output), and every split of the work.
@Suite struct DirectConvTests {
    /// (inputs, outputs, images, h, w, k, prelu)
    static let shapes: [(Int, Int, Int, Int, Int, Int, Bool)] = [
        (3, 10, 1, 24, 17, 3, true), (10, 16, 1, 13, 9, 3, true), (16, 32, 1, 7, 23, 3, true), (32, 6, 1, 5, 5, 1, false),
        (3, 28, 7, 24, 24, 3, true), (28, 48, 5, 11, 11, 3, true), (48, 64, 3, 4, 4, 2, true), (64, 128, 2, 4, 4, 2, true),
        (3, 1, 1, 3, 3, 3, false), (2, 5, 3, 1, 1, 1, true), (5, 7, 2, 2, 2, 2, false), (4, 13, 2, 3, 40, 3, true),
        (1, 6, 9, 3, 3, 3, true), (7, 11, 1, 33, 1, 1, true), (6, 12, 4, 2, 9, 2, true),
    ]

    /// The paths this machine can run: portable C always, AVX2 + FMA where the CPU has them.
    static var paths: [Bool] { liberi_direct_conv_simd() != 0 ? [false, true] : [false] }

    @Test(arguments: shapes)
    func directConvIsTheNaiveConvolution(_ shape: (Int, Int, Int, Int, Int, Int, Bool)) {
        let (ci, co, n, h, w, k, withPReLU) = shape
        var random = TestRandom(seed: UInt64(ci * 7919 + co * 104_729 + n * 31 + h * 17 + w * 3 + k))
        let weight = (0..<(co * ci * k * k)).map { _ in Float(random.gaussian()) * 0.3 }
        let bias = (0..<co).map { _ in Float(random.gaussian()) }
        let slopes = withPReLU ? (0..<co).map { _ in Float(random.uniform()) } : nil
        let conv = MTCNNNetworks.Conv(shape: Conv2dShape(inputs: ci, outputs: co, kernel: k, stride: 1, padding: 0),
                                      weight: weight, bias: bias, slopes: slopes)
        // A wide input: rows `rowStride` apart and planes `planeStride` apart, NaN wherever not valid.
        for (rowStride, planeStride) in [(w, h * w), (w + 3, h * (w + 3) + 5)] {
            let count = ci * n * planeStride + MTCNNNetworks.slack
            var x = [Float](repeating: .nan, count: count)
            for c in 0..<ci { for i in 0..<n { for yy in 0..<h { for xx in 0..<w {
                x[(c * n + i) * planeStride + yy * rowStride + xx] = Float(random.gaussian())
            } } } }
            let oh = h - k + 1, ow = w - k + 1
            var want = [Float](repeating: 0, count: co * n * oh * ow)
            for o in 0..<co { for i in 0..<n { for yy in 0..<oh { for xx in 0..<ow {
                var sum = Double(bias[o])
                for c in 0..<ci { for ky in 0..<k { for kx in 0..<k {
                    sum += Double(weight[((o * ci + c) * k + ky) * k + kx]) * Double(x[(c * n + i) * planeStride + (yy + ky) * rowStride + xx + kx])
                } } }
                if let slopes, sum <= 0 { sum *= Double(slopes[o]) }
                want[((o * n + i) * oh + yy) * ow + xx] = Float(sum)
            } } } }
            let plane = Int(liberi_direct_conv_plane(Int32(h), Int32(w), Int32(rowStride), Int32(k)))
            let units = Int(liberi_direct_conv_units(Int32(n), Int32(h), Int32(w), Int32(rowStride), Int32(k)))
            #expect(plane >= (oh - 1) * rowStride + ow && plane % 16 == 0 && units == n * plane / 16)
            for simd in Self.paths {
                var outputs: [[Float]] = []
                // The whole range at once, through the detector's own call, and in uneven pieces.
                for pieces in [0, 1, 3] {
                    var y = [Float](repeating: .nan, count: co * n * plane + MTCNNNetworks.slack)
                    x.withUnsafeBufferPointer { xs in
                        y.withUnsafeMutableBufferPointer { ys in
                            let map = WideMap(values: UnsafeMutablePointer(mutating: xs.baseAddress!), images: n, height: h, width: w,
                                              rowStride: rowStride, planeStride: planeStride)
                            if pieces == 0 { directConvolution(conv, map, simd: simd, into: ys.baseAddress!); return }
                            conv.packed.withUnsafeBufferPointer { packed in
                                for p in 0..<pieces {
                                    let r = (units * p / pieces)..<(units * (p + 1) / pieces)
                                    liberi_direct_conv(xs.baseAddress!, Int32(ci), Int32(n), Int32(h), Int32(w), Int32(rowStride),
                                                       Int32(planeStride), Int32(k), packed.baseAddress!, Int32(co), bias,
                                                       slopes, Int32(r.lowerBound), Int32(r.upperBound), simd ? 1 : 0, ys.baseAddress!)
                                }
                            }
                        }
                    }
                    var valid = [Float](repeating: 0, count: co * n * oh * ow)
                    for o in 0..<co { for i in 0..<n { for yy in 0..<oh { for xx in 0..<ow {
                        valid[((o * n + i) * oh + yy) * ow + xx] = y[(o * n + i) * plane + yy * rowStride + xx]
                    } } } }
                    outputs.append(valid)
                }
                let label = "direct conv \(ci)→\(co) n=\(n) \(h)×\(w) k=\(k) stride \(rowStride) \(simd ? "avx2" : "portable")"
                _ = check(label, outputs[0], want, tolerance: 1e-5, scale: .relative)
                #expect(outputs[1] == outputs[0] && outputs[2] == outputs[0], "\(label): the split changed the result")
            }
            // The im2col + sgemm path on the same wide maps (the detector's path without AVX2).
            var y = [Float](repeating: .nan, count: co * n * plane + MTCNNNetworks.slack)
            x.withUnsafeBufferPointer { xs in
                y.withUnsafeMutableBufferPointer { ys in
                    gemmConvolution(conv, WideMap(values: UnsafeMutablePointer(mutating: xs.baseAddress!), images: n, height: h, width: w,
                                                  rowStride: rowStride, planeStride: planeStride), arena: Arena(), into: ys.baseAddress!)
                }
            }
            var valid = [Float](repeating: 0, count: co * n * oh * ow)
            for o in 0..<co { for i in 0..<n { for yy in 0..<oh { for xx in 0..<ow {
                valid[((o * n + i) * oh + yy) * ow + xx] = y[(o * n + i) * plane + yy * rowStride + xx]
            } } } }
            _ = check("gemm conv \(ci)→\(co) n=\(n) \(h)×\(w) k=\(k) stride \(rowStride)", valid, want, tolerance: 1e-5, scale: .relative)
        }
    }

    /// MaxPool2d(k, s, ceil_mode=True) of a wide map (NaN outside the valid region) into a dense one, both paths.
    @Test(arguments: [(22, 22, 3, 2), (23, 23, 3, 2), (9, 9, 3, 2), (10, 10, 2, 2), (3, 3, 2, 2), (1, 1, 2, 2), (190, 142, 2, 2),
                      (4, 41, 3, 2), (2, 1, 3, 2), (1300, 7, 2, 2), (5, 1500, 3, 2), (46, 46, 3, 2), (21, 21, 3, 2), (3, 10, 3, 2),
                      (3, 11, 3, 2), (2, 1024, 3, 2), (2, 1025, 3, 2)])
    func wideCeilPoolIsTheWindowMaximum(_ size: (Int, Int, Int, Int)) {
        let (h, w, k, s) = size
        var random = TestRandom(seed: UInt64(h * 100 + w + k))
        let rowStride = w + 2, planeStride = h * rowStride + 3, planes = 3
        var x = [Float](repeating: .nan, count: planes * planeStride)
        for p in 0..<planes { for r in 0..<h { for c in 0..<w { x[p * planeStride + r * rowStride + c] = Float(random.gaussian()) } } }
        let oh = ceilPoolSide(h, kernel: k, stride: s), ow = ceilPoolSide(w, kernel: k, stride: s)
        var want = [Float](repeating: 0, count: planes * oh * ow)
        for p in 0..<planes { for i in 0..<oh { for j in 0..<ow {
            var m = -Float.infinity
            for r in (i * s)..<min(i * s + k, h) { for c in (j * s)..<min(j * s + k, w) { m = max(m, x[p * planeStride + r * rowStride + c]) } }
            want[(p * oh + i) * ow + j] = m
        } } }
        for split in [planes, 1] { for simd in Self.paths {
            var y = [Float](repeating: .nan, count: planes * oh * ow)
            x.withUnsafeBufferPointer { xs in
                y.withUnsafeMutableBufferPointer { ys in
                    var p = 0
                    while p < planes {
                        let e = min(planes, p + split)
                        liberi_max_pool_ceil(xs.baseAddress!, Int32(h), Int32(w), Int32(rowStride), Int32(planeStride), Int32(k), Int32(s),
                                             Int32(oh), Int32(ow), Int32(p), Int32(e), simd ? 1 : 0, ys.baseAddress!)
                        p = e
                    }
                }
            }
            #expect(y == want, "wide max-pool \(h)×\(w), kernel \(k), stride \(s), \(simd ? "avx2" : "portable")")
        } }
    }

    /// ERI_PORTABLE_KERNELS=1 turns the AVX2 paths off (the switch the parity suites run
    /// under again in `make swift-test`). The value's reading is checked directly: setting
    /// the variable here would race with every other suite's kernels.
    @Test func environmentForcesThePortablePath() {
        #expect(liberi_portable_requested("1") == 1)
        #expect(liberi_portable_requested("yes") == 1)
        #expect(liberi_portable_requested("0") == 0)
        #expect(liberi_portable_requested("") == 0)
        #expect(liberi_portable_requested(nil) == 0)
        let requested = liberi_portable_requested(getenv("ERI_PORTABLE_KERNELS")) != 0
        if requested { #expect(liberi_direct_conv_simd() == 0 && liberi_avx2_fma() == 0) }
        #expect(liberi_direct_conv_simd() == liberi_avx2_fma())
    }
}
