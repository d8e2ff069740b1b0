import ERICore

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
    func forward(_ x: UnsafePointer<Float>, sequences: Int, steps: Int, columns: UnsafeMutablePointer<Float>,
                 into y: UnsafeMutablePointer<Float>) {
        conv1d(x, sequences: sequences, steps: steps, inputs: width, outputs: width, kernel: kernel, dilation: dilation,
               weight: weight.value, bias: bias.value, packed: packed, columns: columns, into: y)
    }

    /// Accumulates dW and db, and dx when given; `x` is the forward's input.
    func backward(_ dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, sequences: Int, steps: Int,
                  columns: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?) {
        conv1dBackward(dy, input: x, sequences: sequences, steps: steps, inputs: width, outputs: width, kernel: kernel,
                       dilation: dilation, weight: weight.value, dWeight: weight.gradient!, dBias: bias.gradient!, dx: dx,
                       columns: columns)
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
                 arena: Arena, tape: Tape?) -> (UnsafeMutablePointer<Float>, Cache?) {
        let d = conv1.width, n = sequences * length * d
        let y = arena.floats(n).baseAddress!                                     // (rows, d)
        let scratch = arena.mark                            // inference: a and b are scratch, rewound at the end
        defer { if tape == nil { arena.rewind(to: scratch) } }
        let a = arena.floats(n).baseAddress!                                     // (rows, d)
        conv1.forward(x, sequences: sequences, steps: length, columns: columns, into: a)
        relu(a, n)
        maskRows(a, sequences: sequences, length: length, width: d, valid: valid)
        var aDropped = a, dropA: UnsafeMutablePointer<Float>? = nil
        if let tape, tape.dropout > 0 {
            aDropped = arena.floats(n).baseAddress!                              // (rows, d)
            aDropped.update(from: a, count: n)
            dropA = tape.drop(aDropped, n)
        }
        let b = arena.floats(n).baseAddress!                                     // (rows, d)
        conv2.forward(aDropped, sequences: sequences, steps: length, columns: columns, into: b)
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
                 trace: ForwardTrace?, name: String) -> (UnsafeMutablePointer<Float>, Cache?) {
        let d = width, rows = sequences * length
        var current = arena.floats(rows * d).baseAddress!        // (rows, d) the masked TCN input
        current.update(from: x, count: rows * d)
        maskRows(current, sequences: sequences, length: length, width: d, valid: valid)  // proj's bias makes padded rows non-zero
        let columns = arena.floats(rows * d * kernel).baseAddress!  // (rows, d·k) im2col scratch of every conv
        var caches: [TCNBlock.Cache] = []
        for block in tcn {
            let (y, cache) = block.forward(current, sequences: sequences, length: length, valid: valid, columns: columns,
                                           arena: arena, tape: tape)
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
