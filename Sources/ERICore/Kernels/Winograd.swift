import CERISupport
/// Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray 2015) for the
/// stride-1, padding-1 3×3 convolutions of the backbone (SPEC §5: all but the
/// first convolution of each stage, about 80 % of its multiply-adds). Each
/// m×m output tile comes from an α×α input tile d, α = m + 2, as
///
///     Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A
///
/// so the 9·m² multiply-adds per tile, input channel and output channel of
/// the direct convolution become α², done as α² GEMMs, one per position ξ of
/// the transformed tile: M_ξ (C_out × tiles) = U_ξ (C_out × C_in) · V_ξ (C_in × tiles).
/// The GEMMs carry the work; the transforms around them are linear passes.
///
/// This enum is the driver every F(m×m) shares: the weight transform from G,
/// tile counts, scratch accounting and the forward pass (input transform →
/// α² GEMMs → output transform with the convolution epilogue). The
/// tile-specific transforms Bᵀ d B and Aᵀ M A, hand-specialised loops, are in
/// WinogradTransforms.swift.
///
/// Layouts: x and y CNHW (as `conv2d`); U [ξ][o][c] with ξ = α·i + j;
/// V [ξ][c][t] and M [ξ][o][t] (see `scratchCount` for where they live);
/// tile t = (n, ty, tx) row-major. Tiles past the map's border read zeros and
/// their extra outputs are dropped.
public enum Winograd: Sendable {
    /// F(2×2, 3×3): 4 products per output. Its input and output transforms
    /// only add and subtract (G has halves, exact in binary), so its float32
    /// error stays at the direct convolution's level.
    case f2x2
    /// F(4×4, 3×3): 2.25 products per output, and V and M shrink likewise.
    /// Its transforms use the points 0, ±1, ±2, which amplify float32 rounding
    /// more than F(2×2)'s: on ResNet weights the outputs stay within a few
    /// 1e-7 of a float64 convolution (see WinogradTests), far inside the
    /// parity tolerances.
    case f4x4

    /// The tile-specific transforms of this algorithm.
    var transforms: any WinogradTransforms.Type {
        switch self {
        case .f2x2: return WinogradF2x2.self
        case .f4x4: return WinogradF4x4.self
        }
    }

    /// m: the side of an output tile.
    public var outputTile: Int { transforms.outputTile }
    /// α = m + 2: the side of an input tile, and of a transformed one.
    public var inputTile: Int { outputTile + 2 }

    /// Tiles per image on maps of side `side` (square).
    public func tiles(_ side: Int) -> Int {
        let perSide = (side + outputTile - 1) / outputTile
        return perSide * perSide
    }

    /// The most tiles (images × tiles per image) for which im2col + GEMM on the plain
    /// weight beats this algorithm: its α² products each stream a transformed weight of
    /// C_out × C_in for so few columns. Measured on dbn-small's layers, one thread, ms a
    /// pass of n images, Winograd against direct: F(2×2) on 2×2 maps, 256 channels (1 tile
    /// an image): n = 1 0.66 / 0.31, 4 1.03 / 0.55, 8 1.25 / 1.07, 16 1.54 / 1.94; on 4×4
    /// maps, 128 channels (4 tiles): n = 1 0.22 / 0.12, 2 0.30 / 0.24, 4 0.46 / 0.47.
    /// F(4×4) on 8×8 maps, 64 channels (4 tiles): n = 1 0.135 / 0.117, 2 0.17 / 0.23.
    public var directColumns: Int {
        switch self {
        case .f2x2: return 8
        case .f4x4: return 4
        }
    }

    /// Whether a convolution of shape `s` on maps of side `side` should take
    /// this algorithm. Both need a stride-1, padding-1 3×3 convolution.
    ///
    /// F(4×4)'s transformed weights are 36/9 the size of the plain ones
    /// (F(2×2)'s: 16/9), and each GEMM streams all of U_ξ for few tiles on
    /// small maps. So F(4×4) takes only maps of side ≥ 5: there it saves the
    /// most work and the weights are small (dbn-base: stages 1–3). On
    /// dbn-base's 4×4 maps with 512 channels, streaming F(4×4)'s 38 MB of U
    /// per layer and pass costs about what its saved multiply-adds gain (an
    /// estimate, not a measurement), so F(2×2) runs there with 9/4 less weight
    /// memory (about 60 MB for that stage); on 2×2 maps most of a 6×6 tile
    /// would be padding.
    public func applies(_ s: Conv2dShape, side: Int) -> Bool {
        guard s.kernel == 3 && s.stride == 1 && s.padding == 1 else { return false }
        switch self {
        case .f2x2: return true
        case .f4x4: return side >= 5
        }
    }

