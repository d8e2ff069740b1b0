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

    /// One conv + BN application: its input (and its im2col matrix when the
    /// forward kept it), and BN's x̂ and 1/σ.
    struct ConvCache {
        let input: UnsafePointer<Float>, side: Int
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
        side = MaxPool2dShape.outputSide(side)
        for b in blocks {
            let out = b.conv1.shape.outputSide(side)
            size = max(size, b.conv1.shape.patch * out * out, b.conv2.shape.patch * out * out)
            if let d = b.down { size = max(size, d.shape.patch * out * out) }
            side = out
        }
        return size * images
    }

    /// conv (no bias) → training BatchNorm (→ + residual → ReLU when asked), into a new buffer.
    /// The im2col matrix goes to a buffer of its own, kept for the backward
    /// pass, while `keptFloats` stays within `columnBudget`; else to `columns`.
    func convBN(_ layer: ConvBN, _ x: UnsafePointer<Float>, images: Int, side: Int, columns: UnsafeMutablePointer<Float>,
                columnBudget: Int, keptFloats: inout Int, residual: UnsafePointer<Float>? = nil, relu: Bool = false,
                arena: Arena) -> (UnsafeMutablePointer<Float>, ConvCache) {
        let s = layer.shape
        let out = s.outputSide(side)
        let m = images * out * out
        let y = arena.floats(s.outputs * m).baseAddress!
        var kept: UnsafeMutablePointer<Float>? = nil
        let direct = s.kernel == 1 && s.stride == 1 && s.padding == 0
        if !direct && keptFloats + s.patch * m <= columnBudget {
            kept = arena.floats(s.patch * m).baseAddress!
            keptFloats += s.patch * m
        }
        conv2dTraining(x, shape: s, images: images, height: side, width: side, weight: layer.weight.value,
                       columns: kept ?? columns, into: y)
        let cache = ConvCache(input: x, side: side, columns: kept.map { UnsafePointer($0) },
                              normalised: arena.floats(s.outputs * m).baseAddress!,
                              inverseStd: arena.floats(s.outputs).baseAddress!)
        batchNormTraining(y, channels: s.outputs, perChannel: m, gamma: layer.gamma.value, beta: layer.beta.value,
                          runningMean: layer.runningMean.value, runningVar: layer.runningVar.value,
                          normalised: cache.normalised, inverseStd: cache.inverseStd, residual: residual, relu: relu)
        return (y, cache)
    }

    /// frames: images × C × S × S (NCHW). Returns the CNHW map (C_out × images × h × w) and the cache.
    /// `columnBudget`: how many floats of im2col matrices the forward may keep for the backward pass.
    func forward(_ frames: UnsafePointer<Float>, images: Int, columnBudget: Int, arena: Arena) -> Cache {
        let s = imageSize, plane = s * s
        let input = arena.floats(channels * images * plane).baseAddress!
        for i in 0..<images { for c in 0..<channels {
            (input + (c * images + i) * plane).update(from: frames + (i * channels + c) * plane, count: plane)
        } }
        let columns = arena.floats(columnsSize(images: images)).baseAddress!
        var kept = 0
        let (stemOut, stemCache) = convBN(stem, input, images: images, side: s, columns: columns, columnBudget: columnBudget,
                                          keptFloats: &kept, relu: true, arena: arena)
        var side = stem.shape.outputSide(s)
        let pooledSide = MaxPool2dShape.outputSide(side)
        let pooledCount = stem.shape.outputs * images * pooledSide * pooledSide
        var x = arena.floats(pooledCount).baseAddress!
        let argmax = UnsafeMutableRawPointer(arena.floats(pooledCount).baseAddress!).bindMemory(to: Int32.self, capacity: pooledCount)
        maxPool3x3s2Training(stemOut, planes: stem.shape.outputs * images, height: side, width: side, into: x, argmax: argmax)
        let stemSide = side
        side = pooledSide
        var caches: [BlockCache] = []
        for b in blocks {
            let (h, c1) = convBN(b.conv1, x, images: images, side: side, columns: columns, columnBudget: columnBudget,
                                 keptFloats: &kept, relu: true, arena: arena)
            let out = b.conv1.shape.outputSide(side)
            // The shortcut first, so that conv2's BatchNorm adds it and applies the ReLU in one pass.
            var shortcut = UnsafePointer(x)
            var downCache: ConvCache? = nil
            if let d = b.down {
                let (sc, cd) = convBN(d, x, images: images, side: side, columns: columns, columnBudget: columnBudget,
                                      keptFloats: &kept, arena: arena)
                shortcut = UnsafePointer(sc)
                downCache = cd
            }
            let (y, c2) = convBN(b.conv2, h, images: images, side: out, columns: columns, columnBudget: columnBudget,
                                 keptFloats: &kept, residual: shortcut, relu: true, arena: arena)
            caches.append(BlockCache(conv1: c1, conv2: c2, down: downCache, hidden: h, output: y))
            x = y
            side = out
        }
        return Cache(images: images, stem: stemCache, stemActivated: stemOut, stemSide: stemSide, argmax: argmax,
                     pooledSide: pooledSide, blocks: caches, map: x, mapSide: side)
    }

    /// BN backward (from `dy` into `dBN`, masked by `reluOutput` when the BN
    /// fed a ReLU) then the conv gradients; adds the input gradient to `dx` when given.
    func convBNBackward(_ layer: ConvBN, _ dy: UnsafePointer<Float>, into dBN: UnsafeMutablePointer<Float>,
                        reluOutput: UnsafePointer<Float>?, cache: ConvCache, images: Int,
                        columns: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?) {
        let out = layer.shape.outputSide(cache.side)
        batchNormBackward(dy, into: dBN, channels: layer.shape.outputs, perChannel: images * out * out, gamma: layer.gamma.value,
                          normalised: cache.normalised, inverseStd: cache.inverseStd, dGamma: layer.gamma.gradient,
                          dBeta: layer.beta.gradient, reluOutput: reluOutput)
        conv2dBackward(dBN, cache.input, shape: layer.shape, images: images, height: cache.side, width: cache.side,
                       weight: layer.weight.value, dWeight: layer.weight.gradient, dx: dx, columns: columns,
                       inputColumns: cache.columns)
    }

    /// dMap (CNHW, overwritten) → parameter gradients.
    func backward(_ dMap: UnsafeMutablePointer<Float>, cache: Cache, arena: Arena) {
        let images = cache.images
        let columns = arena.floats(columnsSize(images: images)).baseAddress!
        var dy = dMap
        for (b, c) in zip(blocks, cache.blocks).reversed() {
            let side = c.conv1.side, out = b.conv1.shape.outputSide(side)
            let n = b.conv1.shape.outputs * images * out * out
            // dy is d(output); the ReLU after main + shortcut masks it inside each BN backward.
            let inCount = b.conv1.shape.inputs * images * side * side
            let dx: UnsafeMutablePointer<Float>
            if let d = b.down {
                dx = arena.zeros(inCount).baseAddress!
                let dShort = arena.floats(n).baseAddress!
                convBNBackward(d, dy, into: dShort, reluOutput: c.output, cache: c.down!, images: images, columns: columns, dx: dx)
            } else {
                dx = arena.floats(n).baseAddress!  // the identity shortcut: d(input) starts as the masked dy
                let output = UnsafePointer(c.output), g = UnsafePointer(dy)
                parallelRanges(n, grain: 1 << 15) { r in for i in r { dx[i] = output[i] > 0 ? g[i] : 0 } }
            }
            let dHidden = arena.zeros(n).baseAddress!
            convBNBackward(b.conv2, dy, into: dy, reluOutput: c.output, cache: c.conv2, images: images, columns: columns, dx: dHidden)
            convBNBackward(b.conv1, dHidden, into: dHidden, reluOutput: c.hidden, cache: c.conv1, images: images, columns: columns, dx: dx)
            dy = dx
        }
        let planes = stem.shape.outputs * images
        let stemPlane = cache.stemSide * cache.stemSide
        let dStem = arena.floats(planes * stemPlane).baseAddress!
        maxPoolBackward(dy, argmax: cache.argmax, outputs: planes * cache.pooledSide * cache.pooledSide, into: dStem,
                        planes: planes, inputPlane: stemPlane, clear: true)
        convBNBackward(stem, dStem, into: dStem, reluOutput: cache.stemActivated, cache: cache.stem, images: images,
                       columns: columns, dx: nil)
    }
}
