import ERICore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A dilated "same" Conv1d(d, d, k) with bias (SPEC §5 TCNBlock).
struct Conv1d {
    let weight: Parameter  // (d, d, k), PyTorch's layout, used as stored
    let bias: Parameter    // (d)
    let kernel: Int, dilation: Int
    /// The weight as d × (d·k), packed once in an inference set (see `Linear`).
    let packed: PackedWeights?
    var width: Int { weight.shape[0] }

    init(_ p: Parameters, _ prefix: String, kernel: Int, dilation: Int) {
        weight = p[prefix + ".weight"]
        bias = p[prefix + ".bias"]
        self.kernel = kernel
        self.dilation = dilation
        packed = p.hasGradients ? nil : PackedWeights(weight.value, outputs: weight.shape[0], inputs: weight.shape[1] * weight.shape[2])
    }

    /// x (sequences·steps × d) → y; `columns` is scratch of sequences·steps·d·k floats.
    /// With `reuse` (one sequence, packed weights), the rows `TemporalReuse` finds
    /// unchanged come from its last output and only the others are computed.
    func forward(_ x: UnsafePointer<Float>, sequences: Int, steps: Int, columns: UnsafeMutablePointer<Float>,
                 into y: UnsafeMutablePointer<Float>, reuse: TemporalReuse.Unit? = nil) {
        guard let reuse, let packed, sequences == 1 else {
            conv1d(x, sequences: sequences, steps: steps, inputs: width, outputs: width, kernel: kernel, dilation: dilation,
                   weight: weight.value, bias: bias.value, packed: packed, columns: columns, into: y)
            return
        }
        let d = width, k = kernel, n = steps * d
        let (computed, shift) = reuse.plan(x, steps: steps, width: d, taps: (0..<k).map { ($0 - (k - 1) / 2) * dilation })
        for r in computed {
            conv1dColumnRows(x, steps: steps, channels: d, kernel: k, dilation: dilation, rows: r, into: columns)
            linear(columns + r.lowerBound * d * k, rows: r.count, inputs: d * k, weight: weight.value, bias: bias.value,
                   outputs: d, packed: packed, into: y + r.lowerBound * d)
        }
        reuse.output.withUnsafeBufferPointer { old in
            var next = 0
            for r in computed + [steps..<steps] {
                for i in next..<r.lowerBound { (y + i * d).update(from: old.baseAddress! + (i + shift) * d, count: d) }
                next = r.upperBound
            }
        }
        reuse.keep(input: x, output: y, count: n)
        let computedRows = computed.reduce(0) { $0 + $1.count }
        reuse.computed += computedRows
        reuse.reused += steps - computedRows
    }

    /// Accumulates dW and db, and dx when given; `x` is the forward's input.
    func backward(_ dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, sequences: Int, steps: Int,
                  columns: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?) {
        conv1dBackward(dy, input: x, sequences: sequences, steps: steps, inputs: width, outputs: width, kernel: kernel,
                       dilation: dilation, weight: weight.value, dWeight: weight.gradient!, dBias: bias.gradient!, dx: dx,
                       columns: columns)
    }
}

/// What a stream's successive reads share (`Network.forward(videoVectors:mfcc:reuse:)`):
/// each TCN convolution's last input and output. A window that moved by s steps
/// gives a convolution an input most of whose rows equal, bit for bit, the last
/// input's rows s later; an output row whose taps all read such rows (inside the
/// sequence in both) is the last output's row s later, exactly, because the
/// packed product (`PackedWeights`) computes every row on its own, the same way
/// in a product of any size: only the other rows are computed. Equality is
/// checked row by row (memcmp), never assumed, so a stale or unrelated cache only
/// costs the search. Used for one unpadded sequence with packed weights (with
/// OpenBLAS a row's floats depend on the product's shape); not thread-safe: one
/// per stream.
public final class TemporalReuse {
    final class Unit {
        var input: [Float] = [], output: [Float] = []
        var computed = 0, reused = 0

