import Testing
import CERISupport
import ERICore
@testable import ERIFaces
import ERIFeatures
import ERITestSupport

/// The detector's own kernels against their definitions, computed the slow way.
@Suite struct DetectorKernelTests {
    /// PyTorch's area interpolation: output (i, j) is the mean of input rows
    /// ⌊i·h/oh⌋ ..< ⌈(i+1)·h/oh⌉ and the same columns (adaptive average pooling).
    @Test(arguments: [(7, 9, 3, 4), (480, 640, 144, 192), (31, 17, 31, 17), (5, 40, 12, 13), (1, 1, 12, 12), (24, 33, 24, 8)])
    func areaResizeIsTheRectangleMean(_ size: (Int, Int, Int, Int)) {
        let (h, w, oh, ow) = size
        var random = TestRandom(seed: UInt64(h * 1000 + w))
        let x = (0..<(2 * h * w)).map { _ in Float(random.uniform() * 255) }
        var y = [Float](repeating: .nan, count: 2 * oh * ow)
        x.withUnsafeBufferPointer { xs in
            y.withUnsafeMutableBufferPointer { areaResize(xs.baseAddress!, planes: 2, height: h, width: w, outHeight: oh, outWidth: ow, into: $0.baseAddress!) }
        }
        var want = [Float](repeating: 0, count: 2 * oh * ow)
        for p in 0..<2 { for i in 0..<oh { for j in 0..<ow {
            let r0 = i * h / oh, r1 = ((i + 1) * h + oh - 1) / oh, c0 = j * w / ow, c1 = ((j + 1) * w + ow - 1) / ow
            var sum = 0.0
            for r in r0..<r1 { for c in c0..<c1 { sum += Double(x[(p * h + r) * w + c]) } }
            want[(p * oh + i) * ow + j] = Float(sum / Double((r1 - r0) * (c1 - c0)))
        } } }
        _ = check("area \(h)×\(w) → \(oh)×\(ow)", y, want, tolerance: 2e-6, scale: .relative)
    }

    /// The detector's packed-pixel fast path (both paths) gives the planes ImageView.rgbPlanes gives,
    /// for each packed format, with padded rows.
    @Test(arguments: [PixelFormat.rgb24, .bgr24, .rgba32, .bgra32])
    func packedPlanesAreRGBPlanes(_ format: PixelFormat) throws {
        let (w, h) = (37, 11)
        let bpp = format == .rgb24 || format == .bgr24 ? 3 : 4, stride = w * bpp + 5
        var random = TestRandom(seed: UInt64(format.rawValue) + 5)
        let bytes = (0..<(stride * h)).map { _ in UInt8(random.uniform() * 255.99) }
        let layout: [PixelFormat: (Int32, Int32, Int32)] = [.rgb24: (0, 1, 2), .bgr24: (2, 1, 0), .rgba32: (0, 1, 2), .bgra32: (2, 1, 0)]
        let (r, g, b) = try #require(layout[format])
        for simd in DirectConvTests.paths {
            var got = [Float](repeating: .nan, count: 3 * w * h)
            let want = try bytes.withUnsafeBufferPointer { raw -> [Float] in
                got.withUnsafeMutableBufferPointer {
                    liberi_planes_from_packed(raw.baseAddress!, Int32(w), Int32(h), Int32(stride), Int32(bpp), r, g, b, simd ? 1 : 0, $0.baseAddress!)
                }
                return try ImageView(data: UnsafeRawPointer(raw.baseAddress!), width: w, height: h, stride: stride, format: format)
                    .rgbPlanes(maxSide: 1920).planes
            }
            #expect(got == want, "packed planes, \(format), \(simd ? "avx2" : "portable")")
        }
    }

    /// A crop resampled where it lies (row and plane strides) is the copied crop resampled, bit for bit.
    @Test func areaResizeOfACropInPlaceIsTheCopiedCrop() {
        let (h, w) = (61, 83)
        var random = TestRandom(seed: 61_83)
        let x = (0..<(3 * h * w)).map { _ in Float(random.uniform() * 255) }
        for (y0, x0, ch, cw, side) in [(0, 0, 61, 83, 24), (5, 7, 40, 33, 48), (60, 82, 1, 1, 24), (13, 2, 9, 70, 12)] {
            var piece = [Float](repeating: 0, count: 3 * ch * cw)
            for c in 0..<3 { for r in 0..<ch { for k in 0..<cw { piece[(c * ch + r) * cw + k] = x[(c * h + y0 + r) * w + x0 + k] } } }
            var want = [Float](repeating: 0, count: 3 * side * side), got = [Float](repeating: .nan, count: 3 * side * side)
            piece.withUnsafeBufferPointer { p in
                want.withUnsafeMutableBufferPointer { areaResize(p.baseAddress!, planes: 3, height: ch, width: cw, outHeight: side, outWidth: side, into: $0.baseAddress!) }
            }
            x.withUnsafeBufferPointer { xs in
                got.withUnsafeMutableBufferPointer {
                    areaResize(xs.baseAddress! + y0 * w + x0, planes: 3, height: ch, width: cw, outHeight: side, outWidth: side, into: $0.baseAddress!,
                               rowStride: w, planeStride: h * w)
                }
            }
            #expect(got == want, "crop \(ch)×\(cw) at (\(x0), \(y0)) → \(side)²")
        }
    }

