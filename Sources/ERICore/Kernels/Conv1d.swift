/// Dilated 1-D convolution over time with "same" zero padding δ(k−1)/2 on both
/// sides (SPEC §5 TCNBlock), on `sequences` row-major sequences of `steps`
/// rows (rows × channels each); taps never reach across sequences.
///
/// It runs as im2col + one GEMM. Row (s, t) of the column matrix holds
/// x[s][t + (j − half)·δ][i] at column i·k + j — the order of PyTorch's
/// weight (d_out × d_in × k) — so the weight is used as stored, and its
/// gradient lands in its own layout: no rearranged copy of either exists.

/// Writes the column matrix of `x` ((sequences·steps) × (channels·kernel)),
/// zeros where a tap falls outside its sequence. Split over rows.
public func conv1dColumns(_ x: UnsafePointer<Float>, sequences: Int, steps t: Int, channels c: Int, kernel k: Int, dilation: Int,
                          into columns: UnsafeMutablePointer<Float>) {
    let width = c * k
    parallelRanges(sequences * t, grain: max(1, 16_384 / max(1, width))) { rows in
        conv1dColumnRows(x, steps: t, channels: c, kernel: k, dilation: dilation, rows: rows, into: columns)
    }
}

/// Rows `rows` (of all sequences' rows, sequence s's step r being row s·t + r) of
/// `conv1dColumns`' matrix, written at their own rows of `columns`.
public func conv1dColumnRows(_ x: UnsafePointer<Float>, steps t: Int, channels c: Int, kernel k: Int, dilation: Int,
                             rows: Range<Int>, into columns: UnsafeMutablePointer<Float>) {
    let half = (k - 1) / 2, width = c * k
    for row in rows {
        let s = row / t, r = row % t
        let out = columns + row * width
        // Tap j reads step r + (j − half)·δ of this sequence, or nothing past its ends.
        func source(_ j: Int) -> UnsafePointer<Float>? {
            let step = r + (j - half) * dilation
            return step >= 0 && step < t ? x + (s * t + step) * c : nil
        }
        if k == 3, let middle = source(1) {
            // The common kernel, written in order: three reads per output triple (a tap
            // past the sequence's ends writes zeros).
            if let before = source(0), let after = source(2) {
                for i in 0..<c { out[3 * i] = before[i]; out[3 * i + 1] = middle[i]; out[3 * i + 2] = after[i] }
            } else {
                let before = source(0), after = source(2)
                for i in 0..<c { out[3 * i] = before?[i] ?? 0; out[3 * i + 1] = middle[i]; out[3 * i + 2] = after?[i] ?? 0 }
            }
            continue
        }
        for j in 0..<k {
            if let from = source(j) {
                for i in 0..<c { out[i * k + j] = from[i] }
            } else {
                for i in 0..<c { out[i * k + j] = 0 }
            }
        }
    }
}

/// The adjoint of `conv1dColumns`: adds each column-matrix entry to the input
/// element it was read from. Split over sequences (their inputs are disjoint).
public func conv1dColumnsAdjoint(_ columns: UnsafePointer<Float>, sequences: Int, steps t: Int, channels c: Int, kernel k: Int,
                                 dilation: Int, into dx: UnsafeMutablePointer<Float>) {
    let half = (k - 1) / 2, width = c * k
    parallelRanges(sequences) { range in
        let sink = UnsafeMutablePointer<Float>.allocate(capacity: max(c, 1))   // this range's discarded terms
        sink.initialize(repeating: 0, count: max(c, 1))
        defer { sink.deallocate() }
        for s in range {
            for r in 0..<t {
                let row = columns + (s * t + r) * width
                if k == 3 && dilation >= 1 {
                    // The common kernel, read in order; each input row still gets its terms in
                    // the order of r (one a row), so the sums are those of the loop below. Terms
                    // for steps past the sequence's ends go to `sink`.
                    let middle = dx + (s * t + r) * c
                    let before = r - dilation >= 0 ? dx + (s * t + r - dilation) * c : sink
                    let after = r + dilation < t ? dx + (s * t + r + dilation) * c : sink
                    for i in 0..<c { before[i] += row[3 * i]; middle[i] += row[3 * i + 1]; after[i] += row[3 * i + 2] }
                    continue
                }
                for j in 0..<k {
                    let target = r + (j - half) * dilation
                    guard target >= 0 && target < t else { continue }
                    let to = dx + (s * t + target) * c
                    for i in 0..<c { to[i] += row[i * k + j] }
                }
            }
        }
    }
}

/// y = conv1d(x) + bias: (sequences·steps) × outputs. `weight` is PyTorch's
/// (outputs × inputs × kernel); `columns` is scratch of
/// sequences·steps·inputs·kernel floats.
public func conv1d(_ x: UnsafePointer<Float>, sequences: Int, steps: Int, inputs: Int, outputs: Int, kernel: Int, dilation: Int,
                   weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, packed: PackedWeights? = nil,
                   columns: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    conv1dColumns(x, sequences: sequences, steps: steps, channels: inputs, kernel: kernel, dilation: dilation, into: columns)
    linear(columns, rows: sequences * steps, inputs: inputs * kernel, weight: weight, bias: bias, outputs: outputs,
           packed: packed, into: y)
}

/// Gradient of `conv1d`: dW += dyᵀ·columns(x), db += Σ dy, and, when `dx` is
/// given, dx += the adjoint of dy·W. `x` is the forward's input; `columns`
/// is scratch of the forward's size.
public func conv1dBackward(_ dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, sequences: Int, steps: Int, inputs: Int,
                           outputs: Int, kernel: Int, dilation: Int, weight: UnsafePointer<Float>,
                           dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                           dx: UnsafeMutablePointer<Float>?, columns: UnsafeMutablePointer<Float>) {
    let rows = sequences * steps, width = inputs * kernel
    conv1dColumns(x, sequences: sequences, steps: steps, channels: inputs, kernel: kernel, dilation: dilation, into: columns)
    linearBackward(dy, columns, rows: rows, inputs: width, outputs: outputs, weight: weight, dx: nil, dWeight: dWeight, dBias: dBias)
    guard let dx else { return }
    gemm(m: rows, n: width, k: outputs, a: dy, lda: outputs, b: weight, ldb: width, c: columns, ldc: width)  // d columns
    conv1dColumnsAdjoint(columns, sequences: sequences, steps: steps, channels: inputs, kernel: kernel, dilation: dilation, into: dx)
}