    /// U = G g Gᵀ for every (output, input) pair of a PyTorch-layout weight
    /// (outputs × inputs × 3 × 3, BatchNorm already folded in), computed in
    /// float64 so that only the final rounding to float32 is added, and
    /// stored [ξ][o][c]: α² × outputs × inputs floats.
    public func transformWeights(_ weight: [Float], outputs: Int, inputs: Int) -> [Float] {
        precondition(weight.count == outputs * inputs * 9, "weight must be outputs × inputs × 3 × 3")
        let alpha = inputTile, g = transforms.filterRows
        var u = [Float](repeating: 0, count: alpha * alpha * outputs * inputs)  // (α², outputs, inputs)
        u.withUnsafeMutableBufferPointer { u in
            weight.withUnsafeBufferPointer { weight in
                for o in 0..<outputs {
                    for c in 0..<inputs {
                        let k = weight.baseAddress! + (o * inputs + c) * 9
                        // t = G g (α × 3) row by row, then U row i = t_i Gᵀ.
                        for i in 0..<alpha {
                            let (a, b, cc) = g[i]
                            let t0 = a * Double(k[0]) + b * Double(k[3]) + cc * Double(k[6])
                            let t1 = a * Double(k[1]) + b * Double(k[4]) + cc * Double(k[7])
                            let t2 = a * Double(k[2]) + b * Double(k[5]) + cc * Double(k[8])
                            for j in 0..<alpha {
                                let (p, q, r) = g[j]
                                u[((i * alpha + j) * outputs + o) * inputs + c] = Float(p * t0 + q * t1 + r * t2)
                            }
                        }
                    }
                }
            }
        }
        return u
    }

    /// Tiles per image of h × w (m × m outputs each).
    public func tiles(height h: Int, width w: Int) -> Int {
        let m = outputTile
        return ((h + m - 1) / m) * ((w + m - 1) / m)
    }

    /// Scratch floats `forward` needs: α² + 1 + `spareSlots` slots of max(C_in, C_out) × tiles.
    /// V_ξ lives in slot ξ + 1 and GEMM ξ writes M_ξ into slot ξ, which held
    /// V_{ξ−1}, already consumed: α² + 1 slots instead of α² for V plus α² for M.
    /// With the products split into runs over threads, the first product of
    /// each run after the first writes a spare slot instead (its V_{ξ−1} belongs
    /// to the run before, maybe not read yet), copied into place afterwards.
    public func scratchCount(inputs: Int, outputs: Int, images: Int, height h: Int, width w: Int) -> Int {
        (inputTile * inputTile + 1 + Self.spareSlots) * max(inputs, outputs) * images * tiles(height: h, width: w)
    }

    /// Runs of products at most 1 + this (so at most that many threads share a layer's products).
    static let spareSlots = 3

    /// y = (relu?)(conv3×3(x) + bias (+ residual)), the same contract as
    /// `conv2d` with a stride-1, padding-1 3×3 shape; `weight` from
    /// `transformWeights`, `scratch` of `scratchCount` floats. The transforms
    /// run on `computeThreads()` threads, and so do the α² products, side by side.
    public func forward(_ x: UnsafePointer<Float>, inputs: Int, outputs: Int, images: Int, height h: Int, width w: Int,
                        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>? = nil,
                        relu: Bool, scratch: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        // One call per algorithm, so that each driver is specialised and its transforms inlined.
        switch self {
        case .f2x2:
            Self.forward(WinogradF2x2.self, x, inputs: inputs, outputs: outputs, images: images, height: h, width: w,
                         weight: weight, bias: bias, residual: residual, relu: relu, scratch: scratch, into: y)
        case .f4x4:
            Self.forward(WinogradF4x4.self, x, inputs: inputs, outputs: outputs, images: images, height: h, width: w,
                         weight: weight, bias: bias, residual: residual, relu: relu, scratch: scratch, into: y)
        }
    }

