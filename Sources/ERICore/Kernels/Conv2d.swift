import CERISupport

// SPEC §5 `Conv2d` on CNHW batches: the shape, im2col and its adjoint col2im,
// the inference convolution, the training convolution and its gradient.
//
// The kernels here that run outside OpenBLAS (im2col, col2im, the epilogue)
// split their work with `parallelRanges` over units whose outputs are
// disjoint, and compute every output element the same way whatever the
// split, so their results do not depend on the thread count (OpenBLAS's own
// GEMMs may).

/// 2-D convolution for a batch of images stored channel-major, "CNHW":
/// x[c][n][y][x]. With that layout a whole batch is one GEMM per layer,
/// W (C_out × C_in·k·k) · columns (C_in·k·k × N·H_out·W_out), and the product
/// is already the next layer's CNHW input: no transposes between layers.
public struct Conv2dShape: Equatable, Sendable {
    /// Input and output channels, the side of the square kernel, its step, and the zeros added on each side.
    public var inputs: Int, outputs: Int, kernel: Int, stride: Int, padding: Int
    public init(inputs: Int, outputs: Int, kernel: Int, stride: Int, padding: Int) {
        self.inputs = inputs; self.outputs = outputs; self.kernel = kernel; self.stride = stride; self.padding = padding
    }
    /// Side of the output map for an input map of side `input`.
    public func outputSide(_ input: Int) -> Int {
        Self.outputSide(input, kernel: kernel, stride: stride, padding: padding)
    }
    /// Side of the output of a `kernel`-wide window sliding by `stride` over
    /// `input` values padded by `padding` on each side, PyTorch's floor rule:
    /// the one formula for every convolution and pooling map of SPEC §5.
    public static func outputSide(_ input: Int, kernel: Int, stride: Int, padding: Int) -> Int {
        (input + 2 * padding - kernel) / stride + 1
    }
    /// Rows of the im2col matrix, one per (input channel, ky, kx): C_in·k·k.
    public var patch: Int { inputs * kernel * kernel }
    /// A 1×1, stride-1, unpadded convolution: its CNHW input already is its
    /// im2col matrix, so it needs no im2col, col2im or column scratch.
    public var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }
}

/// Writes the im2col matrix of CNHW `x` (images × h × w per channel):
/// row (c, ky, kx), column (n, oy, ox), zeros where the tap lands on padding.
/// Runs on `computeThreads()` threads, split over (channel, image) planes:
/// each plane fills its own k² column blocks, so ranges never overlap.
public func im2col(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                   into columns: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let grain = max(1, 16_384 / max(1, s.kernel * s.kernel * oh * ow))   // planes are small: a few a thread
    if s.stride == 1 && oh == h && ow == w {
        parallelRanges(s.inputs * images, grain: grain) { planes in
            for p in planes {
                im2colPlane(x, shape: s, images: images, height: h, width: w, channel: p / images, image: p % images,
                            into: columns)
            }
        }
        return
    }
    // Every other shape (the strided ones, the face detector's unpadded ones) by a table of
    // each tap's outputs' offsets in the zero-padded plane (liberi_im2col_planes_table),
    // built once a call: rows of 2 to 32 outputs cost more in per-row set-up than in copying.
    let k = s.kernel, plane = oh * ow
    gatherPlanes(s, images: images, height: h, width: w, grain: grain) { planes, table, padded in
        liberi_im2col_planes_table(x, Int32(planes.lowerBound), Int32(planes.upperBound), Int32(images), Int32(h), Int32(w),
                                   Int32(s.padding), table, Int32(k * k), Int32(plane), padded, columns, images * plane)
    }
}

