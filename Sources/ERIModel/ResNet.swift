import ERICore

/// SPEC §5 video step 1, the ResNet backbone, as the list of its
/// convolutions: shapes, the sides of the maps they read and write, and the
/// names of their weights and BatchNorms (SPEC §6), built once from
/// `ERIConfig.Video.backboneBlocks`. Both executors run this plan: the
/// inference one with every BatchNorm folded into its convolution (and the
/// stride-1 3×3 ones through Winograd), the training one with batch
/// statistics. The layout is CNHW throughout (see `Conv2dShape`).
struct ResNetPlan {
    /// One convolution + BatchNorm (a `ConvBN` in the reference).
    struct Conv {
        let shape: Conv2dShape
        let name: String       // the conv's SPEC §6 prefix: `name`.weight
        let norm: String       // its BatchNorm's prefix
        let inputSide: Int
        var outputSide: Int { shape.outputSide(inputSide) }
    }
    /// SPEC §5 BasicBlock: conv1 + BN + ReLU, conv2 + BN, + shortcut, ReLU.
    struct Block { let conv1: Conv, conv2: Conv, down: Conv? }

    let channels: Int, imageSize: Int
    let stem: Conv
    /// Side of the map after the stem's max-pool, the first block's input.
    let pooledSide: Int
    let blocks: [Block]
    let outputWidth: Int, outputSide: Int

    init(config v: ERIConfig.Video) {
        channels = v.channels
        imageSize = v.imageSize
        let k = v.backbone.stemKernel
        stem = Conv(shape: Conv2dShape(inputs: v.channels, outputs: v.backbone.stemChannels, kernel: k, stride: 2, padding: k / 2),
                    name: "video.backbone.stem.conv", norm: "video.backbone.stem.bn", inputSide: v.imageSize)
        pooledSide = MaxPool2dShape.outputSide(stem.outputSide)
        var side = pooledSide
        blocks = v.backboneBlocks.map { k in
            let p = k.prefix, inSide = side
            let conv1 = Conv(shape: Conv2dShape(inputs: k.inputs, outputs: k.outputs, kernel: 3, stride: k.stride, padding: 1),
                             name: p + ".conv1", norm: p + ".bn1", inputSide: inSide)
            side = conv1.outputSide
            return Block(conv1: conv1,
                         conv2: Conv(shape: Conv2dShape(inputs: k.outputs, outputs: k.outputs, kernel: 3, stride: 1, padding: 1),
                                     name: p + ".conv2", norm: p + ".bn2", inputSide: side),
                         down: k.hasShortcutConv
                             ? Conv(shape: Conv2dShape(inputs: k.inputs, outputs: k.outputs, kernel: 1, stride: k.stride, padding: 0),
                                    name: p + ".down.conv", norm: p + ".down.bn", inputSide: inSide)
                             : nil)
        }
        outputWidth = v.backbone.widths.last!
        outputSide = side
    }

    /// Blocks that run at the first stage's resolution, before the first
    /// stride-2 block. With the stem and pooling they form the "wide" part of
    /// the network (large maps, few channels); the rest is the "deep" part.
    var wideBlocks: Int { blocks.firstIndex { $0.conv1.shape.stride != 1 } ?? blocks.count }

    /// Side and channels of the map entering block `index` (`blocks.count`: the output map).
    func map(enteringBlock index: Int) -> (side: Int, channels: Int) {
        index < blocks.count ? (blocks[index].conv1.inputSide, blocks[index].conv1.shape.inputs)
                             : (outputSide, outputWidth)
    }
}

/// The CNHW map of `count` images (C × count × hw) → their tokens, rows
/// `first ..< first + count` of (image, n, C) with token n = y·w + x (SPEC §5 video step 2).
func tokens(fromMap map: UnsafePointer<Float>, channels c: Int, images count: Int, positions hw: Int, first: Int,
            into tokens: UnsafeMutablePointer<Float>) {
    for i in 0..<count { for t in 0..<hw { for ch in 0..<c {
        tokens[((first + i) * hw + t) * c + ch] = map[(ch * count + i) * hw + t]
    } } }
}