    /// `forward` for the algorithm whose tile transforms are `T`.
    static func forward<T: WinogradTransforms>(_: T.Type, _ x: UnsafePointer<Float>, inputs: Int, outputs: Int, images: Int,
                                                height h: Int, width w: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                                residual: UnsafePointer<Float>?, relu: Bool, scratch: UnsafeMutablePointer<Float>,
                                                into y: UnsafeMutablePointer<Float>) {
        let m = T.outputTile, positions = (m + 2) * (m + 2)
        let tileCount = images * ((h + m - 1) / m) * ((w + m - 1) / m)
        let slot = max(inputs, outputs) * tileCount
        // scratch: α² + 1 slots; V_ξ (C_in × tiles) in slot ξ + 1, then M_ξ (C_out × tiles) in slot ξ.
        transformInput(T.self, x, channels: inputs, images: images, height: h, width: w, slot: slot, into: scratch + slot)
        // The α² products in runs side by side on the compute threads (each product whole on its
        // thread; a run in order: M_ξ overwrites V_{ξ−1}, which the product before it has read).
        let runs = min(computeThreads(), 1 + spareSlots, positions)
        let spare = scratch + (positions + 1) * slot
        let skinny = skinnyKernel && inputs <= skinnyProductDepth && tileCount <= skinnyProductColumns   // read here, not on a worker
        parallelFor(runs) { run in
            let first = positions * run / runs, end = positions * (run + 1) / runs
            for xi in first..<end {
                let target = xi == first && run > 0 ? spare + (run - 1) * slot : scratch + xi * slot
                if skinny {
                    liberi_skinny_gemm(Int32(outputs), Int32(tileCount), Int32(inputs), 1, weight + xi * outputs * inputs, inputs,
                                       scratch + (xi + 1) * slot, tileCount, 0, target, tileCount, 1)
                } else {
                    gemm(m: outputs, n: tileCount, k: inputs, a: weight + xi * outputs * inputs, lda: inputs,
                         b: scratch + (xi + 1) * slot, ldb: tileCount, c: target, ldc: tileCount)
                }
            }
        }
        for run in 1..<max(runs, 1) {
            (scratch + positions * run / runs * slot).update(from: spare + (run - 1) * slot, count: outputs * tileCount)
        }
        transformOutput(T.self, scratch, channels: outputs, images: images, height: h, width: w, slot: slot, bias: bias,
                        residual: residual, relu: relu, into: y)
    }

    /// The α² products of a layer with at most `skinnyProductDepth` input channels and
    /// `skinnyProductColumns` tiles take the skinny kernel (skinny_gemm.c) whatever the
    /// weight's size (`gemm` gives it only products of at most 64 columns and 16 384 weights).
    /// Measured alone, one thread, 36 products: C_out × tiles × C_in = 32 × 256 × 32 0.30 ms
    /// against OpenBLAS's 0.36, 64 × 64 × 64 0.22 / 0.29, 64 × 392 × 64 1.37 / 1.69; at
    /// 64 × 1568 × 64 they tie, and with 128 or more input channels OpenBLAS was as fast or
    /// faster (128 × 512 × 128 9.2 / 7.8 ms, 256 × 128 × 256 8.3 / 7.5).
    static let skinnyProductDepth = 64
    static let skinnyProductColumns = 512

    /// Whether the transforms of an h × w map run a channel's tiles of every
    /// image together (winograd.c's `liberi_winograd_input_channels` and
    /// `…_output_channels`) rather than plane by plane: where each image is a
    /// single tile. The same floats either way. On dbn-small's 2 × 2 maps
    /// (4096 one-tile planes in a 16-frame pass) the per-plane set-up made the
    /// input transform 0.31 ms and the output 0.21; whole channels, 0.12 and
    /// 0.075. With 4 tiles an image and more the per-plane path was as fast or
    /// faster (its zero-bordered copy beats gathering each tile's values).
    static func transformsWholeChannels(tile m: Int, height h: Int, width w: Int) -> Bool {
        h <= m && w <= m
    }