/// Runs `gather` over the (channel, image) planes of a table-driven im2col (`im2colTable`)
/// on the compute threads, each range of planes with its own plane buffer zero-padded by
/// `s.padding` (the gather copies each plane into its middle; the borders stay zero).
private func gatherPlanes(_ s: Conv2dShape, images: Int, height h: Int, width w: Int, grain: Int,
                          _ gather: (Range<Int>, UnsafePointer<Int32>, UnsafeMutablePointer<Float>) -> Void) {
    let pad = s.padding, pw = w + 2 * pad
    im2colTable(s, height: h, width: w).withUnsafeBufferPointer { t in
        parallelRanges(s.inputs * images, grain: grain) { planes in
            let padded = UnsafeMutablePointer<Float>.allocate(capacity: (h + 2 * pad) * pw)
            defer { padded.deallocate() }
            padded.initialize(repeating: 0, count: (h + 2 * pad) * pw)
            gather(planes, t.baseAddress!, padded)
        }
    }
}

/// For tap t (= ky·k + kx) and output j (= oy·W_out + ox), at t·plane + j: the offset of
/// its input in the plane zero-padded by `s.padding` on every side (rows of w + 2·padding).
func im2colTable(_ s: Conv2dShape, height h: Int, width w: Int) -> [Int32] {
    let k = s.kernel, pw = w + 2 * s.padding, oh = s.outputSide(h), ow = s.outputSide(w)
    var table = [Int32](repeating: 0, count: k * k * oh * ow)
    for ky in 0..<k { for kx in 0..<k { for oy in 0..<oh { for ox in 0..<ow {
        table[((ky * k + kx) * oh + oy) * ow + ox] = Int32((oy * s.stride + ky) * pw + ox * s.stride + kx)
    } } } }
    return table
}

/// The matrix a convolution of shape `s` multiplies by: x itself when the
/// shape is pointwise, else im2col(x), written to `columns`.
@inline(__always)
func im2colMatrix(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                  columns: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
    guard !s.isPointwise else { return x }
    im2col(x, shape: s, images: images, height: h, width: w, into: columns)
    return UnsafePointer(columns)
}

/// The k² column blocks of input plane (channel c, image n) of a stride-1 "same" convolution.
private func im2colPlane(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                         channel c: Int, image n: Int, into columns: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let plane = oh * ow
    let rowLength = images * plane
    let src = x + (c * images + n) * h * w
    let first = columns + c * s.kernel * s.kernel * rowLength + n * plane  // tap (0, 0)'s block
    // "Same" stride-1 convolutions (every 3×3 after the first of a stage):
    // each tap's plane is the input plane shifted, so it is one block copy
    // plus zeroed borders, instead of one short copy per output row (perf
    // showed the per-row memcpy calls dominating).
    for ky in 0..<s.kernel {
        for kx in 0..<s.kernel {
            let dst = first + (ky * s.kernel + kx) * rowLength
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
        }
    }
}

/// The output positions o in 0..<count whose input index o·stride − padding + tap lies in 0..<size.
@inline(__always) func validOutputs(count: Int, size: Int, stride: Int, padding: Int, tap: Int) -> Range<Int> {
    let lo = min(count, max(0, (padding - tap + stride - 1) / stride))
    let last = size - 1 + padding - tap  // the largest o·stride allowed
    let hi = last < 0 ? lo : max(lo, min(count, last / stride + 1))
    return lo..<hi
}

/// Scatters an im2col-shaped gradient back onto the CNHW input (the adjoint of `im2col`), accumulating.
/// Each input element receives its taps in (ky, kx) order, in parallel over (channel, image) planes.
public func col2im(_ columns: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                   into dx: UnsafeMutablePointer<Float>) {
    col2im(UnsafeMutablePointer(mutating: columns), shape: s, images: images, first: 0, count: images, height: h, width: w,
           into: dx, clobber: false)
}