/// The inverse of `tokens(fromMap:…)` over all `images` (for gradients): (image, n, C) → C × images × hw.
func map(fromTokens tokens: UnsafePointer<Float>, channels c: Int, images: Int, positions hw: Int, into map: UnsafeMutablePointer<Float>) {
    for i in 0..<images { for t in 0..<hw { for ch in 0..<c {
        map[(ch * images + i) * hw + t] = tokens[(i * hw + t) * c + ch]
    } } }
}

/// The images × C × S × S input (NCHW, as preprocessing writes it), images
/// `first ..< first + count`, in CNHW.
func cnhw(_ frames: UnsafePointer<Float>, channels: Int, plane: Int, first: Int, count: Int, into x: UnsafeMutablePointer<Float>) {
    for i in 0..<count { for c in 0..<channels {
        (x + (c * count + i) * plane).update(from: frames + ((first + i) * channels + c) * plane, count: plane)
    } }
}

// MARK: - Inference

/// The plan for inference: every BatchNorm folded into its convolution once,
/// at load (running statistics, SPEC §5), so each layer is a convolution with
/// a bias; immutable afterwards, so any number of threads may run it.
final class FoldedResNet: @unchecked Sendable {
    /// One folded layer and how it runs: stride-1 3×3 layers through Winograd
    /// (F(4×4, 3×3) on maps of side ≥ 5, F(2×2, 3×3) on smaller ones, see
    /// `Winograd.applies`), the stem through its own kernel, the rest through packed weights
    /// (`packedConv`) or, where its AVX2 kernel does not run, im2col + GEMM (`conv2d`).
    struct Layer {
        /// `direct`: im2col + GEMM (`conv2d`); `stem`: the stem's own kernel (`stemConv`);
        /// `packed`: `packedConv` on the weight packed at load.
        enum Method { case direct, stem, packed, winograd(Winograd) }

        let shape: Conv2dShape
        let inputSide: Int
        let method: Method
        /// The folded weight, PyTorch layout; for Winograd layers its transform, for packed ones
        /// `packConvWeights`' layout instead.
        let weight: UnsafePointer<Float>
        let bias: UnsafePointer<Float>

        /// The folded weight itself, kept besides the transform by Winograd layers whose
        /// images have so few tiles that a pass of a few images runs direct (`runsDirect`).
        let plain: UnsafePointer<Float>?

        /// Scratch floats `run` needs per image.
        var scratchPerImage: Int {
            let (ci, co, side) = (shape.inputs, shape.outputs, inputSide)
            let out = shape.outputSide(side), columns = shape.isPointwise ? 0 : shape.patch * out * out
            switch method {
            case .winograd(let w):
                return max(w.scratchCount(inputs: ci, outputs: co, images: 1, height: side, width: side), plain == nil ? 0 : columns)
            case .direct: return columns
            case .packed: return columns   // and `scratchPerCall`
            case .stem: return 0
            }
        }

        /// Scratch floats `run` needs once per call besides `scratchPerImage` × images: a packed
        /// layer's panels round the columns up to a multiple of 16 (`packedConvScratch`).
        var scratchPerCall: Int {
            if case .packed = method { return 16 * shape.patch }
            return 0
        }

        /// Whether a Winograd layer runs `images` through im2col + GEMM on its plain weight:
        /// when its products would have at most `Winograd.directColumns` tiles (a stream's
        /// single frames, small runs on several threads), where streaming the larger
        /// transformed weight for so few columns costs more than the multiply-adds saved.
        func runsDirect(images: Int) -> Bool {
            guard plain != nil, case .winograd(let w) = method else { return false }
            return images * w.tiles(inputSide) <= w.directColumns
        }