        /// This run's input and output for the next; in place when the size is unchanged
        /// (every read of a full window), so a read allocates nothing here.
        func keep(input x: UnsafePointer<Float>, output y: UnsafePointer<Float>, count n: Int) {
            if input.count == n && output.count == n {
                input.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: x, count: n) }
                output.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: y, count: n) }
            } else {
                input = Array(UnsafeBufferPointer(start: x, count: n))
                output = Array(UnsafeBufferPointer(start: y, count: n))
            }
        }

        /// The rows of an output to compute for input `x` (steps × width), as runs, and the
        /// shift s such that every other row i is the last output's row i + s.
        func plan(_ x: UnsafePointer<Float>, steps t: Int, width d: Int, taps: [Int]) -> ([Range<Int>], Int) {
            guard input.count == t * d, output.count == t * d, t > 0 else { return ([0..<t], 0) }
            return input.withUnsafeBufferPointer { oldBuffer in
                let old = oldBuffer.baseAddress!
                func same(_ i: Int, _ j: Int) -> Bool { memcmp(x + i * d, old + j * d, 4 * d) == 0 }
                // The shift: where the middle row was last time, searched outward from the middle
                // (a stream's window moves forward: s ≥ 0 first).
                let m = t / 2
                guard let found = (m..<t).first(where: { same(m, $0) }) ?? (0..<m).reversed().first(where: { same(m, $0) }) else {
                    return ([0..<t], 0)
                }
                let s = found - m
                let equal = (0..<t).map { i in i + s >= 0 && i + s < t && same(i, i + s) }
                var runs: [Range<Int>] = [], start: Int? = nil
                for i in 0..<t {
                    let keep = i + s >= 0 && i + s < t && taps.allSatisfy { let u = i + $0; return u >= 0 && u < t && equal[u] }
                    if !keep && start == nil { start = i }
                    if keep, let a = start { runs.append(a..<i); start = nil }
                }
                if let a = start { runs.append(a..<t) }
                return (runs, s)
            }
        }
    }
    private var units: [String: Unit] = [:]

    public init() {}

    func unit(_ name: String) -> Unit {
        if let u = units[name] { return u }
        let u = Unit()
        units[name] = u
        return u
    }

    /// Output rows computed and taken from the last read so far, over the convolutions
    /// of one branch ("audio", "video") or, by default, of both.
    public func rows(of branch: String? = nil) -> (computed: Int, reused: Int) {
        units.filter { branch == nil || $0.key.hasPrefix(branch! + ".") }.values.reduce((0, 0)) { ($0.0 + $1.computed, $0.1 + $1.reused) }
    }
}

/// SPEC §5 `TCNBlock(d, k, δ)`: a = ReLU(conv1(x)), b = ReLU(conv2(Drop(a))),
/// y = ReLU(x + Drop(b)); a, b and y are zero at or past each sequence's
/// length (the input x arrives masked), so a padded batch equals clip by clip.
struct TCNBlock {
    let conv1: Conv1d, conv2: Conv1d

    struct Cache {
        let input: UnsafePointer<Float>                // x (rows, d)
        let a: UnsafeMutablePointer<Float>             // ReLU(conv1 x), masked (rows, d)
        let aDropped: UnsafeMutablePointer<Float>      // conv2's input: a, or Drop(a) (rows, d)
        let dropA: UnsafeMutablePointer<Float>?
        let b: UnsafeMutablePointer<Float>             // ReLU(conv2 …), masked (rows, d)
        let dropB: UnsafeMutablePointer<Float>?
        let output: UnsafeMutablePointer<Float>        // y (rows, d)
    }