/// `col2im` of the columns of images first..<first+count only: `columns`
/// holds just their im2col columns (rows of count·H_out·W_out), `dx` all `images`.
/// With `clobber`, a "same" stride-1 convolution's columns whose taps land on
/// padding are zeroed in `columns`, so that each tap's rows scatter as one
/// contiguous shifted add (those zeros land on neighbouring row ends).
func col2im(_ columns: UnsafeMutablePointer<Float>, shape s: Conv2dShape, images: Int, first: Int, count: Int, height h: Int, width w: Int,
            into dx: UnsafeMutablePointer<Float>, clobber: Bool) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let plane = oh * ow, rowLength = count * plane
    let k = s.kernel, stride = s.stride
    let samePlane = clobber && stride == 1 && oh == h && ow == w
    // Per tap, the outputs whose input is inside the image (once, not per plane: integer divisions).
    let rowsOfTap = (0..<k).map { validOutputs(count: oh, size: h, stride: stride, padding: s.padding, tap: $0) }
    let columnsOfTap = (0..<k).map { validOutputs(count: ow, size: w, stride: stride, padding: s.padding, tap: $0) }
    parallelRanges(s.inputs * count, grain: 2) { units in
        for unit in units {
            let c = unit / count, n = unit % count
            let dst = dx + (c * images + first + n) * h * w
            for ky in 0..<k {
                let oys = rowsOfTap[ky]
                for kx in 0..<k {
                    let oxs = columnsOfTap[kx]
                    guard !oxs.isEmpty, !oys.isEmpty else { continue }
                    let src = columns + ((c * k + ky) * k + kx) * rowLength + n * plane
                    if samePlane {
                        for oy in oys {
                            let row = src + oy * ow
                            for ox in 0..<oxs.lowerBound { row[ox] = 0 }
                            for ox in oxs.upperBound..<ow { row[ox] = 0 }
                        }
                        // Input index of output j (= oy·w + ox) is j + offset.
                        let offset = (ky - s.padding) * w + kx - s.padding
                        let lo = max(oys.lowerBound * ow, -offset), hi = min(oys.upperBound * ow, h * w - offset)
                        if lo < hi {
                            let d = dst + offset
                            for j in lo..<hi { d[j] += src[j] }
                        }
                        continue
                    }
                    for oy in oys {
                        let line = dst + (oy * stride - s.padding + ky) * w - s.padding + kx
                        let from = src + oy * ow
                        if stride == 1 {
                            for ox in oxs { line[ox] += from[ox] }
                        } else {
                            var at = line + oxs.lowerBound &* stride
                            for ox in oxs { at.pointee += from[ox]; at += stride }
                        }
                    }
                }
            }
        }
    }
}

/// The inference convolution of SPEC §5's backbone with its BatchNorm folded
/// in (`foldBatchNorm`): y = (relu?)(W · im2col(x) + bias (+ residual)), the
/// bias, shortcut and ReLU added by `convEpilogue` in one pass over y.
/// x is CNHW (C_in, images, h, w); weight (C_out, C_in·k·k); bias (C_out);
/// residual and y (C_out, images, H_out, W_out). `columns` is scratch of
/// `patch × images·H_out·W_out` floats (unused by pointwise layers, which
/// multiply x as it is). Stride-1 3×3 layers may take `Winograd` instead,
/// and the stem `stemConv`.
public func conv2d(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                   weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>? = nil,
                   relu: Bool, columns: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    // W · im2col(x) is the bias-free training convolution's product.
    conv2dTraining(x, shape: s, images: images, height: h, width: w, weight: weight, columns: columns, into: y)
    let n = images * s.outputSide(h) * s.outputSide(w)
    // The epilogue in place, split over output channels (each row is independent).
    parallelRanges(s.outputs, grain: max(1, 8_192 / max(1, n))) { channels in
        for o in channels {
            let row = y + o * n
            convEpilogue(row, into: row, count: n, bias: bias[o], residual: residual.map { $0 + o * n }, relu: relu)
        }
    }
}