        func run(_ x: UnsafePointer<Float>, images: Int, residual: UnsafePointer<Float>? = nil, relu: Bool,
                 scratch: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
            let (ci, co, side) = (shape.inputs, shape.outputs, inputSide)
            if runsDirect(images: images) {
                conv2d(x, shape: shape, images: images, height: side, width: side, weight: plain!, bias: bias,
                       residual: residual, relu: relu, columns: scratch, into: y)
                return
            }
            switch method {
            case .winograd(let w):
                w.forward(x, inputs: ci, outputs: co, images: images, height: side, width: side,
                          weight: weight, bias: bias, residual: residual, relu: relu, scratch: scratch, into: y)
            case .direct:
                conv2d(x, shape: shape, images: images, height: side, width: side, weight: weight, bias: bias,
                       residual: residual, relu: relu, columns: scratch, into: y)
            case .packed:
                packedConv(x, shape: shape, images: images, height: side, width: side, packed: weight, bias: bias,
                           residual: residual, relu: relu, simd: true, panels: scratch, into: y)
            case .stem:
                precondition(residual == nil, "the stem kernel adds no shortcut")   // SPEC §5: only a block's conv2 has one
                stemConv(x, shape: shape, images: images, height: side, width: side, weight: weight, bias: bias, relu: relu,
                         simd: true, into: y)
            }
        }
    }
    struct Block { let conv1: Layer, conv2: Layer, down: Layer? }

    let plan: ResNetPlan
    let stem: Layer
    let blocks: [Block]
    /// The largest `Layer.scratchPerCall`: `forward`'s scratch holds it besides the per-image share.
    let scratchPerCall: Int
    private var storage: [UnsafeMutableBufferPointer<Float>] = []

