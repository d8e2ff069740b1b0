import Foundation
import ERICore

/// SplitMix64: deterministic test data, independent of the library's own
/// random number generator.
public struct TestRandom {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Standard normal (Box–Muller).
    public mutating func gaussian() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    public mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next() >> 56) }
}

/// A tensor of `shape` whose values are drawn in order, the first element
/// first: `randomTensor([2, 3]) { rng.uniform(-1, 1) }`.
public func randomTensor(_ shape: [Int], _ draw: () -> Float) -> Tensor {
    Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in draw() })
}
