import ERICore

// The network's blocks share one convention (llm.c style): a forward pass
// takes an optional `Tape`. Without one it is inference: nothing is kept and
// dropout is the identity. With one it is training: every activation the
// backward pass needs is kept in the tape's arena and returned as the block's
// `Cache`, and dropout masks are drawn from the tape's generator. Each
// block's backward sits next to its forward and accumulates into its
// parameters' gradients.

/// What a training forward pass carries: the step's arena, which keeps the
/// activations for the backward pass, the generator of dropout masks, and
/// the dropout rate (SPEC §5 `Drop`, `train.dropout`) and the backbone's
/// memory budget for kept im2col matrices.
public final class Tape {
    let arena: Arena
    var rng: SeededGenerator
    let dropout: Float
    /// Floats of im2col matrices the backbone's forward may keep for its
    /// backward pass rather than recompute them there.
    let columnBudget: Int

    init(arena: Arena, rng: SeededGenerator, dropout: Float, columnBudget: Int) {
        self.arena = arena
        self.rng = rng
        self.dropout = dropout
        self.columnBudget = columnBudget
    }

    /// Inverted dropout on x (n floats) in place: each value is kept with
    /// probability 1 − p and scaled by 1/(1 − p). Returns the mask for the
    /// backward pass, or nil when p = 0 (no mask is drawn, nothing changes).
    func drop(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> UnsafeMutablePointer<Float>? {
        guard dropout > 0 else { return nil }
        let mask = arena.floats(n).baseAddress!  // (n)
        let keep = 1 / (1 - dropout)
        for i in 0..<n {
            mask[i] = rng.uniform(0, 1) < dropout ? 0 : keep
            x[i] *= mask[i]
        }
        return mask
    }
}

/// The backward of `Tape.drop`: dy ·= mask (nothing when no mask was drawn).
func undrop(_ mask: UnsafeMutablePointer<Float>?, _ dy: UnsafeMutablePointer<Float>, _ n: Int) {
    guard let mask else { return }
    for i in 0..<n { dy[i] *= mask[i] }
}

/// SPEC §5 `Linear(in, out)`: y = x·Wᵀ + b, W out × in.
/// In an inference set (no gradients) the weight is also packed once for the
/// product (`PackedWeights`); training's weights change every step and keep
/// OpenBLAS.
struct Linear {
    let weight: Parameter  // (out, in)
    let bias: Parameter    // (out)
    let packed: PackedWeights?
    var inputs: Int { weight.shape[1] }
    var outputs: Int { weight.shape[0] }

    init(_ p: Parameters, _ prefix: String) {
        weight = p[prefix + ".weight"]
        bias = p[prefix + ".bias"]
        packed = p.hasGradients ? nil : PackedWeights(weight.value, outputs: weight.shape[0], inputs: weight.shape[1])
    }

    func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        linear(x, rows: rows, inputs: inputs, weight: weight.value, bias: bias.value, outputs: outputs, packed: packed, into: y)
    }

    /// dW += dyᵀ·x, db += Σ dy; dx = dy·W (added to dx when `accumulate`), if asked for.
    func backward(_ dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, rows: Int, dx: UnsafeMutablePointer<Float>?,
                  accumulate: Bool = false) {
        linearBackward(dy, x, rows: rows, inputs: inputs, outputs: outputs, weight: weight.value, dx: dx, accumulateDX: accumulate,
                       dWeight: weight.gradient!, dBias: bias.gradient!)
    }
}

/// SPEC §5 `LayerNorm` (eps 1e-5) over rows of `width`.
struct LayerNorm {
    let weight: Parameter, bias: Parameter

    init(_ p: Parameters, _ prefix: String) {
        weight = p[prefix + ".weight"]
        bias = p[prefix + ".bias"]
    }

    struct Cache { let normalised: UnsafeMutablePointer<Float>, inverseStd: UnsafeMutablePointer<Float> }

    func forward(_ x: UnsafePointer<Float>, rows: Int, width: Int, into y: UnsafeMutablePointer<Float>, tape: Tape?) -> Cache? {
        guard let tape else {
            layerNorm(x, rows: rows, width: width, weight: weight.value, bias: bias.value, into: y)
            return nil
        }
        let cache = Cache(normalised: tape.arena.floats(rows * width).baseAddress!,  // (rows, width)
                          inverseStd: tape.arena.floats(rows).baseAddress!)         // (rows)
        layerNorm(x, rows: rows, width: width, weight: weight.value, bias: bias.value, into: y,
                  normalised: cache.normalised, inverseStd: cache.inverseStd)
        return cache
    }

    func backward(_ dy: UnsafePointer<Float>, cache: Cache, rows: Int, width: Int, dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        layerNormBackward(dy, rows: rows, width: width, weight: weight.value, normalised: cache.normalised, inverseStd: cache.inverseStd,
                          dx: dx, accumulate: accumulate, dWeight: weight.gradient!, dBias: bias.gradient!)
    }
}

/// Zeroes the rows (of `width` floats) at or past each sequence's valid
/// length: SPEC §5's rule for padded steps in the TCN.
func maskRows(_ x: UnsafeMutablePointer<Float>, sequences: Int, length: Int, width: Int, valid: [Int]?) {
    guard let valid else { return }
    for s in 0..<sequences where valid[s] < length {
        (x + (s * length + valid[s]) * width).update(repeating: 0, count: (length - valid[s]) * width)
    }
}
