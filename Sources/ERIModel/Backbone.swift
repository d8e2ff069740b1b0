import ERICore

/// SPEC §5 video step 1: the ResNet backbone with every BatchNorm folded into
/// its convolution (inference only), run on a chunk of frames at a time in
/// CNHW layout.
struct ResNetBackbone {
    struct ConvLayer {
        /// How a layer runs: stride-1 3×3 layers through Winograd (F(4×4, 3×3)
        /// on maps of side ≥ 5, F(2×2, 3×3) on smaller ones, see
        /// `Winograd.applies`), the rest through im2col + GEMM (`conv2d`).
        enum Method { case direct, winograd2, winograd4 }

        let shape: Conv2dShape
        let method: Method
        /// Folded weight, PyTorch layout; for Winograd layers its transform
        /// instead (`Winograd.transformWeights`).
        let weight: UnsafePointer<Float>
        let bias: UnsafePointer<Float>

        /// Scratch floats `run` needs for `images` images of side `side`.
        func scratch(images: Int, side: Int) -> Int {
            let (ci, co) = (shape.inputs, shape.outputs)
            switch method {
            case .winograd2: return Winograd.f2x2.scratchCount(inputs: ci, outputs: co, images: images, height: side, width: side)
            case .winograd4: return Winograd.f4x4.scratchCount(inputs: ci, outputs: co, images: images, height: side, width: side)
            case .direct:
                let out = shape.outputSide(side)
                return shape.kernel == 1 && shape.stride == 1 ? 0 : shape.patch * images * out * out
            }
        }

        func run(_ x: UnsafePointer<Float>, images: Int, side: Int, residual: UnsafePointer<Float>? = nil, relu: Bool,
                 scratch: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
            let (ci, co) = (shape.inputs, shape.outputs)
            switch method {
            case .winograd2:
                Winograd.f2x2.forward(x, inputs: ci, outputs: co, images: images, height: side, width: side,
                                      weight: weight, bias: bias, residual: residual, relu: relu, scratch: scratch, into: y)
            case .winograd4:
                Winograd.f4x4.forward(x, inputs: ci, outputs: co, images: images, height: side, width: side,
                                      weight: weight, bias: bias, residual: residual, relu: relu, scratch: scratch, into: y)
            case .direct:
                conv2d(x, shape: shape, images: images, height: side, width: side, weight: weight, bias: bias,
                       residual: residual, relu: relu, columns: scratch, into: y)
            }
        }
    }
    struct Block {
        let conv1: ConvLayer
        let conv2: ConvLayer
        let down: ConvLayer?
    }

    let channels: Int
    let imageSize: Int
    let stem: ConvLayer
    let blocks: [Block]
    let outputWidth: Int
    let outputSide: Int

    init(_ r: WeightReader, config v: ERIConfig.Video) {
        /// `side`: the side of the maps the layer reads (fixed by the config).
        func conv(_ prefix: String, bn: String, _ s: Conv2dShape, side: Int) -> ConvLayer {
            let folded = foldBatchNorm(weight: r.values(prefix + ".weight"), outputs: s.outputs,
                                       gamma: r.values(bn + ".weight"), beta: r.values(bn + ".bias"),
                                       mean: r.values(bn + ".running_mean"), variance: r.values(bn + ".running_var"))
            // Winograd layers keep only the transformed weight (36/9 or 16/9 of the plain one's size).
            let method: ConvLayer.Method = Winograd.f4x4.applies(s, side: side) ? .winograd4 : Winograd.f2x2.applies(s, side: side) ? .winograd2 : .direct
            let weight: [Float]
            switch method {
            case .winograd4: weight = Winograd.f4x4.transformWeights(folded.weight, outputs: s.outputs, inputs: s.inputs)
            case .winograd2: weight = Winograd.f2x2.transformWeights(folded.weight, outputs: s.outputs, inputs: s.inputs)
            case .direct: weight = folded.weight
            }
            return ConvLayer(shape: s, method: method, weight: r.store.put(weight), bias: r.store.put(folded.bias))
        }
        channels = v.channels
        imageSize = v.imageSize
        let b = v.backbone
        let stemShape = Conv2dShape(inputs: v.channels, outputs: b.stemChannels, kernel: 3, stride: 2, padding: 1)
        stem = conv("video.backbone.stem.conv", bn: "video.backbone.stem.bn", stemShape, side: v.imageSize)
        var side = MaxPool2dShape.outputSide(stemShape.outputSide(v.imageSize))
        blocks = v.backboneBlocks.map { k in
            let p = k.prefix
            let s1 = Conv2dShape(inputs: k.inputs, outputs: k.outputs, kernel: 3, stride: k.stride, padding: 1)
            let inSide = side
            side = s1.outputSide(inSide)
            return Block(
                conv1: conv("\(p).conv1", bn: "\(p).bn1", s1, side: inSide),
                conv2: conv("\(p).conv2", bn: "\(p).bn2", Conv2dShape(inputs: k.outputs, outputs: k.outputs, kernel: 3, stride: 1, padding: 1),
                            side: side),
                down: k.hasShortcutConv
                    ? conv("\(p).down.conv", bn: "\(p).down.bn",
                           Conv2dShape(inputs: k.inputs, outputs: k.outputs, kernel: 1, stride: k.stride, padding: 0), side: inSide)
                    : nil)
        }
        outputWidth = b.widths.last!
        outputSide = v.mapSide
    }