    /// x (sequences·length × d, masked, read) → y (a new arena buffer).
    func forward(_ x: UnsafePointer<Float>, sequences: Int, length: Int, valid: [Int]?, columns: UnsafeMutablePointer<Float>,
                 arena: Arena, tape: Tape?, reuse: TemporalReuse? = nil, name: String = "") -> (UnsafeMutablePointer<Float>, Cache?) {
        let reusing = tape == nil && valid == nil ? reuse : nil
        let d = conv1.width, n = sequences * length * d
        let y = arena.floats(n).baseAddress!                                     // (rows, d)
        let scratch = arena.mark                            // inference: a and b are scratch, rewound at the end
        defer { if tape == nil { arena.rewind(to: scratch) } }
        let a = arena.floats(n).baseAddress!                                     // (rows, d)
        conv1.forward(x, sequences: sequences, steps: length, columns: columns, into: a, reuse: reusing?.unit(name + ".conv1"))
        relu(a, n)
        maskRows(a, sequences: sequences, length: length, width: d, valid: valid)
        var aDropped = a, dropA: UnsafeMutablePointer<Float>? = nil
        if let tape, tape.dropout > 0 {
            aDropped = arena.floats(n).baseAddress!                              // (rows, d)
            aDropped.update(from: a, count: n)
            dropA = tape.drop(aDropped, n)
        }
        let b = arena.floats(n).baseAddress!                                     // (rows, d)
        conv2.forward(aDropped, sequences: sequences, steps: length, columns: columns, into: b, reuse: reusing?.unit(name + ".conv2"))
        relu(b, n)
        maskRows(b, sequences: sequences, length: length, width: d, valid: valid)
        var dropB: UnsafeMutablePointer<Float>? = nil, branch = UnsafePointer(b)  // Drop(b) in y when training, else b itself
        if let tape {
            y.update(from: b, count: n)
            dropB = tape.drop(y, n)
            branch = UnsafePointer(y)
        }
        for i in 0..<n { y[i] = max(branch[i] + x[i], 0) }                      // padded rows: 0 + 0
        guard tape != nil else { return (y, nil) }
        return (y, Cache(input: x, a: a, aDropped: aDropped, dropA: dropA, b: b, dropB: dropB, output: y))
    }

    /// dy (rows × d, read) → dx (rows × d, overwritten), accumulating the conv gradients.
    func backward(_ dy: UnsafePointer<Float>, cache c: Cache, sequences: Int, length: Int, columns: UnsafeMutablePointer<Float>,
                  arena: Arena, into dx: UnsafeMutablePointer<Float>) {
        let n = sequences * length * conv1.width
        let dSum = arena.floats(n).baseAddress!   // (rows, d) d(x + Drop(b))
        let dA = arena.zeros(n).baseAddress!      // (rows, d)
        for i in 0..<n { dSum[i] = c.output[i] > 0 ? dy[i] : 0 }
        dx.update(from: dSum, count: n)           // the residual path
        undrop(c.dropB, dSum, n)
        reluBackward(c.b, dSum, n)                // b = ReLU(conv2)·mask: zero where b = 0
        conv2.backward(dSum, input: c.aDropped, sequences: sequences, steps: length, columns: columns, dx: dA)
        undrop(c.dropA, dA, n)
        reluBackward(c.a, dA, n)
        conv1.backward(dA, input: c.input, sequences: sequences, steps: length, columns: columns, dx: dx)
    }
}

/// SPEC §5's temporal half of each branch (the reference's `temporal_tail`):
/// the TCN blocks, the temporal encoder with the key padding mask, and the
/// mean over each sequence's valid steps.
struct TemporalTail {
    let width: Int, kernel: Int
    let tcn: [TCNBlock]
    let encoder: Encoder

    init(_ p: Parameters, branch: String, width d: Int, tcn config: ERIConfig.TCN, temporal: ERIConfig.Encoder, maxLength: Int) {
        width = d
        kernel = config.kernel
        tcn = config.dilations.enumerated().map { k, dilation in
            let q = "\(branch).tcn.\(k)"
            return TCNBlock(conv1: Conv1d(p, q + ".conv1", kernel: config.kernel, dilation: dilation),
                            conv2: Conv1d(p, q + ".conv2", kernel: config.kernel, dilation: dilation))
        }
        encoder = Encoder(p, prefix: branch + ".temporal", width: d, config: temporal, maxLength: maxLength)
    }