/// Whether a layer of shape `s` can run `stemConv` (CERISupport's stem_conv.c)
/// instead of `conv2d`'s im2col + GEMM: the stem's 3×3, stride-2, padding-1
/// convolution from at most 4 channels, where the AVX2 + FMA kernels run.
/// With K = 27 the GEMM's cost was mostly moving the im2col matrix and C.
/// Decided when a model is loaded (the backbone's layers keep the answer):
/// the flag below is a lazily initialised global, and the Swift runtime's
/// once-guard is invisible to ThreadSanitizer, so worker threads never read it.
public func stemConvApplies(_ s: Conv2dShape) -> Bool {
    stemConvKernel && s.kernel == 3 && s.stride == 2 && s.padding == 1 && s.inputs <= 4
}
let stemConvKernel = liberi_avx2_fma() != 0

/// The stem convolution, bias and ReLU in one pass (stem_conv.c), split over
/// (image, output row) units; `simd` false runs the kernel's scalar twin (for
/// the tests: the backbone uses the kernel only where `stemConvApplies`).
/// Each output is computed the same way whatever the split.
public func stemConv(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                     weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, relu: Bool, simd: Bool,
                     into y: UnsafeMutablePointer<Float>) {
    precondition(s.kernel == 3 && s.stride == 2 && s.padding == 1 && s.inputs <= 4)
    let oh = s.outputSide(h)
    let scratchCount = liberi_stem_conv_scratch_floats(Int32(s.inputs), Int32(w))
    parallelRanges(images * oh, grain: max(1, 4_096 / max(1, s.outputs * s.outputSide(w)))) { units in
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
        defer { scratch.deallocate() }
        liberi_stem_conv(x, Int32(s.inputs), Int32(images), Int32(h), Int32(w), weight, bias, Int32(s.outputs), relu ? 1 : 0,
                         Int32(units.lowerBound), Int32(units.upperBound), scratch, y, simd ? 1 : 0)
    }
}

/// Whether a layer of shape `s` runs `packedConv` (CERISupport's packed_conv.c) instead of
/// `conv2d`: any non-pointwise shape, where the AVX2 + FMA kernels run. The backbone gives it
/// the layers Winograd and the stem kernel do not take: the strided 3×3 ones and the 1×1
/// stride-2 shortcuts. Decided when a model is loaded, as `stemConvApplies`.
public func packedConvApplies(_ s: Conv2dShape) -> Bool { packedConvKernel && !s.isPointwise }
let packedConvKernel = liberi_avx2_fma() != 0

/// A convolution's weight (C_out × C_in·k·k) in `packedConv`'s layout: blocks of six
/// output channels, done once when a model is loaded.
public func packConvWeights(_ weight: [Float], shape s: Conv2dShape) -> [Float] {
    var packed = [Float](repeating: 0, count: liberi_conv_packed_weights_size(Int32(s.outputs), Int32(s.patch)))
    liberi_conv_pack_weights(weight, Int32(s.outputs), Int32(s.patch), &packed)
    return packed
}

/// Scratch floats `packedConv` needs for `images` images of side `side`.
public func packedConvScratch(_ s: Conv2dShape, images: Int, side: Int) -> Int {
    liberi_conv_panels_size(Int32(images * s.outputSide(side) * s.outputSide(side)), Int32(s.patch))
}

