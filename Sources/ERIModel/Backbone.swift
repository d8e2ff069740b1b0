import ERICore

/// SPEC §5 video step 1: the ResNet backbone with every BatchNorm folded into
/// its convolution (inference only), run on a chunk of frames at a time in
/// CNHW layout.
struct ResNetBackbone {
    struct ConvLayer {
        let shape: Conv2dShape
        /// Folded weight, PyTorch layout; for Winograd layers its F(2×2, 3×3)
        /// transform instead (`Winograd3x3.transformWeights`).
        let weight: UnsafePointer<Float>
        let bias: UnsafePointer<Float>
        var winograd: Bool { Winograd3x3.applies(shape) }

        /// Scratch floats `run` needs for `images` images of side `side`.
        func scratch(images: Int, side: Int) -> Int {
            if winograd {
                return Winograd3x3.scratchCount(inputs: shape.inputs, outputs: shape.outputs, images: images, height: side, width: side)
            }
            let out = shape.outputSide(side)
            return shape.kernel == 1 && shape.stride == 1 ? 0 : shape.patch * images * out * out
        }

        func run(_ x: UnsafePointer<Float>, images: Int, side: Int, residual: UnsafePointer<Float>? = nil, relu: Bool,
                 scratch: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
            if winograd {
                Winograd3x3.forward(x, inputs: shape.inputs, outputs: shape.outputs, images: images, height: side, width: side,
                                    weight: weight, bias: bias, residual: residual, relu: relu, scratch: scratch, into: y)
            } else {
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
        func conv(_ prefix: String, bn: String, _ s: Conv2dShape) -> ConvLayer {
            let folded = foldBatchNorm(weight: r.values(prefix + ".weight"), outputs: s.outputs,
                                       gamma: r.values(bn + ".weight"), beta: r.values(bn + ".bias"),
                                       mean: r.values(bn + ".running_mean"), variance: r.values(bn + ".running_var"))
            // Stride-1 3×3 layers keep only their Winograd transform (16/9 of the plain weight's size).
            let weight = Winograd3x3.applies(s)
                ? Winograd3x3.transformWeights(folded.weight, outputs: s.outputs, inputs: s.inputs) : folded.weight
            return ConvLayer(shape: s, weight: r.store.put(weight), bias: r.store.put(folded.bias))
        }
        channels = v.channels
        imageSize = v.imageSize
        let b = v.backbone
        stem = conv("video.backbone.stem.conv", bn: "video.backbone.stem.bn",
                    Conv2dShape(inputs: v.channels, outputs: b.stemChannels, kernel: 3, stride: 2, padding: 1))
        blocks = v.backboneBlocks.map { k in
            let p = k.prefix
            return Block(
                conv1: conv("\(p).conv1", bn: "\(p).bn1", Conv2dShape(inputs: k.inputs, outputs: k.outputs, kernel: 3, stride: k.stride, padding: 1)),
                conv2: conv("\(p).conv2", bn: "\(p).bn2", Conv2dShape(inputs: k.outputs, outputs: k.outputs, kernel: 3, stride: 1, padding: 1)),
                down: k.hasShortcutConv
                    ? conv("\(p).down.conv", bn: "\(p).down.bn", Conv2dShape(inputs: k.inputs, outputs: k.outputs, kernel: 1, stride: k.stride, padding: 0))
                    : nil)
        }
        outputWidth = b.widths.last!
        outputSide = v.mapSide
    }

    /// Frames per backbone pass: bounds the im2col scratch (about 8 MB for
    /// dbn-base) while keeping GEMMs wide enough to run at full speed.
    var chunk: Int { max(1, (1 << 21) / max(1, 9 * stem.shape.outputs * (imageSize / 4) * (imageSize / 4))) }

    /// Largest activation and convolution scratch sizes (floats) for `images` frames.
    func scratchSizes(images: Int) -> (activation: Int, columns: Int) {
        var side = stem.shape.outputSide(imageSize)
        var activation = stem.shape.outputs * side * side * images
        var columns = stem.scratch(images: images, side: imageSize)
        side = (side - 1) / 2 + 1
        for block in blocks {
            let inSide = side
            side = block.conv1.shape.outputSide(inSide)
            activation = max(activation, block.conv1.shape.outputs * side * side * images)
            columns = max(columns, block.conv1.scratch(images: images, side: inSide), block.conv2.scratch(images: images, side: side))
            if let d = block.down { columns = max(columns, d.scratch(images: images, side: inSide)) }
        }
        return (activation, columns)
    }

    /// frames: images × C × S × S (NCHW, as preprocessing writes them).
    /// Writes tokens: images × (h·w) × C_out, token n = y·w + x (SPEC §5 step 2).
    func forward(_ frames: UnsafePointer<Float>, images: Int, arena: Arena, tokens: UnsafeMutablePointer<Float>) {
        let s = imageSize
        let plane = s * s
        let chunk = min(self.chunk, images)
        let sizes = scratchSizes(images: chunk)
        let input = arena.floats(channels * chunk * plane).baseAddress!
        var bufferA = arena.floats(sizes.activation).baseAddress!
        let bufferB = arena.floats(sizes.activation).baseAddress!
        var bufferC = arena.floats(sizes.activation).baseAddress!
        let shortcut = arena.floats(sizes.activation).baseAddress!
        let columns = arena.floats(sizes.columns).baseAddress!
        var start = 0
        while start < images {
            let n = min(chunk, images - start)
            // NCHW → CNHW for this chunk.
            for i in 0..<n { for c in 0..<channels {
                (input + (c * n + i) * plane).update(from: frames + ((start + i) * channels + c) * plane, count: plane)
            } }
            var side = stem.shape.outputSide(s)
            stem.run(input, images: n, side: s, relu: true, scratch: columns, into: bufferB)
            maxPool3x3s2(bufferB, planes: stem.shape.outputs * n, height: side, width: side, into: bufferA)
            side = (side - 1) / 2 + 1
            for block in blocks {
                let outSide = block.conv1.shape.outputSide(side)
                block.conv1.run(bufferA, images: n, side: side, relu: true, scratch: columns, into: bufferB)
                var residual = UnsafePointer(bufferA)
                if let down = block.down {
                    down.run(bufferA, images: n, side: side, relu: false, scratch: columns, into: shortcut)
                    residual = UnsafePointer(shortcut)
                }
                block.conv2.run(bufferB, images: n, side: outSide, residual: residual, relu: true, scratch: columns, into: bufferC)
                swap(&bufferA, &bufferC)
                side = outSide
            }
            // CNHW map → tokens (image, n, C).
            let c = outputWidth, hw = side * side
            for i in 0..<n { for t in 0..<hw { for ch in 0..<c {
                tokens[((start + i) * hw + t) * c + ch] = bufferA[(ch * n + i) * hw + t]
            } } }
            start += n
        }
    }
}