    struct Cache { let tcn: [TCNBlock.Cache], encoder: Encoder.Cache }

    /// x (sequences·length × d, read) → u (sequences × d, a new arena buffer).
    /// `trace` records `name`.tcn, `name`.temporal and `name`.u.
    func forward(_ x: UnsafePointer<Float>, sequences: Int, length: Int, valid: [Int]?, arena: Arena, tape: Tape?,
                 trace: ForwardTrace?, name: String, reuse: TemporalReuse? = nil) -> (UnsafeMutablePointer<Float>, Cache?) {
        let d = width, rows = sequences * length
        var current = arena.floats(rows * d).baseAddress!        // (rows, d) the masked TCN input
        current.update(from: x, count: rows * d)
        maskRows(current, sequences: sequences, length: length, width: d, valid: valid)  // proj's bias makes padded rows non-zero
        let columns = arena.floats(rows * d * kernel).baseAddress!  // (rows, d·k) im2col scratch of every conv
        var caches: [TCNBlock.Cache] = []
        for (i, block) in tcn.enumerated() {
            let (y, cache) = block.forward(current, sequences: sequences, length: length, valid: valid, columns: columns,
                                           arena: arena, tape: tape, reuse: reuse, name: "\(name).tcn.\(i)")
            if let cache { caches.append(cache) }
            current = y
        }
        trace?.record("\(name).tcn", current, shape: [sequences, length, d])
        let (encoded, encoderCache) = encoder.forward(current, sequences: sequences, length: length, valid: valid, arena: arena, tape: tape)
        trace?.record("\(name).temporal", encoded, shape: [sequences, length, d])
        let u = arena.zeros(sequences * d).baseAddress!           // (sequences, d)
        for s in 0..<sequences {
            let steps = valid?[s] ?? length
            for t in 0..<steps { addInPlace(u + s * d, encoded + (s * length + t) * d, d) }
            for j in 0..<d { u[s * d + j] /= Float(steps) }
        }
        trace?.record("\(name).u", u, shape: [sequences, d])
        guard let encoderCache else { return (u, nil) }
        return (u, Cache(tcn: caches, encoder: encoderCache))
    }

    /// du (sequences × d) → dx (sequences·length × d, overwritten).
    func backward(_ du: UnsafePointer<Float>, cache: Cache, sequences: Int, length: Int, valid: [Int]?, arena: Arena,
                  into dx: UnsafeMutablePointer<Float>) {
        let d = width, rows = sequences * length
        let dEncoded = arena.zeros(rows * d).baseAddress!         // (rows, d)
        for s in 0..<sequences {
            let steps = valid?[s] ?? length
            for t in 0..<steps { for j in 0..<d { dEncoded[(s * length + t) * d + j] = du[s * d + j] / Float(steps) } }
        }
        var dy = arena.floats(rows * d).baseAddress!              // (rows, d)
        encoder.backward(dEncoded, cache: cache.encoder, sequences: sequences, length: length, arena: arena, into: dy)
        let columns = arena.floats(rows * d * kernel).baseAddress!  // (rows, d·k)
        for (block, c) in zip(tcn, cache.tcn).reversed() {
            maskRows(dy, sequences: sequences, length: length, width: d, valid: valid)
            let dIn = arena.floats(rows * d).baseAddress!         // (rows, d)
            block.backward(dy, cache: c, sequences: sequences, length: length, columns: columns, arena: arena, into: dIn)
            dy = dIn
        }
        maskRows(dy, sequences: sequences, length: length, width: d, valid: valid)  // the block input was masked
        dx.update(from: dy, count: rows * d)
    }
}