    /// Blocks that run at the first stage's resolution, before the first
    /// stride-2 block. With the stem and pooling they form the "wide" part of
    /// the network (large maps, few channels); the rest is the "deep" part.
    var wideBlocks: Int { blocks.firstIndex { $0.conv1.shape.stride != 1 } ?? blocks.count }

    /// Side of the map entering block `index` (`blocks.count`: the output map).
    func side(enteringBlock index: Int) -> Int {
        var side = MaxPool2dShape.outputSide(stem.shape.outputSide(imageSize))
        for block in blocks[0..<index] { side = block.conv1.shape.outputSide(side) }
        return side
    }

    /// Per image: the largest activation and convolution scratch (floats) of
    /// the stem and pooling (when `stem`) and of `range` of the blocks.
    func perImage(stem withStem: Bool, blocks range: Range<Int>) -> (activation: Int, scratch: Int) {
        var activation = 0, scratch = 0
        if withStem {
            let side = stem.shape.outputSide(imageSize)
            activation = stem.shape.outputs * side * side
            scratch = stem.scratch(images: 1, side: imageSize)
        }
        for index in range {
            let block = blocks[index], inSide = side(enteringBlock: index)
            let outSide = block.conv1.shape.outputSide(inSide)
            activation = max(activation, block.conv1.shape.outputs * outSide * outSide)
            scratch = max(scratch, block.conv1.scratch(images: 1, side: inSide), block.conv2.scratch(images: 1, side: outSide))
            if let d = block.down { scratch = max(scratch, d.scratch(images: 1, side: inSide)) }
        }
        return (activation, scratch)
    }

    /// Frames per pass through the wide part: bounds its buffers (about 16 MB
    /// for dbn-base) while keeping its GEMMs (C_out × C_in · C_in × n·tiles,
    /// with only 64 channels) wide enough to run at full speed.
    var wideChunk: Int {
        let p = perImage(stem: true, blocks: 0..<wideBlocks)
        return max(1, (1 << 22) / max(1, 3 * p.activation + p.scratch))
    }

    /// Frames per pass through the deep part. The deep layers have few tiles
    /// per frame (1 to 4 in dbn-base's last stages) but large weights, which
    /// OpenBLAS packs again on every GEMM call: with a few frames per pass,
    /// packing 512×512 weights took longer than the multiply-adds. So it runs
    /// on as many frames as fit in twice the wide part's buffers (all 32 in
    /// dbn-base), split evenly when they do not all fit.
    func deepChunk(images: Int) -> Int {
        let wide = perImage(stem: true, blocks: 0..<wideBlocks), deep = perImage(stem: false, blocks: wideBlocks..<blocks.count)
        let budget = 2 * wideChunk * (3 * wide.activation + wide.scratch)
        let most = max(1, budget / max(1, 4 * deep.activation + deep.scratch))
        let passes = (images + most - 1) / most
        return max(1, (images + passes - 1) / max(1, passes))
    }

