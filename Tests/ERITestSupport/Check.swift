// `make` builds every target with -static-stdlib, where the Testing module
// does not exist; only the test build needs the checker.
#if canImport(Testing)
import Testing

/// What `check` divides the largest |got − want| by before comparing it with
/// the tolerance.
public enum CheckScale: Sendable {
    /// Nothing: the difference itself.
    case absolute
    /// The reference's largest magnitude, floored at 1: relative for large
    /// values, absolute for small ones (the network's intermediates).
    case relative
    /// A scale the test computes: a gradient's largest magnitude with its own
    /// floor, say.
    case dividedBy(Double)
}

/// llm.c's checker: prints the first values and the largest difference
/// (scaled by `scale`), records an issue when that is over `tolerance` or the
/// sizes differ, and returns it. A NaN anywhere counts as an infinite difference.
@discardableResult
public func check<T: BinaryFloatingPoint>(_ name: String, _ got: [T], _ want: [T], tolerance: T,
                                          scale: CheckScale = .absolute,
                                          sourceLocation: SourceLocation = #_sourceLocation) -> T {
    guard got.count == want.count else {
        Issue.record("\(name): \(got.count) values, the reference has \(want.count)", sourceLocation: sourceLocation)
        return .infinity
    }
    var maxDiff: T = 0
    var maxRef: T = 0
    for i in 0..<got.count {
        let d = abs(got[i] - want[i])
        maxDiff = d.isNaN ? .infinity : max(maxDiff, d)
        maxRef = max(maxRef, abs(want[i]))
    }
    let scaled: T, label: String
    switch scale {
    case .absolute: (scaled, label) = (maxDiff, "abs")
    case .relative: (scaled, label) = (maxDiff / max(maxRef, 1), "rel")
    case .dividedBy(let divisor): (scaled, label) = (maxDiff / T(divisor), "÷\(divisor)")
    }
    let first = (0..<min(4, got.count)).map { "\(got[$0])/\(want[$0])" }.joined(separator: " ")
    let padding = String(repeating: " ", count: max(0, 28 - name.count))
    print("  \(name)\(padding) \(label) diff \(scaled)  first (got/want): \(first)")
    #expect(scaled <= tolerance, "\(name): difference \(scaled) over \(tolerance)", sourceLocation: sourceLocation)
    return scaled
}
#endif
