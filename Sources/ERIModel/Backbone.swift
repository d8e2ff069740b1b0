import ERICore

/// SPEC §5 video step 1: the ResNet backbone with every BatchNorm folded into
/// its convolution (inference only), run on a chunk of frames at a time in
/// CNHW layout.
struct ResNetBackbone {
    struct ConvLayer {
        let shape: Conv2dShape
        let weight: UnsafePointer<Float>
        let bias: UnsafePointer<Float>
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
            return ConvLayer(shape: s, weight: r.store.put(folded.weight), bias: r.store.put(folded.bias))
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

    /// Largest activation and im2col sizes (floats) for `images` frames.
    func scratchSizes(images: Int) -> (activation: Int, columns: Int) {
        var side = stem.shape.outputSide(imageSize)
        var activation = stem.shape.outputs * side * side
        var columns = stem.shape.patch * side * side
        side = (side - 1) / 2 + 1
        for block in blocks {
            let inSide = side
            side = block.conv1.shape.outputSide(inSide)
            activation = max(activation, block.conv1.shape.outputs * side * side)
            columns = max(columns, block.conv1.shape.patch * side * side, block.conv2.shape.patch * side * side)
            if let d = block.down { columns = max(columns, d.shape.patch * side * side) }
        }
        return (activation * images, columns * images)
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
            conv2d(input, shape: stem.shape, images: n, height: s, width: s, weight: stem.weight, bias: stem.bias,
                   relu: true, columns: columns, into: bufferB)
            maxPool3x3s2(bufferB, planes: stem.shape.outputs * n, height: side, width: side, into: bufferA)
            side = (side - 1) / 2 + 1
            for block in blocks {
                let outSide = block.conv1.shape.outputSide(side)
                conv2d(bufferA, shape: block.conv1.shape, images: n, height: side, width: side,
                       weight: block.conv1.weight, bias: block.conv1.bias, relu: true, columns: columns, into: bufferB)
                var residual = UnsafePointer(bufferA)
                if let down = block.down {
                    conv2d(bufferA, shape: down.shape, images: n, height: side, width: side,
                           weight: down.weight, bias: down.bias, relu: false, columns: columns, into: shortcut)
                    residual = UnsafePointer(shortcut)
                }
                conv2d(bufferB, shape: block.conv2.shape, images: n, height: outSide, width: outSide,
                       weight: block.conv2.weight, bias: block.conv2.bias, residual: residual, relu: true,
                       columns: columns, into: bufferC)
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