    init(plan: ResNetPlan, parameters p: Parameters) {
        self.plan = plan
        var storage: [UnsafeMutableBufferPointer<Float>] = []
        func keep(_ values: [Float]) -> UnsafePointer<Float> {
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(values.count, 1))
            _ = b.initialize(from: values)
            storage.append(b)
            return UnsafePointer(b.baseAddress!)
        }
        func fold(_ c: ResNetPlan.Conv) -> Layer {
            let s = c.shape
            func values(_ name: String) -> [Float] { p[name].values }
            let folded = foldBatchNorm(weight: values(c.name + ".weight"), outputs: s.outputs,
                                       gamma: values(c.norm + ".weight"), beta: values(c.norm + ".bias"),
                                       mean: values(c.norm + ".running_mean"), variance: values(c.norm + ".running_var"))
            // Winograd layers keep the transformed weight (36/9 or 16/9 of the plain one's size), and
            // the plain one too where a few images' products are narrow enough to run direct.
            let method: Layer.Method = Winograd.f4x4.applies(s, side: c.inputSide) ? .winograd(.f4x4)
                : Winograd.f2x2.applies(s, side: c.inputSide) ? .winograd(.f2x2) : stemConvApplies(s) ? .stem
                : packedConvApplies(s) ? .packed : .direct
            let weight: [Float]
            switch method {
            case .winograd(let w): weight = w.transformWeights(folded.weight, outputs: s.outputs, inputs: s.inputs)
            case .packed: weight = packConvWeights(folded.weight, shape: s)
            case .direct, .stem: weight = folded.weight
            }
            var plain: UnsafePointer<Float>? = nil
            if case .winograd(let w) = method, w.tiles(c.inputSide) <= w.directColumns { plain = keep(folded.weight) }
            return Layer(shape: s, inputSide: c.inputSide, method: method, weight: keep(weight), bias: keep(folded.bias), plain: plain)
        }
        stem = fold(plan.stem)
        blocks = plan.blocks.map { Block(conv1: fold($0.conv1), conv2: fold($0.conv2), down: $0.down.map(fold)) }
        scratchPerCall = ([stem] + blocks.flatMap { [$0.conv1, $0.conv2] + ($0.down.map { [$0] } ?? []) }).map(\.scratchPerCall).max() ?? 0
        self.storage = storage
    }

    deinit { for b in storage { b.deallocate() } }

    /// Per image: the largest activation and convolution scratch (floats) of
    /// the stem and pooling (when `stem`) and of `range` of the blocks.
    func perImage(stem withStem: Bool, blocks range: Range<Int>) -> (activation: Int, scratch: Int) {
        var activation = 0, scratch = 0
        if withStem {
            let side = stem.shape.outputSide(plan.imageSize)
            activation = stem.shape.outputs * side * side
            scratch = stem.scratchPerImage
        }
        for block in blocks[range] {
            let outSide = block.conv1.shape.outputSide(block.conv1.inputSide)
            activation = max(activation, block.conv1.shape.outputs * outSide * outSide)
            scratch = max(scratch, block.conv1.scratchPerImage, block.conv2.scratchPerImage, block.down?.scratchPerImage ?? 0)
        }
        return (activation, scratch)
    }

    /// Frames per pass through the wide part: bounds its buffers (about 16 MB
    /// for dbn-base) while keeping its GEMMs (C_out × C_in · C_in × n·tiles,
    /// with only 64 channels) wide enough to run at full speed.
    var wideChunk: Int {
        let p = perImage(stem: true, blocks: 0..<plan.wideBlocks)
        return max(1, (1 << 22) / max(1, 3 * p.activation + p.scratch))
    }

    /// Frames per pass through the deep part. The deep layers have few tiles
    /// per frame (1 to 4 in dbn-base's last stages) but large weights, which
    /// OpenBLAS packs again on every GEMM call: with a few frames per pass,
    /// packing 512×512 weights took longer than the multiply-adds. So it runs
    /// on as many frames as fit in twice the wide part's buffers (all 32 in
    /// dbn-base), split evenly when they do not all fit.
    func deepChunk(images: Int) -> Int {
        let wide = perImage(stem: true, blocks: 0..<plan.wideBlocks), deep = perImage(stem: false, blocks: plan.wideBlocks..<blocks.count)
        let budget = 2 * wideChunk * (3 * wide.activation + wide.scratch)
        let most = max(1, budget / max(1, 4 * deep.activation + deep.scratch))
        let passes = (images + most - 1) / most
        return max(1, (images + passes - 1) / max(1, passes))
    }

    /// frames: images × C × S × S (NCHW). Writes tokens: images × (h·w) × C_out.
    ///
    /// Runs the wide part `wideChunk` frames at a time, gathering its output
    /// for `deepChunk` frames (not necessarily a multiple), then the deep
    /// part on those all at once.
    func forward(_ frames: UnsafePointer<Float>, images: Int, arena: Arena, tokens out: UnsafeMutablePointer<Float>) {
        let s = plan.imageSize, plane = s * s, channels = plan.channels
        let split = plan.wideBlocks
        let wideChunk = min(self.wideChunk, images), deepChunk = min(self.deepChunk(images: images), images)
        let wide = perImage(stem: true, blocks: 0..<split), deep = perImage(stem: false, blocks: split..<blocks.count)
        let activation = max(wide.activation * wideChunk, deep.activation * deepChunk)
        let input = arena.floats(channels * wideChunk * plane).baseAddress!   // (C, n, S, S)
        // The wide part's output for a deep pass, CNHW over deepChunk frames; the deep part's first input.
        let middle = plan.map(enteringBlock: split)
        let middleMap = arena.floats(middle.channels * middle.side * middle.side * deepChunk).baseAddress!  // (C_mid, deepChunk, h, w)
        let bufferA = arena.floats(activation).baseAddress!    // (C, n, h, w) of the largest layer
        let bufferB = arena.floats(activation).baseAddress!    // (C, n, h, w)
        let bufferC = arena.floats(activation).baseAddress!    // (C, n, h, w)
        let shortcut = arena.floats(activation).baseAddress!   // (C, n, h, w)
        let scratch = arena.floats(max(1, wide.scratch * wideChunk, deep.scratch * deepChunk) + scratchPerCall).baseAddress!  // (im2col or Winograd V/M, n)

        /// Blocks `range` on `n` frames starting in `x`; returns the buffer holding the output.
        func runBlocks(_ range: Range<Int>, _ x: UnsafeMutablePointer<Float>, n: Int) -> UnsafeMutablePointer<Float> {
            var current = x
            var spare = current == bufferA ? bufferC : bufferA
            for block in blocks[range] {
                block.conv1.run(current, images: n, relu: true, scratch: scratch, into: bufferB)
                var residual = UnsafePointer(current)
                if let down = block.down {
                    down.run(current, images: n, relu: false, scratch: scratch, into: shortcut)
                    residual = UnsafePointer(shortcut)
                }
                block.conv2.run(bufferB, images: n, residual: residual, relu: true, scratch: scratch, into: spare)
                // The block's input is free now, unless it is `middleMap` (read-only here).
                let output = spare
                spare = current == middleMap ? (output == bufferA ? bufferC : bufferA) : current
                current = output
            }
            return current
        }

        var deepStart = 0
        while deepStart < images {
            let deepCount = min(deepChunk, images - deepStart)
            var start = deepStart
            while start < deepStart + deepCount {
                let n = min(wideChunk, deepStart + deepCount - start)
                cnhw(frames, channels: channels, plane: plane, first: start, count: n, into: input)
                let stemSide = stem.shape.outputSide(s)
                stem.run(input, images: n, relu: true, scratch: scratch, into: bufferB)
                maxPool3x3s2(bufferB, planes: stem.shape.outputs * n, height: stemSide, width: stemSide, into: bufferA)
                let wideOut = runBlocks(0..<split, bufferA, n: n)
                // Gather into `middleMap` (CNHW over the deep pass's frames).
                let mplane = middle.side * middle.side
                for c in 0..<middle.channels {
                    (middleMap + (c * deepCount + start - deepStart) * mplane).update(from: wideOut + c * n * mplane, count: n * mplane)
                }
                start += n
            }
            let map = runBlocks(split..<blocks.count, middleMap, n: deepCount)
            tokens(fromMap: map, channels: plan.outputWidth, images: deepCount, positions: plan.outputSide * plan.outputSide,
                   first: deepStart, into: out)
            deepStart += deepCount
        }
    }
}

