import Testing
@testable import ERICore
import ERITestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The transformer's element-wise kernels (CERISupport's activations.c, four
/// lanes at a time) against float64. `softmaxRows` (a polynomial exp) on rows of every width
/// from 1 to 67 and the attention's 251, with masked (−∞) keys, values
/// spread over ±100 (so that most weights underflow) and the widths' tails.
struct ActivationTests {
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

    /// GELU, with erf by A&S 7.1.26 (PyTorch's vectorised float erf), against
    /// 0.5·x·(1 + erf(x/√2)) in float64: within 2e-7·max(1, |x|) on ±12 (the
    /// approximation's 1.5e-7 on erf, halved, times |x|, plus rounding), and
    /// the edges: ±∞, huge values, NaN, on every tail length of the lanes.
    @Test func geluMatchesFloat64() {
        var x: [Float] = (0...4_800).map { Float($0 - 2_400) / 200 }   // −12 … 12 by 0.005
        x += [1e30, -1e30, 3e38, -3e38, .infinity, 0, -0.0, 1e-30, -1e-30]
        var worst = 0.0
        for count in [x.count, 1, 2, 3, 5, 7] {
            var y = Array(x.prefix(count))
            y.withUnsafeMutableBufferPointer { gelu($0.baseAddress!, count) }
            for (v, g) in zip(x.prefix(count), y) {
                let d = Double(v)
                let expected = d.isInfinite ? (d > 0 ? d : 0) : 0.5 * d * (1 + Glibc.erf(d / 2.0.squareRoot()))
                if expected.magnitude > 1e37 || d.isInfinite {
                    #expect(Double(g) == expected || (expected.isFinite && abs(Double(g) - expected) <= expected.magnitude * 1e-6),
                            "gelu(\(v)) = \(g), not \(expected)")
                    continue
                }
                let error = abs(Double(g) - expected) / max(1, d.magnitude)
                worst = max(worst, error)
            }
        }
        #expect(worst < 2e-7, "largest error relative to max(1, |x|): \(worst)")
        var n: [Float] = [.nan, 1, 2, 3, -.nan]
        n.withUnsafeMutableBufferPointer { gelu($0.baseAddress!, 5) }
        #expect(n[0].isNaN && n[4].isNaN && n[1] > 0.8 && n[1] < 0.85)
    }
}
