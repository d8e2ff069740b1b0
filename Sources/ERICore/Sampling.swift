// Evenly spread indices, shared by frame sampling (SPEC §4.1 step 1), the
// audio cap (SPEC §4.2 step 4) and the media decoder, which decodes only the
// frames the sampling picks.

/// SPEC §4.1 step 1: the F frame indices i_j = ⌊(j + 0.5) · N / F⌋, j = 0…F−1,
/// computed exactly in integers; N < F repeats frames. Empty when N < 1 or F < 1.
public func frameIndices(available n: Int, frames f: Int) -> [Int] {
    guard n >= 1, f >= 1 else { return [] }
    return (0..<f).map { j in spreadIndex(j, available: n, count: f) }
}

/// SPEC §4.2 step 4 (and §4.1 step 1): ⌊(j + 0.5) · T / maxSteps⌋ in exact
/// integer arithmetic, ((2j + 1) · T) / (2 · maxSteps); all of 0…T−1 when T ≤ maxSteps.
public func cappedIndices(steps: Int, maxSteps: Int) -> [Int] {
    if steps <= maxSteps { return Array(0..<steps) }
    return (0..<maxSteps).map { j in spreadIndex(j, available: steps, count: maxSteps) }
}

/// ⌊(j + 0.5) · n / f⌋ = ⌊(2j + 1) · n / (2f)⌋ without overflow for any Int inputs ≥ 0.
public func spreadIndex(_ j: Int, available n: Int, count f: Int) -> Int {
    let product = (2 * j + 1).multipliedFullWidth(by: n)
    return (2 * f).dividingFullWidth(product).quotient
}

