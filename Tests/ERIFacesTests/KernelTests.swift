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

    /// The detector's integral image from packed 8-bit pixels is, entry for entry, the one from the
    /// planes ImageView.rgbPlanes gives, for each packed format, with padded rows.
    @Test(arguments: [PixelFormat.rgb24, .bgr24, .rgba32, .bgra32])
    func packedTableIsThePlanesTable(_ format: PixelFormat) throws {
        let (w, h) = (37, 11)
        let bpp = format == .rgb24 || format == .bgr24 ? 3 : 4, stride = w * bpp + 5
        var random = TestRandom(seed: UInt64(format.rawValue) + 5)
        let bytes = (0..<(stride * h)).map { _ in UInt8(random.uniform() * 255.99) }
        let layout: [PixelFormat: (Int32, Int32, Int32)] = [.rgb24: (0, 1, 2), .bgr24: (2, 1, 0), .rgba32: (0, 1, 2), .bgra32: (2, 1, 0)]
        let (r, g, b) = try #require(layout[format])
        let arena = Arena()
        let (packed, planes) = try bytes.withUnsafeBufferPointer { raw in
            let image = try ImageView(data: UnsafeRawPointer(raw.baseAddress!), width: w, height: h, stride: stride, format: format)
            let rgb = image.rgbPlanes(maxSide: 1920).planes
            return (AreaTable(packed: raw.baseAddress!, width: w, height: h, stride: stride, layout: (Int32(bpp), r, g, b), arena: arena),
                    rgb.withUnsafeBufferPointer { AreaTable(planes: $0.baseAddress!, width: w, height: h, arena: arena) })
        }
        guard case .integers(let exact) = packed.entries, case .doubles(let summed) = planes.entries else {
            Issue.record("8-bit pixels make a table of integers, floats one of doubles"); return
        }
        let count = liberi_integral_size(Int32(h), Int32(w))
        #expect((0..<count).allSatisfy { Double(exact[$0]) == summed[$0] })
        // Entry (y, x) of plane c: the sum of that channel's bytes above and left of it.
        let (y, x, c) = (7, 30, 2)
        let offset = [r, g, b][c]
        let sum = (0..<y).reduce(0) { s, row in s + (0..<x).reduce(0) { $0 + Int(bytes[row * stride + $1 * bpp + Int(offset)]) } }
        #expect(exact[(y * (w + 1) + x) * 3 + c] == UInt32(sum))
        // Both resample to the same values.
        var a = [Float](repeating: .nan, count: 3 * 5 * 7), b2 = a
        a.withUnsafeMutableBufferPointer { packed.resample(rows: 2..<11, columns: 3..<37, outHeight: 5, outWidth: 7, into: $0.baseAddress!, planeStride: 35) }
        b2.withUnsafeMutableBufferPointer { planes.resample(rows: 2..<11, columns: 3..<37, outHeight: 5, outWidth: 7, into: $0.baseAddress!, planeStride: 35) }
        #expect(a == b2)
    }

    /// The detector's area resampling through the integral image is adaptive average pooling
    /// (PyTorch's interpolate "area"): of 8-bit pixels (the table of integers), the exact mean
    /// correctly rounded, bit for bit; of any other pixels (the table of doubles), the mean within float rounding. Whole
    /// images and crops, down and up, 1 × 1, equal sizes; normalised as MTCNN's input on request.
    @Test(arguments: [(480, 640, 0, 0, 480, 640, 144, 192), (480, 640, 0, 0, 480, 640, 13, 18), (61, 83, 5, 7, 40, 33, 48, 48),
                      (61, 83, 60, 82, 1, 1, 24, 24), (61, 83, 13, 2, 9, 70, 24, 24), (31, 17, 0, 0, 31, 17, 31, 17),
                      (1, 1, 0, 0, 1, 1, 12, 12), (97, 13, 0, 0, 97, 13, 13, 97), (300, 300, 10, 20, 250, 251, 24, 24)])
    func areaTableResamplesToTheRectangleMean(_ c: (Int, Int, Int, Int, Int, Int, Int, Int)) {
        let (h, w, y0, x0, ch, cw, oh, ow) = c
        var random = TestRandom(seed: UInt64(h * 1000 + w + y0 + oh))
        for wholeNumbers in [true, false] {
            let x = (0..<(3 * h * w)).map { _ in wholeNumbers ? Float(Int(random.uniform() * 255.99)) : Float(random.uniform() * 255) }
            let arena = Arena()
            // Whole numbers as packed RGB bytes (the table of integers), others as planes (doubles).
            let bytes = (0..<(h * w * 3)).map { i in UInt8(max(0, min(255, x[(i % 3) * h * w + i / 3]))) }
            let table = wholeNumbers
                ? bytes.withUnsafeBufferPointer { AreaTable(packed: $0.baseAddress!, width: w, height: h, stride: 3 * w, layout: (3, 0, 1, 2), arena: arena) }
                : x.withUnsafeBufferPointer { AreaTable(planes: $0.baseAddress!, width: w, height: h, arena: arena) }
            var got = [Float](repeating: .nan, count: 3 * oh * ow), normalised = got
            got.withUnsafeMutableBufferPointer {
                table.resample(rows: y0..<(y0 + ch), columns: x0..<(x0 + cw), outHeight: oh, outWidth: ow, into: $0.baseAddress!,
                               planeStride: oh * ow, normalised: false)
            }
            normalised.withUnsafeMutableBufferPointer {
                table.resample(rows: y0..<(y0 + ch), columns: x0..<(x0 + cw), outHeight: oh, outWidth: ow, into: $0.baseAddress!,
                               planeStride: oh * ow)
            }
            var want = [Float](repeating: 0, count: 3 * oh * ow)
            for p in 0..<3 { for i in 0..<oh { for j in 0..<ow {
                let r0 = i * ch / oh, r1 = ((i + 1) * ch + oh - 1) / oh, c0 = j * cw / ow, c1 = ((j + 1) * cw + ow - 1) / ow
                var sum = 0.0
                for r in r0..<r1 { for k in c0..<c1 { sum += Double(x[(p * h + y0 + r) * w + x0 + k]) } }
                want[(p * oh + i) * ow + j] = Float(sum / Double((r1 - r0) * (c1 - c0)))
            } } }
            let name = "area \(ch)×\(cw) at (\(x0), \(y0)) of \(h)×\(w) → \(oh)×\(ow)"
            if wholeNumbers {
                #expect(got == want, "\(name): not the correctly rounded mean")
            } else {
                _ = check(name, got, want, tolerance: 2e-7, scale: .relative)
            }
            #expect(normalised == got.map { ($0 - 127.5) * 0.0078125 }, "\(name): normalised")
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
