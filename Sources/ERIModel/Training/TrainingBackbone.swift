import ERICore

/// The ResNet backbone in training mode: BatchNorm on batch statistics over
/// all B·F frames (SPEC §5), running statistics updated, every activation
/// kept for the backward pass. CNHW layout throughout, as in inference.
struct TrainBackbone {
    struct ConvBN {
        let shape: Conv2dShape
        let weight: Parameter
        let gamma: Parameter, beta: Parameter, runningMean: Parameter, runningVar: Parameter
        init(_ p: Parameters, conv: String, bn: String, _ shape: Conv2dShape) {
            self.shape = shape
            weight = p[conv + ".weight"]
            gamma = p[bn + ".weight"]; beta = p[bn + ".bias"]
            runningMean = p[bn + ".running_mean"]; runningVar = p[bn + ".running_var"]
        }
    }
    struct Block { let conv1: ConvBN, conv2: ConvBN, down: ConvBN? }

    /// One conv + BN application: its input, and BN's x̂ and 1/σ.
    struct ConvCache {
        let input: UnsafePointer<Float>, side: Int
        let normalised: UnsafeMutablePointer<Float>, inverseStd: UnsafeMutablePointer<Float>
    }
    struct BlockCache {
        let conv1: ConvCache, conv2: ConvCache, down: ConvCache?
        let hidden: UnsafeMutablePointer<Float>  // ReLU(BN1(conv1 x))
        let output: UnsafeMutablePointer<Float>  // ReLU(main + shortcut)
    }
    struct Cache {
        let images: Int
        let stem: ConvCache, stemActivated: UnsafeMutablePointer<Float>, stemSide: Int
        let argmax: UnsafeMutablePointer<Int32>, pooledSide: Int
        let blocks: [BlockCache]
        let map: UnsafeMutablePointer<Float>, mapSide: Int
    }

    let channels: Int, imageSize: Int
    let stem: ConvBN
    let blocks: [Block]
    let outputWidth: Int

    init(_ p: Parameters, config v: ERIConfig.Video) {
        channels = v.channels
        imageSize = v.imageSize
        let b = v.backbone
        stem = ConvBN(p, conv: "video.backbone.stem.conv", bn: "video.backbone.stem.bn",
                      Conv2dShape(inputs: v.channels, outputs: b.stemChannels, kernel: 3, stride: 2, padding: 1))
        blocks = v.backboneBlocks.map { k in
            let q = k.prefix
            return Block(
                conv1: ConvBN(p, conv: "\(q).conv1", bn: "\(q).bn1", Conv2dShape(inputs: k.inputs, outputs: k.outputs, kernel: 3, stride: k.stride, padding: 1)),
                conv2: ConvBN(p, conv: "\(q).conv2", bn: "\(q).bn2", Conv2dShape(inputs: k.outputs, outputs: k.outputs, kernel: 3, stride: 1, padding: 1)),
                down: k.hasShortcutConv
                    ? ConvBN(p, conv: "\(q).down.conv", bn: "\(q).down.bn", Conv2dShape(inputs: k.inputs, outputs: k.outputs, kernel: 1, stride: k.stride, padding: 0))
                    : nil)
        }
        outputWidth = b.widths.last!
    }

    /// The largest im2col scratch any layer needs for `images` frames.
    func columnsSize(images: Int) -> Int {
        var side = stem.shape.outputSide(imageSize)
        var size = stem.shape.patch * side * side
        side = (side - 1) / 2 + 1
        for b in blocks {
            let out = b.conv1.shape.outputSide(side)
            size = max(size, b.conv1.shape.patch * out * out, b.conv2.shape.patch * out * out)
            if let d = b.down { size = max(size, d.shape.patch * out * out) }
            side = out
        }
        return size * images
    }

    /// conv (no bias) → training BatchNorm, into a new buffer.
    func convBN(_ layer: ConvBN, _ x: UnsafePointer<Float>, images: Int, side: Int, columns: UnsafeMutablePointer<Float>,
                arena: Arena) -> (UnsafeMutablePointer<Float>, ConvCache) {
        let out = layer.shape.outputSide(side)
        let m = images * out * out
        let y = arena.floats(layer.shape.outputs * m).baseAddress!
        let zero = arena.zeros(layer.shape.outputs).baseAddress!
        conv2d(x, shape: layer.shape, images: images, height: side, width: side, weight: layer.weight.value, bias: zero,
               relu: false, columns: columns, into: y)
        let cache = ConvCache(input: x, side: side, normalised: arena.floats(layer.shape.outputs * m).baseAddress!,
                              inverseStd: arena.floats(layer.shape.outputs).baseAddress!)
        batchNormTraining(y, channels: layer.shape.outputs, perChannel: m, gamma: layer.gamma.value, beta: layer.beta.value,
                          runningMean: layer.runningMean.value, runningVar: layer.runningVar.value,
                          normalised: cache.normalised, inverseStd: cache.inverseStd)
        return (y, cache)
    }