    /// V_ξ[c][t] = (Bᵀ d B)_ξ for the α×α input tile d of every tile t (rows
    /// m·ty − 1 … m·ty + m, columns likewise, zero outside the image), V_ξ
    /// starting `slot` floats after V_{ξ−1}. Split over (channel, image)
    /// planes; each thread copies a plane into a zero-bordered one first, so
    /// the transforms read whole tiles without bounds checks.
    static func transformInput<T: WinogradTransforms>(_: T.Type, _ x: UnsafePointer<Float>, channels: Int, images: Int,
                                                       height h: Int, width w: Int, slot: Int, wholeChannels: Bool? = nil,
                                                       into v: UnsafeMutablePointer<Float>) {
        if wholeChannels ?? transformsWholeChannels(tile: T.outputTile, height: h, width: w) {
            parallelRanges(channels, grain: max(1, 16_384 / max(1, images * h * w))) { r in
                liberi_winograd_input_channels(Int32(T.outputTile), x, Int32(r.lowerBound), Int32(r.upperBound), Int32(images),
                                               Int32(h), Int32(w), v, slot)
            }
            return
        }
        let m = T.outputTile, alpha = m + 2
        let th = (h + m - 1) / m, tw = (w + m - 1) / m
        let tileCount = images * th * tw
        let pw = m * tw + 2                // padded columns −1 … m·tw
        let ph = m * th + 2                // padded rows −1 … m·th
        let span = (m * (th - 1) + 1) * pw // the vertical pass: q = m·ty·pw + column, for every ty
        parallelRanges(channels * images, grain: max(1, 4_096 / max(1, h * w))) { planes in
            // Per thread: the zero-padded plane (ph × pw), then Bᵀ d for every tile row (α × span).
            let padded = UnsafeMutablePointer<Float>.allocate(capacity: ph * pw + alpha * span)
            defer { padded.deallocate() }
            padded.update(repeating: 0, count: ph * pw)  // borders stay zero; the interior is overwritten per plane
            for p in planes {
                let c = p / images, n = p % images
                let src = x + p * h * w
                for iy in 0..<h { (padded + (iy + 1) * pw + 1).update(from: src + iy * w, count: w) }
                T.transformInput(padded, width: pw, span: span, tileRows: th, tileColumns: tw, rows: padded + ph * pw,
                                 slot: slot, into: v + c * tileCount + n * th * tw)
            }
        }
    }

    /// y = Aᵀ M A per tile, plus bias (+ residual), ReLU, cropped to h × w;
    /// M_ξ starts `slot` floats after M_{ξ−1}. Split over (channel, image)
    /// planes: a plane's tiles go to its m·th output lines (a few KB, still in
    /// cache when the epilogue writes them out).
    static func transformOutput<T: WinogradTransforms>(_: T.Type, _ products: UnsafePointer<Float>, channels: Int, images: Int,
                                                        height h: Int, width w: Int, slot: Int, bias: UnsafePointer<Float>,
                                                        residual: UnsafePointer<Float>?, relu: Bool, wholeChannels: Bool? = nil,
                                                        into y: UnsafeMutablePointer<Float>) {
        if wholeChannels ?? transformsWholeChannels(tile: T.outputTile, height: h, width: w) {
            parallelRanges(channels, grain: max(1, 16_384 / max(1, images * h * w))) { r in
                liberi_winograd_output_channels(Int32(T.outputTile), products, slot, Int32(r.lowerBound), Int32(r.upperBound),
                                                Int32(images), Int32(h), Int32(w), bias, residual, relu ? 1 : 0, y)
            }
            return
        }
        let m = T.outputTile
        let th = (h + m - 1) / m, tw = (w + m - 1) / m
        let tileCount = images * th * tw
        parallelRanges(channels * images, grain: max(1, 4_096 / max(1, h * w))) { planes in
            // Per thread: one plane's output lines (m·th × m·tw).
            let lines = UnsafeMutablePointer<Float>.allocate(capacity: m * th * m * tw)
            defer { lines.deallocate() }
            for p in planes {
                let o = p / images, n = p % images
                let beta = bias[o]
                T.transformOutput(products + o * tileCount + n * th * tw, slot: slot, tileRows: th, tileColumns: tw, into: lines)
                // The lines cropped to the map's h × w.
                for r in 0..<h {
                    let offset = p * h * w + r * w
                    convEpilogue(lines + r * m * tw, into: y + offset, count: w, bias: beta,
                                 residual: residual.map { $0 + offset }, relu: relu)
                }
            }
        }
    }
}