    /// frames: images × C × S × S (NCHW, as preprocessing writes them).
    /// Writes tokens: images × (h·w) × C_out, token n = y·w + x (SPEC §5 step 2).
    ///
    /// Runs the wide part `wideChunk` frames at a time, gathering its output
    /// for `deepChunk` frames (not necessarily a multiple), then the deep
    /// part on those all at once.
    func forward(_ frames: UnsafePointer<Float>, images: Int, arena: Arena, tokens: UnsafeMutablePointer<Float>) {
        let s = imageSize
        let plane = s * s
        let split = wideBlocks
        let wideChunk = min(self.wideChunk, images), deepChunk = min(self.deepChunk(images: images), images)
        let wide = perImage(stem: true, blocks: 0..<split), deep = perImage(stem: false, blocks: split..<blocks.count)
        let activation = max(wide.activation * wideChunk, deep.activation * deepChunk)
        let input = arena.floats(channels * wideChunk * plane).baseAddress!
        // The wide part's output for a deep pass, CNHW over deepChunk frames; the deep part's first input.
        let middleSide = side(enteringBlock: split)
        let middleChannels = split == 0 ? stem.shape.outputs : blocks[split - 1].conv2.shape.outputs
        let middle = arena.floats(middleChannels * middleSide * middleSide * deepChunk).baseAddress!
        let bufferA = arena.floats(activation).baseAddress!
        let bufferB = arena.floats(activation).baseAddress!
        let bufferC = arena.floats(activation).baseAddress!
        let shortcut = arena.floats(activation).baseAddress!
        let columns = arena.floats(max(1, wide.scratch * wideChunk, deep.scratch * deepChunk)).baseAddress!

        /// Blocks `range` on `n` frames of side `side` starting in `x`; returns the buffer holding the output.
        func runBlocks(_ range: Range<Int>, _ x: UnsafeMutablePointer<Float>, n: Int, side: Int) -> UnsafeMutablePointer<Float> {
            var current = x, side = side
            var spare = current == bufferA ? bufferC : bufferA
            for block in blocks[range] {
                let outSide = block.conv1.shape.outputSide(side)
                block.conv1.run(current, images: n, side: side, relu: true, scratch: columns, into: bufferB)
                var residual = UnsafePointer(current)
                if let down = block.down {
                    down.run(current, images: n, side: side, relu: false, scratch: columns, into: shortcut)
                    residual = UnsafePointer(shortcut)
                }
                block.conv2.run(bufferB, images: n, side: outSide, residual: residual, relu: true, scratch: columns, into: spare)
                // The block's input is free now, unless it is `middle` (read-only here).
                let output = spare
                spare = current == middle ? (output == bufferA ? bufferC : bufferA) : current
                current = output
                side = outSide
            }
            return current
        }

        var deepStart = 0
        while deepStart < images {
            let deepCount = min(deepChunk, images - deepStart)
            var start = deepStart
            while start < deepStart + deepCount {
                let n = min(wideChunk, deepStart + deepCount - start)
                // NCHW → CNHW for this chunk.
                for i in 0..<n { for c in 0..<channels {
                    (input + (c * n + i) * plane).update(from: frames + ((start + i) * channels + c) * plane, count: plane)
                } }
                let stemSide = stem.shape.outputSide(s)
                stem.run(input, images: n, side: s, relu: true, scratch: columns, into: bufferB)
                maxPool3x3s2(bufferB, planes: stem.shape.outputs * n, height: stemSide, width: stemSide, into: bufferA)
                let out = runBlocks(0..<split, bufferA, n: n, side: middleSide)
                // Gather into `middle` (CNHW over the deep pass's frames).
                let mplane = middleSide * middleSide
                for c in 0..<middleChannels {
                    (middle + (c * deepCount + start - deepStart) * mplane).update(from: out + c * n * mplane, count: n * mplane)
                }
                start += n
            }
            let map = runBlocks(split..<blocks.count, middle, n: deepCount, side: middleSide)
            // CNHW map → tokens (image, n, C).
            let c = outputWidth, hw = outputSide * outputSide
            for i in 0..<deepCount { for t in 0..<hw { for ch in 0..<c {
                tokens[((deepStart + i) * hw + t) * c + ch] = map[(ch * deepCount + i) * hw + t]
            } } }
            deepStart += deepCount
        }
    }
}