    /// The pyramid's one-pass resampling (both paths) gives, size by size, exactly what `areaResize` gives
    /// (the detector's parity rests on it): downsampling, upsampling, 1 × 1 and equal sizes.
    @Test(arguments: [(480, 640, [(144, 192), (103, 137), (73, 97), (52, 69), (37, 49), (26, 35), (19, 25), (13, 18)]),
                      (31, 17, [(31, 17), (40, 50), (1, 1), (12, 12)]), (1, 1, [(12, 12), (3, 1)]), (5, 40, [(12, 13)]),
                      (97, 13, [(96, 12), (48, 7), (13, 97)])])
    func areaPyramidIsAreaResizeSizeBySize(_ c: (Int, Int, [(Int, Int)])) {
        let (h, w, sizes) = c
        var random = TestRandom(seed: UInt64(h * 1000 + w + sizes.count))
        let x = (0..<(3 * h * w)).map { _ in Float(random.uniform() * 255) }
        for simd in DirectConvTests.paths {
            let arena = Arena()
            let buffers = sizes.map { arena.floats(3 * $0.0 * $0.1).baseAddress! }
            for b in buffers.indices { buffers[b].initialize(repeating: .nan, count: 3 * sizes[b].0 * sizes[b].1) }
            x.withUnsafeBufferPointer { xs in
                areaPyramid(xs.baseAddress!, planes: 3, height: h, width: w, sizes: sizes.map { (height: $0.0, width: $0.1) }, into: buffers,
                            simd: simd, arena: arena)
            }
            let outputs = sizes.indices.map { l in Array(UnsafeBufferPointer(start: buffers[l], count: 3 * sizes[l].0 * sizes[l].1)) }
            for (l, (oh, ow)) in sizes.enumerated() {
                var want = [Float](repeating: 0, count: 3 * oh * ow)
                x.withUnsafeBufferPointer { xs in
                    want.withUnsafeMutableBufferPointer { areaResize(xs.baseAddress!, planes: 3, height: h, width: w, outHeight: oh, outWidth: ow, into: $0.baseAddress!) }
                }
                #expect(outputs[l] == want, "areaPyramid \(h)×\(w) → \(oh)×\(ow) \(simd ? "avx2" : "portable")")
            }
        }
    }

    /// MaxPool2d(k, s, ceil_mode=True): windows start at multiples of s, the last
    /// may hang over the edge and then covers what is left.
    @Test(arguments: [(22, 22, 3, 2), (23, 23, 3, 2), (9, 9, 3, 2), (10, 10, 2, 2), (3, 3, 2, 2), (1, 1, 2, 2), (190, 142, 2, 2), (4, 41, 3, 2)])
    func ceilPoolIsTheWindowMaximum(_ size: (Int, Int, Int, Int)) {
        let (h, w, k, s) = size
        var random = TestRandom(seed: UInt64(h * 100 + w + k))
        let x = (0..<(3 * h * w)).map { _ in Float(random.gaussian()) }
        let oh = ceilPoolSide(h, kernel: k, stride: s), ow = ceilPoolSide(w, kernel: k, stride: s)
        #expect(oh == (h <= k ? 1 : Int((Double(h - k) / Double(s)).rounded(.up)) + 1))
        var y = [Float](repeating: .nan, count: 3 * oh * ow)
        x.withUnsafeBufferPointer { xs in
            y.withUnsafeMutableBufferPointer { maxPoolCeil(xs.baseAddress!, planes: 3, height: h, width: w, kernel: k, stride: s, into: $0.baseAddress!) }
        }
        var want = [Float](repeating: 0, count: 3 * oh * ow)
        for p in 0..<3 { for i in 0..<oh { for j in 0..<ow {
            var m = -Float.infinity
            for r in (i * s)..<min(i * s + k, h) { for c in (j * s)..<min(j * s + k, w) { m = max(m, x[(p * h + r) * w + c]) } }
            want[(p * oh + i) * ow + j] = m
        } } }
        #expect(y == want, "max-pool \(h)×\(w), kernel \(k), stride \(s)")
    }
}
