import Testing
@testable import ERICore
import ERITestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `softmaxRows` (CERISupport's softmax.c: a polynomial exp four lanes at a
/// time) against the softmax computed in float64, on rows of every width
/// from 1 to 67 and the attention's 251, with masked (−∞) keys, values
/// spread over ±100 (so that most weights underflow) and the widths' tails.
struct SoftmaxTests {
    @Test func softmaxMatchesFloat64() {
        var rng = SeededGenerator(seed: 7)
        var worstRelative = 0.0, worstAbsolute = 0.0
        for width in Array(1...67) + [251] {
            for spread in [Float(1), 10, 100] {
                let rows = 5
                var x = (0..<rows * width).map { _ in rng.uniform(-spread, spread) }
                // Row 1 masks every third key (never all of them: key 0 stays).
                for j in stride(from: 2, to: width, by: 3) { x[width + j] = -.infinity }
                var y = x
                y.withUnsafeMutableBufferPointer { softmaxRows($0.baseAddress!, rows: rows, width: width) }
                for r in 0..<rows {
                    // The differences x − max rounded to float32 as the kernel computes them (that
                    // rounding is the input's, ~1e-5 relative at ±100, whatever the exp), the
                    // rest in float64.
                    let row = Array(x[(r * width)..<((r + 1) * width)])
                    let m = row.max()!
                    let e = row.map { $0 == -.infinity ? 0 : Glibc.exp(Double($0 - m)) }
                    let s = e.reduce(0, +)
                    for j in 0..<width {
                        let expected = e[j] / s, got = Double(y[r * width + j])
                        #expect(got.isFinite && got >= 0, "width \(width) row \(r) key \(j): \(got)")
                        if x[r * width + j] == -.infinity { #expect(got == 0, "a masked key's weight is exactly 0, not \(got)") }
                        worstAbsolute = max(worstAbsolute, abs(got - expected))
                        // Weights that are not tiny agree to a few float32 ulps.
                        if expected > 1e-30 { worstRelative = max(worstRelative, abs(got - expected) / expected) }
                    }
                }
            }
        }
        #expect(worstRelative < 1e-6, "largest relative error \(worstRelative)")
        // A few float32 ulps at 1.
        #expect(worstAbsolute < 3e-7, "largest absolute error \(worstAbsolute)")
    }

    /// A NaN in a row stays a NaN (it is not hidden as a weight of 0).
    @Test func nanPropagates() {
        var x: [Float] = [0, 1, .nan, 2, 3, 4]
        x.withUnsafeMutableBufferPointer { softmaxRows($0.baseAddress!, rows: 1, width: 6) }
        #expect(x.contains { $0.isNaN })
    }
}
