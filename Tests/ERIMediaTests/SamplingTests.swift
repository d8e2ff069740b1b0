import Testing
import ERICore
@testable import ERIMedia

/// SPEC §4.1 step 1, against the formula evaluated in floating point.
@Suite struct SamplingTests {
    @Test func indicesFollowTheSpecFormula() {
        for n in 0...200 {
            for f in 1...40 {
                let expected = n == 0 ? [] : (0..<f).map { j in Int(((Double(j) + 0.5) * Double(n) / Double(f)).rounded(.down)) }
                #expect(frameIndices(available: n, frames: f) == expected, "N = \(n), F = \(f)")
            }
        }
    }

    @Test func examples() {
        #expect(frameIndices(available: 40, frames: 6) == [3, 10, 16, 23, 30, 36])
        #expect(frameIndices(available: 3, frames: 8) == [0, 0, 0, 1, 1, 2, 2, 2])   // N < F repeats
        #expect(frameIndices(available: 1, frames: 4) == [0, 0, 0, 0])
        #expect(frameIndices(available: 15_000, frames: 32).last == 14_765)
        #expect(frameIndices(available: 0, frames: 4).isEmpty)
    }
}