// MARK: - Training

/// The plan in training mode: BatchNorm on batch statistics over all B·F
/// frames (SPEC §5), running statistics updated the PyTorch way, every
/// activation the backward pass needs kept in the step's arena.
struct TrainingResNet {
    struct ConvBN {
        let conv: ResNetPlan.Conv
        let weight: Parameter
        let gamma: Parameter, beta: Parameter, runningMean: Parameter, runningVar: Parameter
        init(_ p: Parameters, _ conv: ResNetPlan.Conv) {
            self.conv = conv
            weight = p[conv.name + ".weight"]
            gamma = p[conv.norm + ".weight"]; beta = p[conv.norm + ".bias"]
            runningMean = p[conv.norm + ".running_mean"]; runningVar = p[conv.norm + ".running_var"]
        }
        var shape: Conv2dShape { conv.shape }
    }
    struct Block { let conv1: ConvBN, conv2: ConvBN, down: ConvBN? }

    /// One conv + BN application: its input (and its im2col matrix when the
    /// forward kept it), and BN's x̂ and 1/σ.
    struct ConvCache {
        let input: UnsafePointer<Float>
        let columns: UnsafePointer<Float>?
        let normalised: UnsafeMutablePointer<Float>, inverseStd: UnsafeMutablePointer<Float>
    }
    struct BlockCache {
        let conv1: ConvCache, conv2: ConvCache, down: ConvCache?
        let hidden: UnsafeMutablePointer<Float>  // ReLU(BN1(conv1 x))
        let output: UnsafeMutablePointer<Float>  // ReLU(main + shortcut)
    }
    struct Cache {
        let images: Int
        let stem: ConvCache, stemActivated: UnsafeMutablePointer<Float>
        let argmax: UnsafeMutablePointer<Int32>
        let blocks: [BlockCache]
        /// The output map, CNHW (C_out × images × h × w).
        let map: UnsafeMutablePointer<Float>
    }

    let plan: ResNetPlan
    let stem: ConvBN
    let blocks: [Block]
    /// Constants of the plan over all its convs (the stem, then each block's): the
    /// largest im2col matrix per image and the largest weight.
    let columnsPerImage: Int, largestWeight: Int

    init(plan: ResNetPlan, parameters p: Parameters) {
        self.plan = plan
        stem = ConvBN(p, plan.stem)
        blocks = plan.blocks.map { Block(conv1: ConvBN(p, $0.conv1), conv2: ConvBN(p, $0.conv2), down: $0.down.map { ConvBN(p, $0) }) }
        let convs = [plan.stem] + plan.blocks.flatMap { [$0.conv1, $0.conv2] + ($0.down.map { [$0] } ?? []) }
        columnsPerImage = convs.map { $0.shape.patch * $0.outputSide * $0.outputSide }.max()!
        largestWeight = convs.map { $0.shape.outputs * $0.shape.patch }.max()!
    }

    /// The largest im2col scratch any layer needs for `images` frames.
    func columnsSize(images: Int) -> Int { columnsPerImage * images }

