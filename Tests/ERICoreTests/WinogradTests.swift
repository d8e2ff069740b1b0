import Testing
@testable import ERICore
import ERITestSupport
import CERISupport

/// The inference convolution kernels (Winograd F(2×2, 3×3), threaded im2col
/// conv2d, max-pool) against a direct float64 convolution.
@Suite(.serialized) struct WinogradTests {
    /// Deterministic values in [−1, 1).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(state >> 40) / Double(1 << 24) * 2 - 1)
        }
    }

    /// Direct zero-padded correlation in float64, CNHW in and out, plus bias, residual, ReLU.
    static func reference(_ x: [Float], _ weight: [Float], _ bias: [Float], residual: [Float]?, relu: Bool,
                          shape s: Conv2dShape, images: Int, side: Int) -> [Double] {
        let o = s.outputSide(side)
        var y = [Double](repeating: 0, count: s.outputs * images * o * o)
        for co in 0..<s.outputs { for n in 0..<images { for oy in 0..<o { for ox in 0..<o {
            var acc = Double(bias[co])
            for c in 0..<s.inputs { for ky in 0..<s.kernel { for kx in 0..<s.kernel {
                let iy = oy * s.stride - s.padding + ky, ix = ox * s.stride - s.padding + kx
                guard iy >= 0, iy < side, ix >= 0, ix < side else { continue }
                acc += Double(weight[((co * s.inputs + c) * s.kernel + ky) * s.kernel + kx])
                    * Double(x[((c * images + n) * side + iy) * side + ix])
            } } }
            let i = ((co * images + n) * o + oy) * o + ox
            if let residual { acc += Double(residual[i]) }
            y[i] = relu ? max(acc, 0) : acc
        } } } }
        return y
    }

    @Test func winogradMatchesDirectConvolution() {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        // Odd and even sides (odd ones have half-empty border tiles), 1 and several images, with and without a residual.
        for (threads, inputs, outputs, images, side, useResidual, relu) in
            [(1, 3, 5, 1, 7, false, false), (2, 8, 4, 3, 4, true, true), (2, 16, 16, 2, 9, true, false),
             (1, 4, 6, 2, 1, false, true), (2, 64, 32, 2, 14, true, true), (2, 32, 32, 3, 7, true, true),
             (1, 16, 8, 2, 5, false, false), (2, 64, 32, 1, 28, true, true)] {
            setComputeThreads(threads)
            let s = Conv2dShape(inputs: inputs, outputs: outputs, kernel: 3, stride: 1, padding: 1)
            #expect(Winograd.f2x2.applies(s, side: side))
            let x = Self.values(inputs * images * side * side, seed: 1)
            let w = Self.values(outputs * inputs * 9, seed: 2).map { $0 / Float(inputs * 3) }
            let b = Self.values(outputs, seed: 3)
            let r = useResidual ? Self.values(outputs * images * side * side, seed: 4) : nil
            let expected = Self.reference(x, w, b, residual: r, relu: relu, shape: s, images: images, side: side)
            for winograd in [Winograd.f2x2, .f4x4] {
                let tile = winograd.outputTile
                let u = winograd.transformWeights(w, outputs: outputs, inputs: inputs)
                let count = winograd.scratchCount(inputs: inputs, outputs: outputs, images: images, height: side, width: side)
                var scratch = [Float](repeating: .nan, count: count)
                var y = [Float](repeating: .nan, count: outputs * images * side * side)
                x.withUnsafeBufferPointer { xp in u.withUnsafeBufferPointer { up in b.withUnsafeBufferPointer { bp in
                    scratch.withUnsafeMutableBufferPointer { sp in y.withUnsafeMutableBufferPointer { yp in
                        func run(_ rp: UnsafePointer<Float>?) {
                            winograd.forward(xp.baseAddress!, inputs: inputs, outputs: outputs, images: images, height: side,
                                             width: side, weight: up.baseAddress!, bias: bp.baseAddress!, residual: rp,
                                             relu: relu, scratch: sp.baseAddress!, into: yp.baseAddress!)
                        }
                        if let r { r.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
                    } }
                } } }
                // F(4×4) amplifies float32 rounding more (its transforms have entries up to 8 and 1/24).
                check("F(\(tile)×\(tile)) inputs \(inputs) outputs \(outputs) images \(images) side \(side)",
                      y.map(Double.init), expected, tolerance: tile == 2 ? 2e-6 : 5e-6)
            }
        }
    }

    /// The whole-channel transforms (winograd.c, used where each image is one tile) give the
    /// per-plane transforms' floats bit for bit, on maps of one tile and of many, odd sides
    /// with cropped border tiles, with and without a residual and the ReLU.
    @Test func wholeChannelTransformsMatchPerPlane() {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        func check<T: WinogradTransforms>(_: T.Type, channels: Int, outputs: Int, images: Int, side: Int, residual: Bool, relu: Bool) {
            let m = T.outputTile, tiles = images * ((side + m - 1) / m) * ((side + m - 1) / m), alpha2 = (m + 2) * (m + 2)
            let slot = max(channels, outputs) * tiles
            let x = Self.values(channels * images * side * side, seed: 21)
            var v = [[Float]](repeating: [], count: 2)
            for (k, whole) in [false, true].enumerated() {
                var out = [Float](repeating: .nan, count: alpha2 * slot)
                Winograd.transformInput(T.self, x, channels: channels, images: images, height: side, width: side, slot: slot,
                                        wholeChannels: whole, into: &out)
                v[k] = (0..<alpha2).flatMap { xi in out[(xi * slot)..<(xi * slot + channels * tiles)] }
            }
            #expect(v[0] == v[1], "input F(\(m)×\(m)) channels \(channels) images \(images) side \(side)")
            let products = Self.values(alpha2 * slot, seed: 22)
            let bias = Self.values(outputs, seed: 23)
            let r = residual ? Self.values(outputs * images * side * side, seed: 24) : nil
            var y = [[Float]](repeating: [], count: 2)
            for (k, whole) in [false, true].enumerated() {
                var out = [Float](repeating: .nan, count: outputs * images * side * side)
                products.withUnsafeBufferPointer { pp in bias.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer { op in
                    func run(_ rp: UnsafePointer<Float>?) {
                        Winograd.transformOutput(T.self, pp.baseAddress!, channels: outputs, images: images, height: side, width: side,
                                                 slot: slot, bias: bp.baseAddress!, residual: rp, relu: relu, wholeChannels: whole,
                                                 into: op.baseAddress!)
                    }
                    if let r { r.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
                } } }
                y[k] = out
            }
            #expect(y[0] == y[1] && !y[0].contains { $0.isNaN }, "output F(\(m)×\(m)) outputs \(outputs) images \(images) side \(side)")
        }
        for threads in [1, 2] {
            setComputeThreads(threads)
            for (channels, outputs, images, side, residual, relu) in
                [(3, 5, 2, 1, false, true), (4, 3, 3, 2, true, true), (2, 6, 1, 3, true, false), (5, 4, 2, 4, false, false),
                 (3, 3, 2, 7, true, true), (2, 2, 40, 2, true, true), (3, 2, 3, 14, false, true)] {
                check(WinogradF2x2.self, channels: channels, outputs: outputs, images: images, side: side, residual: residual, relu: relu)
                check(WinogradF4x4.self, channels: channels, outputs: outputs, images: images, side: side, residual: residual, relu: relu)
            }
        }
        #expect(Winograd.transformsWholeChannels(tile: 2, height: 2, width: 2))
        #expect(!Winograd.transformsWholeChannels(tile: 2, height: 4, width: 4))
    }

    @Test func threadedConv2dMatchesDirectConvolution() {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        for threads in [1, 2] {
            setComputeThreads(threads)
            for (inputs, outputs, kernel, stride, padding, images, side) in
                [(3, 8, 3, 2, 1, 3, 11), (8, 4, 3, 1, 1, 2, 6), (6, 10, 1, 2, 0, 2, 7), (4, 4, 3, 2, 1, 1, 4)] {
                let s = Conv2dShape(inputs: inputs, outputs: outputs, kernel: kernel, stride: stride, padding: padding)
                let o = s.outputSide(side)
                let x = Self.values(inputs * images * side * side, seed: 5)
                let w = Self.values(outputs * s.patch, seed: 6)
                let b = Self.values(outputs, seed: 7)
                let r = Self.values(outputs * images * o * o, seed: 8)
                let expected = Self.reference(x, w, b, residual: r, relu: true, shape: s, images: images, side: side)
                var columns = [Float](repeating: .nan, count: s.patch * images * o * o)
                var y = [Float](repeating: .nan, count: outputs * images * o * o)
                conv2d(x, shape: s, images: images, height: side, width: side, weight: w, bias: b, residual: r, relu: true,
                       columns: &columns, into: &y)
                check("threads \(threads) \(s) side \(side)", y.map(Double.init), expected, tolerance: 2e-5)
            }
        }
    }

    /// The stem's direct kernel (stem_conv.c): its AVX2 path and its scalar twin against the
    /// float64 convolution, odd and even sides, widths that are not whole 16-column blocks,
    /// channel counts that split into uneven register blocks; the two paths give the same
    /// floats (same operations in the same order), at any thread count, and the stem's shape
    /// takes the kernel where AVX2 + FMA run.
    @Test func stemConvMatchesDirectConvolution() {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        for (inputs, outputs, images, side, relu) in
            [(3, 32, 2, 64, true), (1, 8, 3, 48, true), (3, 13, 1, 37, false), (4, 5, 2, 33, true), (3, 7, 2, 2, false),
             (3, 6, 1, 1, true), (2, 32, 1, 112, true)] {
            let s = Conv2dShape(inputs: inputs, outputs: outputs, kernel: 3, stride: 2, padding: 1)
            let o = s.outputSide(side)
            let x = Self.values(inputs * images * side * side, seed: 11)
            let w = Self.values(outputs * s.patch, seed: 12)
            let b = Self.values(outputs, seed: 13)
            let expected = Self.reference(x, w, b, residual: nil, relu: relu, shape: s, images: images, side: side)
            var results: [[Float]] = []
            for simd in liberi_avx2_fma() != 0 ? [false, true] : [false] {
                for threads in [1, 2] {
                    setComputeThreads(threads)
                    var y = [Float](repeating: .nan, count: outputs * images * o * o)
                    stemConv(x, shape: s, images: images, height: side, width: side, weight: w, bias: b, relu: relu,
                             simd: simd, into: &y)
                    check("stem \(s) side \(side) simd \(simd) threads \(threads)", y.map(Double.init), expected, tolerance: 2e-6)
                    results.append(y)
                }
            }
            #expect(results.allSatisfy { $0 == results[0] }, "paths and thread counts differ: \(s) side \(side)")
            #expect(stemConvApplies(s) == (liberi_avx2_fma() != 0))
        }
        // A NaN pixel gives NaN exactly where the taps read it, after the ReLU too (as the other
        // layers' epilogue: Swift's max(v, 0) keeps NaN), in both paths.
        let s = Conv2dShape(inputs: 3, outputs: 7, kernel: 3, stride: 2, padding: 1)
        var x = Self.values(3 * 2 * 9 * 9, seed: 14)
        x[81 + 4 * 9 + 5] = .nan   // channel 0, image 1, row 4, column 5
        let w = Self.values(7 * 27, seed: 15), b = Self.values(7, seed: 16)
        let expected = Self.reference(x, w, b, residual: nil, relu: true, shape: s, images: 2, side: 9)
        for simd in liberi_avx2_fma() != 0 ? [false, true] : [false] {
            var y = [Float](repeating: 0, count: 7 * 2 * 5 * 5)
            stemConv(x, shape: s, images: 2, height: 9, width: 9, weight: w, bias: b, relu: true, simd: simd, into: &y)
            #expect(y.map(\.isNaN) == expected.map(\.isNaN), "simd \(simd)")
            #expect(y.filter(\.isNaN).count == 7 * 2, "simd \(simd)")   // outputs (2, 2) and (2, 3) of image 1, every channel
        }
    }

    @Test func packedConvMatchesDirectConvolution() {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        // dbn-small's and dbn-base's strided layers and shortcuts, and shapes with a partial
        // last 6-row block, a partial last panel (n not a multiple of 16, planes that straddle
        // panels), a 1 × 1 map, a stride-1 "same" and a 5 × 5 layer.
        for (inputs, outputs, kernel, stride, padding, images, side, useResidual, relu) in
            [(32, 64, 3, 2, 1, 3, 16, false, true), (64, 128, 3, 2, 1, 2, 8, true, true), (128, 256, 3, 2, 1, 5, 4, false, true),
             (32, 64, 1, 2, 0, 3, 16, false, false), (64, 128, 1, 2, 0, 1, 28, false, false), (5, 7, 3, 1, 1, 2, 9, true, true),
             (3, 13, 5, 2, 2, 1, 11, false, false), (7, 1, 3, 2, 1, 1, 1, true, false), (9, 20, 3, 2, 1, 3, 7, true, true)] {
            let s = Conv2dShape(inputs: inputs, outputs: outputs, kernel: kernel, stride: stride, padding: padding)
            let o = s.outputSide(side), count = outputs * images * o * o
            let x = Self.values(inputs * images * side * side, seed: 31)
            let w = Self.values(outputs * s.patch, seed: 32).map { $0 / Float(s.patch).squareRoot() }
            let b = Self.values(outputs, seed: 33)
            let residual = useResidual ? Self.values(count, seed: 34) : nil
            let expected = Self.reference(x, w, b, residual: residual, relu: relu, shape: s, images: images, side: side)
            let packed = packConvWeights(w, shape: s)
            var results: [[Float]] = []
            for simd in liberi_avx2_fma() != 0 ? [false, true] : [false] {
                for threads in [1, 2] {
                    setComputeThreads(threads)
                    var panels = [Float](repeating: .nan, count: packedConvScratch(s, images: images, side: side))
                    var y = [Float](repeating: .nan, count: count)
                    packedConv(x, shape: s, images: images, height: side, width: side, packed: packed, bias: b,
                               residual: residual, relu: relu, simd: simd, panels: &panels, into: &y)
                    check("packed \(s) images \(images) side \(side) simd \(simd) threads \(threads)", y.map(Double.init), expected,
                          tolerance: 2e-6, scale: .relative)
                    results.append(y)
                }
            }
            #expect(results.allSatisfy { $0 == results[0] }, "paths and thread counts differ: \(s) side \(side)")
            #expect(packedConvApplies(s) == (liberi_avx2_fma() != 0))
        }
        #expect(!packedConvApplies(Conv2dShape(inputs: 8, outputs: 8, kernel: 1, stride: 1, padding: 0)))
        // A NaN input gives NaN exactly where the taps read it, after the ReLU too (Swift's max(v, 0) keeps NaN).
        let s = Conv2dShape(inputs: 3, outputs: 7, kernel: 3, stride: 2, padding: 1)
        var x = Self.values(3 * 2 * 9 * 9, seed: 35)
        x[81 + 4 * 9 + 5] = .nan   // channel 0, image 1, row 4, column 5
        let w = Self.values(7 * 27, seed: 36), b = Self.values(7, seed: 37)
        let expected = Self.reference(x, w, b, residual: nil, relu: true, shape: s, images: 2, side: 9)
        for simd in liberi_avx2_fma() != 0 ? [false, true] : [false] {
            var panels = [Float](repeating: 0, count: packedConvScratch(s, images: 2, side: 9))
            var y = [Float](repeating: 0, count: 7 * 2 * 5 * 5)
            packedConv(x, shape: s, images: 2, height: 9, width: 9, packed: packConvWeights(w, shape: s), bias: b, relu: true,
                       simd: simd, panels: &panels, into: &y)
            #expect(y.map(\.isNaN) == expected.map(\.isNaN), "simd \(simd)")
            #expect(y.filter(\.isNaN).count == 7 * 2, "simd \(simd)")
        }
    }

    @Test func threadedMaxPoolMatchesSerial() {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        for side in [1, 2, 5, 8] {
            let planes = 7
            let x = Self.values(planes * side * side, seed: 9)
            let o = MaxPool2dShape.outputSide(side)
            var expected = [Float](repeating: 0, count: planes * o * o)
            for p in 0..<planes { for oy in 0..<o { for ox in 0..<o {
                var m = -Float.infinity
                for iy in max(0, 2 * oy - 1)...min(side - 1, 2 * oy + 1) {
                    for ix in max(0, 2 * ox - 1)...min(side - 1, 2 * ox + 1) { m = max(m, x[(p * side + iy) * side + ix]) }
                }
                expected[(p * o + oy) * o + ox] = m
            } } }
            for threads in [1, 2] {
                setComputeThreads(threads)
                var y = [Float](repeating: .nan, count: planes * o * o)
                maxPool3x3s2(x, planes: planes, height: side, width: side, into: &y)
                #expect(y == expected, "side \(side), threads \(threads)")
            }
        }
    }
}
