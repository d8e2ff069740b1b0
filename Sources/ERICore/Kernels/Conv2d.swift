/// 2-D convolution for a batch of images stored channel-major, "CNHW":
/// x[c][n][y][x]. With that layout a whole batch is one GEMM per layer,
/// W (C_out × C_in·k·k) · columns (C_in·k·k × N·H_out·W_out), and the product
/// is already the next layer's CNHW input: no transposes between layers.
public struct Conv2dShape: Equatable, Sendable {
    public var inputs: Int, outputs: Int, kernel: Int, stride: Int, padding: Int
    public init(inputs: Int, outputs: Int, kernel: Int, stride: Int, padding: Int) {
        self.inputs = inputs; self.outputs = outputs; self.kernel = kernel; self.stride = stride; self.padding = padding
    }
    public func outputSide(_ input: Int) -> Int { (input + 2 * padding - kernel) / stride + 1 }
    /// Rows of the im2col matrix.
    public var patch: Int { inputs * kernel * kernel }
}

/// Writes the im2col matrix of CNHW `x` (images × h × w per channel):
/// row (c, ky, kx), column (n, oy, ox), zeros where the tap lands on padding.
/// Runs on `computeThreads()` threads, split over (channel, image) planes:
/// each plane fills its own k² column blocks, so ranges never overlap.
public func im2col(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                   into columns: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    // Planes are small (a few KB), so hand each thread at least a few of them.
    parallelRanges(s.inputs * images, grain: max(1, 16_384 / max(1, s.kernel * s.kernel * oh * ow))) { planes in
        for p in planes {
            im2colPlane(x, shape: s, images: images, height: h, width: w, channel: p / images, image: p % images,
                        into: columns)
        }
    }
}

/// The k² column blocks of input plane (channel c, image n).
private func im2colPlane(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                         channel c: Int, image n: Int, into columns: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let plane = oh * ow
    let rowLength = images * plane
    let src = x + (c * images + n) * h * w
    // "Same" stride-1 convolutions (every 3×3 after the first of a stage):
    // each tap's plane is the input plane shifted, so it is one block copy
    // plus zeroed borders, instead of one short copy per output row (perf
    // showed the per-row memcpy calls dominating).
    let samePlane = s.stride == 1 && oh == h && ow == w
    for ky in 0..<s.kernel {
        for kx in 0..<s.kernel {
            let dst = columns + ((c * s.kernel + ky) * s.kernel + kx) * rowLength + n * plane
            if samePlane {
                let shift = kx - s.padding
                let oyLo = max(0, s.padding - ky), oyHi = max(oyLo, min(oh, h + s.padding - ky))
                if oyLo > 0 { dst.update(repeating: 0, count: oyLo * ow) }
                if oyHi < oh { (dst + oyHi * ow).update(repeating: 0, count: (oh - oyHi) * ow) }
                let count = (oyHi - oyLo) * ow
                guard count > 0 else { continue }
                let base = src + (oyLo - s.padding + ky) * w, d = dst + oyLo * ow
                if shift >= 0 {
                    d.update(from: base + shift, count: max(0, count - shift))
                    for r in 0..<(oyHi - oyLo) { for ox in max(0, ow - shift)..<ow { d[r * ow + ox] = 0 } }
                } else {
                    (d - shift).update(from: base, count: max(0, count + shift))
                    for r in 0..<(oyHi - oyLo) { for ox in 0..<min(ow, -shift) { d[r * ow + ox] = 0 } }
                }
                continue
            }
            // Output columns whose input x lands inside the image: ox in [oxLo, oxHi).
            let oxLo = min(ow, max(0, (s.padding - kx + s.stride - 1) / s.stride))
            let oxHi = max(oxLo, min(ow, max(0, (w - 1 + s.padding - kx) / s.stride + 1)))
            for oy in 0..<oh {
                let row = dst + oy * ow
                let iy = oy * s.stride - s.padding + ky
                if iy < 0 || iy >= h || oxLo >= oxHi {
                    row.update(repeating: 0, count: ow)
                    continue
                }
                if oxLo > 0 { row.update(repeating: 0, count: oxLo) }
                if oxHi < ow { (row + oxHi).update(repeating: 0, count: ow - oxHi) }
                let line = src + iy * w - s.padding + kx
                if s.stride == 1 {
                    (row + oxLo).update(from: line + oxLo, count: oxHi - oxLo)
                } else if s.stride == 2 {
                    // A constant stride (every downsampling layer) vectorises as shuffles.
                    for ox in oxLo..<oxHi { row[ox] = line[2 * ox] }
                } else {
                    for ox in oxLo..<oxHi { row[ox] = line[ox * s.stride] }
                }
            }
        }
    }
}