    /// conv (no bias) → training BatchNorm (→ + residual → ReLU when asked), into a new buffer.
    /// The im2col matrix goes to a buffer of its own, kept for the backward
    /// pass, while `keptFloats` stays within `columnBudget`; else to `columns`.
    func convBN(_ layer: ConvBN, _ x: UnsafePointer<Float>, images: Int, columns: UnsafeMutablePointer<Float>,
                columnBudget: Int, keptFloats: inout Int, residual: UnsafePointer<Float>? = nil, relu: Bool = false,
                arena: Arena) -> (UnsafeMutablePointer<Float>, ConvCache) {
        let s = layer.shape, side = layer.conv.inputSide
        let m = images * layer.conv.outputSide * layer.conv.outputSide
        let y = arena.floats(s.outputs * m).baseAddress!   // (C_out, images, h, w)
        var kept: UnsafeMutablePointer<Float>? = nil
        if !s.isPointwise && keptFloats + s.patch * m <= columnBudget {
            kept = arena.floats(s.patch * m).baseAddress!   // (C_in·k·k, images·h·w)
            keptFloats += s.patch * m
        }
        conv2dTraining(x, shape: s, images: images, height: side, width: side, weight: layer.weight.value,
                       columns: kept ?? columns, into: y)
        let cache = ConvCache(input: x, columns: kept.map { UnsafePointer($0) },
                              normalised: arena.floats(s.outputs * m).baseAddress!,   // (C_out, images·h·w)
                              inverseStd: arena.floats(s.outputs).baseAddress!)       // (C_out)
        batchNormTraining(y, channels: s.outputs, perChannel: m, gamma: layer.gamma.value, beta: layer.beta.value,
                          runningMean: layer.runningMean.value, runningVar: layer.runningVar.value,
                          normalised: cache.normalised, inverseStd: cache.inverseStd, residual: residual, relu: relu)
        return (y, cache)
    }

    /// frames: images × C × S × S (NCHW). Returns the cache, whose `map` is the output.
    /// `columnBudget`: how many floats of im2col matrices the forward may keep for the backward pass.
    func forward(_ frames: UnsafePointer<Float>, images: Int, columnBudget: Int, arena: Arena) -> Cache {
        let s = plan.imageSize
        let input = arena.floats(plan.channels * images * s * s).baseAddress!   // (C, images, S, S)
        cnhw(frames, channels: plan.channels, plane: s * s, first: 0, count: images, into: input)
        let columns = arena.floats(columnsSize(images: images)).baseAddress!   // (C_in·k·k, images·h·w) of the largest layer
        var kept = 0
        let (stemOut, stemCache) = convBN(stem, input, images: images, columns: columns, columnBudget: columnBudget,
                                          keptFloats: &kept, relu: true, arena: arena)
        let stemSide = plan.stem.outputSide, pooledSide = plan.pooledSide
        let pooledCount = stem.shape.outputs * images * pooledSide * pooledSide
        var x = arena.floats(pooledCount).baseAddress!   // (C_stem, images, h, w)
        let argmax = UnsafeMutableRawPointer(arena.floats(pooledCount).baseAddress!)  // (C_stem, images, h, w) Int32
            .bindMemory(to: Int32.self, capacity: pooledCount)
        maxPool3x3s2Training(stemOut, planes: stem.shape.outputs * images, height: stemSide, width: stemSide, into: x, argmax: argmax)
        var caches: [BlockCache] = []
        for b in blocks {
            let (h, c1) = convBN(b.conv1, x, images: images, columns: columns, columnBudget: columnBudget,
                                 keptFloats: &kept, relu: true, arena: arena)
            // The shortcut first, so that conv2's BatchNorm adds it and applies the ReLU in one pass.
            var shortcut = UnsafePointer(x)
            var downCache: ConvCache? = nil
            if let d = b.down {
                let (sc, cd) = convBN(d, x, images: images, columns: columns, columnBudget: columnBudget, keptFloats: &kept, arena: arena)
                shortcut = UnsafePointer(sc)
                downCache = cd
            }
            let (y, c2) = convBN(b.conv2, h, images: images, columns: columns, columnBudget: columnBudget,
                                 keptFloats: &kept, residual: shortcut, relu: true, arena: arena)
            caches.append(BlockCache(conv1: c1, conv2: c2, down: downCache, hidden: h, output: y))
            x = y
        }
        return Cache(images: images, stem: stemCache, stemActivated: stemOut, argmax: argmax, blocks: caches, map: x)
    }