/// `conv2d` with the weight packed by `packConvWeights`: im2col written straight into
/// 16-column panels (`panels`: `packedConvScratch` floats), then 6 × 16 tiles of
/// W · im2col(x) with the bias, shortcut and ReLU added as they are stored (packed_conv.c:
/// neither operand is copied again, C is not zeroed first nor passed over twice). Split
/// over the larger of the output-channel blocks and the column panels; every output is
/// summed the same way in any split, so the result does not depend on the thread count.
/// `simd` false runs the kernel's scalar twin (the same floats; for the tests).
public func packedConv(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                       packed: UnsafePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>? = nil,
                       relu: Bool, simd: Bool, panels: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    precondition(!s.isPointwise)
    let oh = s.outputSide(h), ow = s.outputSide(w), plane = oh * ow, n = images * plane, k = s.patch
    let taps = s.kernel * s.kernel
    // The last panel's columns past n are multiplied and never stored; zeros keep whatever the
    // scratch held (NaN, denormals) out of the multiply-adds.
    if n % 16 != 0 {
        let last = panels + (n / 16) * k * 16
        for p in 0..<k { (last + p * 16 + n % 16).update(repeating: 0, count: 16 - n % 16) }
    }
    gatherPlanes(s, images: images, height: h, width: w, grain: max(1, 16_384 / max(1, taps * plane))) { planes, table, padded in
        liberi_im2col_panels(x, Int32(planes.lowerBound), Int32(planes.upperBound), Int32(images), Int32(h), Int32(w),
                             Int32(s.padding), table, Int32(taps), Int32(plane), padded, panels, Int32(k))
    }
    let blocks = (s.outputs + 5) / 6, panelCount = (n + 15) / 16
    let threads = s.outputs * n * k >= splitMACs ? computeThreads() : 1
    func product(blocks b: Range<Int>, panels j: Range<Int>) {
        liberi_conv_packed(Int32(s.outputs), Int32(n), Int32(k), packed, panels, bias, residual, relu ? 1 : 0, y,
                           Int32(b.lowerBound), Int32(b.upperBound), Int32(j.lowerBound), Int32(j.upperBound), simd ? 1 : 0)
    }
    if threads <= 1 {
        product(blocks: 0..<blocks, panels: 0..<panelCount)
    } else if panelCount >= blocks {
        parallelRanges(panelCount, grain: max(1, (panelCount + threads - 1) / threads)) { product(blocks: 0..<blocks, panels: $0) }
    } else {
        parallelRanges(blocks, grain: max(1, (blocks + threads - 1) / threads)) { product(blocks: $0, panels: 0..<panelCount) }
    }
}

/// destination[i] = (relu?)(source[i] + bias (+ residual[i])) for one row of
/// `count` outputs of one channel: the folded BatchNorm's bias, the
/// shortcut and the ReLU of SPEC §5's BasicBlock in one pass over the
/// output, for every convolution path (`conv2d`, and both Winograd
/// algorithms' output transform). `source` may be `destination`.
/// Always inlined, so that each caller's loops compile as if written out at
/// the call: vectorised, with `residual` and `relu` tested once per row
/// rather than per element.
@inline(__always)
func convEpilogue(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count n: Int,
                  bias beta: Float, residual: UnsafePointer<Float>?, relu: Bool) {
    if let residual {
        if relu { for i in 0..<n { destination[i] = max(source[i] + beta + residual[i], 0) } }
        else { for i in 0..<n { destination[i] = source[i] + beta + residual[i] } }
    } else {
        if relu { for i in 0..<n { destination[i] = max(source[i] + beta, 0) } }
        else { for i in 0..<n { destination[i] = source[i] + beta } }
    }
}

/// The training convolution (SPEC §5: no bias in the backbone; a
/// `batchNormTraining` follows): y = W · im2col(x), shapes as `conv2d`.
/// The im2col matrix is written to `columns` (patch × images·H_out·W_out
/// floats), which the caller may keep for `conv2dBackward`; a pointwise
/// layer reads x directly and leaves `columns` alone.
public func conv2dTraining(_ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                           weight: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    let n = images * s.outputSide(h) * s.outputSide(w)
    let b = im2colMatrix(x, shape: s, images: images, height: h, width: w, columns: columns)
    gemm(m: s.outputs, n: n, k: s.patch, a: weight, lda: s.patch, b: b, ldb: n, c: y, ldc: n)
}

/// Floats of Wᵀ·dY that conv2dBackward computes and scatters at a time, so
/// that col2im reads them from the last-level cache rather than memory, in
/// chunks big enough that waking the other threads for each one pays off.
let col2imChunkFloats = 1 << 21