    /// frames: images × C × S × S (NCHW). Returns the CNHW map (C_out × images × h × w) and the cache.
    func forward(_ frames: UnsafePointer<Float>, images: Int, arena: Arena) -> Cache {
        let s = imageSize, plane = s * s
        let input = arena.floats(channels * images * plane).baseAddress!
        for i in 0..<images { for c in 0..<channels {
            (input + (c * images + i) * plane).update(from: frames + (i * channels + c) * plane, count: plane)
        } }
        let columns = arena.floats(columnsSize(images: images)).baseAddress!
        let (stemOut, stemCache) = convBN(stem, input, images: images, side: s, columns: columns, arena: arena)
        var side = stem.shape.outputSide(s)
        relu(stemOut, stem.shape.outputs * images * side * side)
        let pooledSide = (side - 1) / 2 + 1
        let pooledCount = stem.shape.outputs * images * pooledSide * pooledSide
        var x = arena.floats(pooledCount).baseAddress!
        let argmax = UnsafeMutableRawPointer(arena.floats(pooledCount).baseAddress!).bindMemory(to: Int32.self, capacity: pooledCount)
        maxPool3x3s2Training(stemOut, planes: stem.shape.outputs * images, height: side, width: side, into: x, argmax: argmax)
        let stemSide = side
        side = pooledSide
        var caches: [BlockCache] = []
        for b in blocks {
            let (h, c1) = convBN(b.conv1, x, images: images, side: side, columns: columns, arena: arena)
            let out = b.conv1.shape.outputSide(side)
            let n = b.conv1.shape.outputs * images * out * out
            relu(h, n)
            let (y, c2) = convBN(b.conv2, h, images: images, side: out, columns: columns, arena: arena)
            var downCache: ConvCache? = nil
            if let d = b.down {
                let (sc, cd) = convBN(d, x, images: images, side: side, columns: columns, arena: arena)
                addInPlace(y, sc, n)
                downCache = cd
            } else {
                addInPlace(y, x, n)
            }
            relu(y, n)
            caches.append(BlockCache(conv1: c1, conv2: c2, down: downCache, hidden: h, output: y))
            x = y
            side = out
        }
        return Cache(images: images, stem: stemCache, stemActivated: stemOut, stemSide: stemSide, argmax: argmax,
                     pooledSide: pooledSide, blocks: caches, map: x, mapSide: side)
    }

    /// BN backward then conv weight gradient; adds the input gradient to `dx` when given.
    func convBNBackward(_ layer: ConvBN, _ dy: UnsafeMutablePointer<Float>, cache: ConvCache, images: Int,
                        columns: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?) {
        let out = layer.shape.outputSide(cache.side)
        batchNormBackward(dy, channels: layer.shape.outputs, perChannel: images * out * out, gamma: layer.gamma.value,
                          normalised: cache.normalised, inverseStd: cache.inverseStd, dGamma: layer.gamma.gradient, dBeta: layer.beta.gradient)
        conv2dBackward(dy, cache.input, shape: layer.shape, images: images, height: cache.side, width: cache.side,
                       weight: layer.weight.value, dWeight: layer.weight.gradient, dx: dx, columns: columns)
    }

    /// dMap (CNHW, overwritten) → parameter gradients.
    func backward(_ dMap: UnsafeMutablePointer<Float>, cache: Cache, arena: Arena) {
        let images = cache.images
        let columns = arena.floats(columnsSize(images: images)).baseAddress!
        var dy = dMap
        for (b, c) in zip(blocks, cache.blocks).reversed() {
            let side = c.conv1.side, out = b.conv1.shape.outputSide(side)
            let n = b.conv1.shape.outputs * images * out * out
            reluBackward(c.output, dy, n)                      // dy is now d(main + shortcut)
            let inCount = b.conv1.shape.inputs * images * side * side
            let dx = arena.zeros(inCount).baseAddress!
            if let d = b.down {
                let dShort = arena.floats(n).baseAddress!
                dShort.update(from: dy, count: n)
                convBNBackward(d, dShort, cache: c.down!, images: images, columns: columns, dx: dx)
            } else {
                addInPlace(dx, dy, n)
            }
            let dHidden = arena.zeros(n).baseAddress!
            convBNBackward(b.conv2, dy, cache: c.conv2, images: images, columns: columns, dx: dHidden)
            reluBackward(c.hidden, dHidden, n)
            convBNBackward(b.conv1, dHidden, cache: c.conv1, images: images, columns: columns, dx: dx)
            dy = dx
        }
        let stemCount = stem.shape.outputs * images * cache.stemSide * cache.stemSide
        let dStem = arena.zeros(stemCount).baseAddress!
        maxPoolBackward(dy, argmax: cache.argmax, outputs: stem.shape.outputs * images * cache.pooledSide * cache.pooledSide, into: dStem)
        reluBackward(cache.stemActivated, dStem, stemCount)
        convBNBackward(stem, dStem, cache: cache.stem, images: images, columns: columns, dx: nil)
    }
}