/// Convolution + per-channel bias (a folded BatchNorm), optionally adding a
/// residual and applying ReLU in the same pass over the output.
/// `columns` is scratch of `patch × images·H_out·W_out` floats (unused by 1×1 stride-1 layers).
public func conv2d(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                   weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>? = nil,
                   relu: Bool, columns: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let n = images * oh * ow
    let b: UnsafePointer<Float>
    if s.kernel == 1 && s.stride == 1 && s.padding == 0 {
        b = x  // a 1×1 convolution reads the CNHW input as it is
    } else {
        im2col(x, shape: s, images: images, height: h, width: w, into: columns)
        b = UnsafePointer(columns)
    }
    gemm(m: s.outputs, n: n, k: s.patch, a: weight, lda: s.patch, b: b, ldb: n, c: y, ldc: n)
    convEpilogue(y, rows: s.outputs, length: n, bias: bias, residual: residual, relu: relu)
}

/// y[o][i] = (relu?)(y[o][i] + bias[o] (+ residual[o][i])) over `rows` rows of
/// `length`: the folded BatchNorm, shortcut and activation in one pass,
/// split over rows on `computeThreads()` threads (each row is independent).
public func convEpilogue(_ y: UnsafeMutablePointer<Float>, rows: Int, length n: Int, bias: UnsafePointer<Float>,
                         residual: UnsafePointer<Float>?, relu: Bool) {
    parallelRanges(rows, grain: max(1, 8_192 / max(1, n))) { range in
        for o in range {
            let row = y + o * n
            let beta = bias[o]
            if let residual {
                let r = residual + o * n
                if relu { for i in 0..<n { row[i] = max(row[i] + beta + r[i], 0) } }
                else { for i in 0..<n { row[i] += beta + r[i] } }
            } else {
                if relu { for i in 0..<n { row[i] = max(row[i] + beta, 0) } }
                else { for i in 0..<n { row[i] += beta } }
            }
        }
    }
}

/// MaxPool2d(3, stride 2, padding 1) with −∞ padding (SPEC §5), CNHW in and out.
/// Separable: first the max of each horizontal window of 3 (stride 2) per
/// input row, then of 3 such rows; the window clipped at the borders.
public func maxPool3x3s2(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int, into y: UnsafeMutablePointer<Float>) {
    let oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1
    // Planes are independent: split them over threads, each with its own row scratch.
    parallelRanges(planes, grain: max(1, 16_384 / max(1, h * w))) { range in
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: h * ow)  // horizontal maxima, h × ow
        defer { rows.deallocate() }
        for p in range {
            let src = x + p * h * w, dst = y + p * oh * ow
            for iy in 0..<h {
                let line = src + iy * w, out = rows + iy * ow
                // ox = 0 covers columns −1 (padding), 0, 1.
                out[0] = w > 1 ? max(line[0], line[1]) : line[0]
                var ox = 1
                while ox < ow {
                    let c = 2 * ox
                    let m = max(line[c - 1], line[c])
                    out[ox] = c + 1 < w ? max(m, line[c + 1]) : m
                    ox += 1
                }
            }
            for oy in 0..<oh {
                let c = 2 * oy
                let a = rows + max(c - 1, 0) * ow, b = rows + c * ow
                let out = dst + oy * ow
                if c + 1 < h {
                    let d = rows + (c + 1) * ow
                    for ox in 0..<ow { out[ox] = max(max(a[ox], b[ox]), d[ox]) }
                } else {
                    for ox in 0..<ow { out[ox] = max(a[ox], b[ox]) }
                }
            }
        }
    }
}

/// Folds an inference-mode BatchNorm into the preceding bias-free convolution:
/// w' = w·γ/√(var+ε), b' = β − mean·γ/√(var+ε).
public func foldBatchNorm(weight: [Float], outputs: Int, gamma: [Float], beta: [Float], mean: [Float], variance: [Float],
                          eps: Float = 1e-5) -> (weight: [Float], bias: [Float]) {
    let per = weight.count / outputs
    var w = weight
    var b = [Float](repeating: 0, count: outputs)
    for o in 0..<outputs {
        let scale = gamma[o] / (variance[o] + eps).squareRoot()
        for i in 0..<per { w[o * per + i] *= scale }
        b[o] = beta[o] - mean[o] * scale
    }
    return (w, b)
}