/// Gradient of `conv2dTraining`: dW += dY·colᵀ and (when `dx` is given)
/// dx += col2im(Wᵀ·dY) (for a stride-1 "same" layer, the convolution of dY
/// with the flipped weights instead), both accumulating, so that a layer's gradients can
/// sum over several uses. dy is (C_out, images, H_out, W_out), dWeight
/// (C_out, C_in·k·k), dx (C_in, images, h, w). `columns` is scratch of the
/// forward's im2col size. `inputColumns`, when given, is im2col(x) kept from
/// the forward pass: it is then not recomputed, and `columns` only holds Wᵀ·dY.
/// `weightScratch` (at least C_out·C_in·k·k floats) holds the flipped weights of the
/// stride-1 path (a training step passes one buffer, the largest layer's, for all layers).
public func conv2dBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, shape s: Conv2dShape, images: Int, height h: Int, width w: Int,
                           weight: UnsafePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                           columns: UnsafeMutablePointer<Float>, inputColumns: UnsafePointer<Float>? = nil,
                           weightScratch: UnsafeMutablePointer<Float>) {
    let oh = s.outputSide(h), ow = s.outputSide(w)
    let n = images * oh * ow
    let cols = s.isPointwise ? x : inputColumns ?? im2colMatrix(x, shape: s, images: images, height: h, width: w, columns: columns)
    gemm(transposeB: true, m: s.outputs, n: s.patch, k: n, a: dy, lda: n, b: cols, ldb: n, beta: 1, c: dWeight, ldc: s.patch)
    guard let dx else { return }
    if s.isPointwise {
        gemm(transposeA: true, m: s.patch, n: n, k: s.outputs, a: weight, lda: s.patch, b: dy, ldb: n, beta: 1, c: dx, ldc: n)
    } else if s.stride == 1 && 2 * s.padding == s.kernel - 1 && s.outputs <= s.inputs {
        // A stride-1 "same" convolution's input gradient is the convolution of dY with the
        // weights flipped and transposed: dx[c] += Σ_o,ky,kx W[o, c, k−1−ky, k−1−kx] · dY[o] shifted.
        // As im2col(dY) (C_out·k² × n, within `columns` since C_out ≤ C_in) and one GEMM of depth
        // C_out·k² accumulating into dx: no Wᵀ·dY of depth C_out zeroed by OpenBLAS and written
        // (9.4 M floats a layer of dbn-small at batch 8), no col2im; 13 % of a two-thread step was
        // OpenBLAS's zeroing pass.
        let k2 = s.kernel * s.kernel
        let flipped = weightScratch   // (C_in, C_out·k²)
        for c in 0..<s.inputs {
            for o in 0..<s.outputs {
                for t in 0..<k2 { flipped[(c * s.outputs + o) * k2 + t] = weight[(o * s.inputs + c) * k2 + (k2 - 1 - t)] }
            }
        }
        let transposed = Conv2dShape(inputs: s.outputs, outputs: s.inputs, kernel: s.kernel, stride: 1, padding: s.padding)
        let b = im2colMatrix(dy, shape: transposed, images: images, height: oh, width: ow, columns: columns)
        gemm(m: s.inputs, n: n, k: transposed.patch, a: flipped, lda: transposed.patch, b: b, ldb: n, beta: 1, c: dx, ldc: n)
    } else {
        // Wᵀ·dY a few images at a time (each image's columns are the same
        // dot products whatever the chunk), each chunk scattered while cached.
        let perImage = oh * ow
        let chunk = max(1, min(images, col2imChunkFloats / max(1, s.patch * perImage)))
        var first = 0
        while first < images {
            let count = min(chunk, images - first)
            gemm(transposeA: true, m: s.patch, n: count * perImage, k: s.outputs, a: weight, lda: s.patch, b: dy + first * perImage, ldb: n,
                 c: columns, ldc: count * perImage)
            col2im(columns, shape: s, images: images, first: first, count: count, height: h, width: w, into: dx, clobber: true)
            first += count
        }
    }
}