    /// BN backward (from `dy` into `dBN`, masked by `reluOutput` when the BN
    /// fed a ReLU), then the conv gradients; adds the input gradient to `dx` when given.
    func convBNBackward(_ layer: ConvBN, _ dy: UnsafePointer<Float>, into dBN: UnsafeMutablePointer<Float>,
                        reluOutput: UnsafePointer<Float>?, cache: ConvCache, images: Int,
                        columns: UnsafeMutablePointer<Float>, weightScratch: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?) {
        let out = layer.conv.outputSide, side = layer.conv.inputSide
        batchNormBackward(dy, into: dBN, channels: layer.shape.outputs, perChannel: images * out * out, gamma: layer.gamma.value,
                          normalised: cache.normalised, inverseStd: cache.inverseStd, dGamma: layer.gamma.gradient!,
                          dBeta: layer.beta.gradient!, reluOutput: reluOutput)
        conv2dBackward(dBN, cache.input, shape: layer.shape, images: images, height: side, width: side,
                       weight: layer.weight.value, dWeight: layer.weight.gradient!, dx: dx, columns: columns,
                       inputColumns: cache.columns, weightScratch: weightScratch)
    }

    /// dMap (CNHW, overwritten) → parameter gradients.
    func backward(_ dMap: UnsafeMutablePointer<Float>, cache: Cache, arena: Arena) {
        let images = cache.images
        let columns = arena.floats(columnsSize(images: images)).baseAddress!   // (C_in·k·k, images·h·w) of the largest layer
        let weights = arena.floats(largestWeight).baseAddress!   // the largest layer's weights
        var dy = dMap
        for (b, c) in zip(blocks, cache.blocks).reversed() {
            let side = b.conv1.conv.inputSide, out = b.conv1.conv.outputSide
            let n = b.conv1.shape.outputs * images * out * out
            // dy is d(output); the ReLU after main + shortcut masks it inside each BN backward.
            let inCount = b.conv1.shape.inputs * images * side * side
            let dx: UnsafeMutablePointer<Float>
            if let d = b.down {
                dx = arena.zeros(inCount).baseAddress!      // (C_in, images, h_in, w_in)
                let dShort = arena.floats(n).baseAddress!   // (C_out, images, h, w)
                convBNBackward(d, dy, into: dShort, reluOutput: c.output, cache: c.down!, images: images, columns: columns, weightScratch: weights, dx: dx)
            } else {
                dx = arena.floats(n).baseAddress!  // (C, images, h, w): the identity shortcut, d(input) starts as the masked dy
                let output = UnsafePointer(c.output), g = UnsafePointer(dy)
                parallelRanges(n, grain: 1 << 15) { r in for i in r { dx[i] = output[i] > 0 ? g[i] : 0 } }
            }
            let dHidden = arena.zeros(n).baseAddress!       // (C_out, images, h, w)
            convBNBackward(b.conv2, dy, into: dy, reluOutput: c.output, cache: c.conv2, images: images, columns: columns, weightScratch: weights, dx: dHidden)
            convBNBackward(b.conv1, dHidden, into: dHidden, reluOutput: c.hidden, cache: c.conv1, images: images, columns: columns, weightScratch: weights, dx: dx)
            dy = dx
        }
        let planes = stem.shape.outputs * images
        let stemPlane = plan.stem.outputSide * plan.stem.outputSide
        let dStem = arena.floats(planes * stemPlane).baseAddress!   // (C_stem, images, h, w)
        maxPoolBackward(dy, argmax: cache.argmax, outputs: planes * plan.pooledSide * plan.pooledSide, into: dStem,
                        planes: planes, inputPlane: stemPlane, clear: true)
        convBNBackward(stem, dStem, into: dStem, reluOutput: cache.stemActivated, cache: cache.stem, images: images,
                       columns: columns, weightScratch: weights, dx: nil)
    }
}
