import ERICore

/// SPEC §5 video step 3: the spatial encoder over each frame's tokens, a
/// score per token, softmax over the tokens, and the frame vector
/// v = Σ_n α_n E_n.
struct SpatialAttention {
    let encoder: Encoder
    let score: Linear  // (1, C)

    struct Cache {
        let encoder: Encoder.Cache
        let encoded: UnsafeMutablePointer<Float>  // (images·n, C)
        let alpha: UnsafeMutablePointer<Float>    // (images, n)
    }

    /// tokens (images·n × C, read) → the frame vectors (images × C) and α (images × n).
    func forward(_ tokens: UnsafePointer<Float>, images: Int, positions n: Int, arena: Arena, tape: Tape?)
        -> (vectors: UnsafeMutablePointer<Float>, alpha: UnsafeMutablePointer<Float>, cache: Cache?) {
        let c = encoder.width
        let (encoded, encoderCache) = encoder.forward(tokens, sequences: images, length: n, valid: nil, arena: arena, tape: tape)
        let alpha = arena.floats(images * n).baseAddress!    // (images, n)
        score.forward(encoded, rows: images * n, into: alpha)
        softmaxRows(alpha, rows: images, width: n)
        let vectors = arena.zeros(images * c).baseAddress!   // (images, C)
        for i in 0..<images {
            for t in 0..<n {
                let a = alpha[i * n + t], e = encoded + (i * n + t) * c, out = vectors + i * c
                for ch in 0..<c { out[ch] += a * e[ch] }
            }
        }
        return (vectors, alpha, encoderCache.map { Cache(encoder: $0, encoded: encoded, alpha: alpha) })
    }

    /// dVectors (images × C) → dTokens (images·n × C, overwritten).
    func backward(_ dVectors: UnsafePointer<Float>, cache s: Cache, images: Int, positions n: Int, arena: Arena,
                  into dTokens: UnsafeMutablePointer<Float>) {
        let c = encoder.width
        let dEncoded = arena.floats(images * n * c).baseAddress!   // (images·n, C)
        let dAlpha = arena.floats(images * n).baseAddress!         // (images, n)
        for i in 0..<images {
            for t in 0..<n {
                let e = s.encoded + (i * n + t) * c, g = dVectors + i * c, de = dEncoded + (i * n + t) * c
                let a = s.alpha[i * n + t]
                var dot: Float = 0
                for ch in 0..<c { dot += g[ch] * e[ch]; de[ch] = a * g[ch] }
                dAlpha[i * n + t] = dot
            }
        }
        softmaxRowsBackward(s.alpha, dAlpha, rows: images, width: n)
        score.backward(dAlpha, input: s.encoded, rows: images * n, dx: dEncoded, accumulate: true)
        encoder.backward(dEncoded, cache: s.encoder, sequences: images, length: n, arena: arena, into: dTokens)
    }
}

/// SPEC §5 video branch: per frame the backbone, spatial attention and
/// `proj` (steps 1–4), then over the F frames the temporal tail (step 5).
struct VideoBranch {
    let plan: ResNetPlan
    /// The inference executor; nil in a network made for training.
    let folded: FoldedResNet?
    let training: TrainingResNet
    let spatial: SpatialAttention
    let proj: Linear  // (dim, C)
    let tail: TemporalTail
    let frames: Int, dim: Int
    /// Frames whose vectors one inference pass computes together: the pass's
    /// buffers (tokens, the spatial encoder's rows) stay within 64 MiB
    /// however many windows a batch holds (`Limits.maxBatchValues`).
    let inferenceGroup: Int

    init(_ p: Parameters, config v: ERIConfig.Video, inference: Bool) {
        plan = ResNetPlan(config: v)
        folded = inference ? FoldedResNet(plan: plan, parameters: p) : nil
        training = TrainingResNet(plan: plan, parameters: p)
        spatial = SpatialAttention(encoder: Encoder(p, prefix: "video.spatial", width: v.tokenWidth, config: v.spatial,
                                                    maxLength: plan.outputSide * plan.outputSide),
                                   score: Linear(p, "video.spatial.score"))
        proj = Linear(p, "video.proj")
        tail = TemporalTail(p, branch: "video", width: v.dim, tcn: v.tcn, temporal: v.temporal, maxLength: v.frames)
        frames = v.frames
        dim = v.dim
        let n = v.mapSide * v.mapSide, c = v.tokenWidth, layers = v.spatial.layers
        let perImage = n * (c * (3 + 8 * layers) + layers * v.spatial.ff) + 2 * c + v.dim
        inferenceGroup = max(1, (1 << 24) / max(1, perImage))
    }

    struct FrameCache {
        let backbone: TrainingResNet.Cache
        let spatial: SpatialAttention.Cache
        let vectors: UnsafeMutablePointer<Float>  // (images, C)
    }
    struct Cache { let frames: FrameCache, tail: TemporalTail.Cache, batch: Int }

    /// The backbone's tokens of `images` preprocessed C × S × S frames (inference): images × (h·w) × C.
    func backboneTokens(_ pixels: UnsafePointer<Float>, images: Int, arena: Arena) -> UnsafeMutablePointer<Float> {
        let tokens = arena.floats(images * plan.outputSide * plan.outputSide * plan.outputWidth).baseAddress!  // (images, h·w, C)
        folded!.forward(pixels, images: images, arena: arena, tokens: tokens)
        return tokens
    }

    /// Steps 1–4 for `images` preprocessed C × S × S frames: images × dim. Each
    /// image is independent of the others in inference (BatchNorm folded),
    /// which lets a stream compute a frame's vector once, on arrival.
    func frameVectors(_ pixels: UnsafePointer<Float>, images: Int, arena: Arena, tape: Tape?,
                      trace: ForwardTrace?) -> (UnsafeMutablePointer<Float>, FrameCache?) {
        let c = plan.outputWidth, n = plan.outputSide * plan.outputSide
        var backboneCache: TrainingResNet.Cache? = nil
        let tokens: UnsafeMutablePointer<Float>
        if let tape {
            let cache = training.forward(pixels, images: images, columnBudget: tape.columnBudget, arena: arena)
            tokens = arena.floats(images * n * c).baseAddress!   // (images, h·w, C)
            ERIModel.tokens(fromMap: cache.map, channels: c, images: images, positions: n, first: 0, into: tokens)
            backboneCache = cache
        } else {
            tokens = backboneTokens(pixels, images: images, arena: arena)
        }
        if let trace {  // the reference records the map as (images, C, h, w)
            var map = [Float](repeating: 0, count: images * n * c)
            for i in 0..<images { for t in 0..<n { for ch in 0..<c { map[(i * c + ch) * n + t] = tokens[(i * n + t) * c + ch] } } }
            trace.record("video.backbone_map", map, shape: [images, c, plan.outputSide, plan.outputSide])
        }
        let (vectors, alpha, spatialCache) = spatial.forward(tokens, images: images, positions: n, arena: arena, tape: tape)
        trace?.record("video.spatial_alpha", alpha, shape: [images, n])
        trace?.record("video.frame_vectors", vectors, shape: [images / frames, frames, c])
        let projected = arena.floats(images * dim).baseAddress!   // (images, dim)
        proj.forward(vectors, rows: images, into: projected)
        guard let backboneCache, let spatialCache else { return (projected, nil) }
        return (projected, FrameCache(backbone: backboneCache, spatial: spatialCache, vectors: vectors))
    }

    /// Inference: the frame vectors of images `range` of `pixels` (C × S × S each) into
    /// rows `range` of `projected` (images × dim), in passes of at most `inferenceGroup`
    /// images, each pass's buffers taken from `arena` and freed before the next.
    func frameVectors(_ pixels: UnsafePointer<Float>, images range: Range<Int>, into projected: UnsafeMutablePointer<Float>,
                      arena: Arena) {
        let per = plan.channels * plan.imageSize * plan.imageSize
        let mark = arena.mark
        var lo = range.lowerBound
        while lo < range.upperBound {
            let n = min(inferenceGroup, range.upperBound - lo)
            let (v, _) = frameVectors(pixels + lo * per, images: n, arena: arena, tape: nil, trace: nil)
            (projected + lo * dim).update(from: v, count: n * dim)
            arena.rewind(to: mark)
            lo += n
        }
    }

    /// The batch B of a B × F × C × S × S frames tensor; throws for any other shape.
    func batch(of frames: Tensor, config vc: ERIConfig.Video) throws -> Int {
        let expected = [frames.shape.first ?? 0, vc.frames, vc.channels, vc.imageSize, vc.imageSize]
        guard frames.shape == expected, expected[0] > 0 else {
            throw ERIError.invalidArgument("frames tensor has shape \(frames.shape); the model needs B × \(expected.dropFirst().map(String.init).joined(separator: " × "))")
        }
        return expected[0]
    }

    /// B × F × C × S × S frames → u_v (B × dim).
    func forward(_ frames: Tensor, config vc: ERIConfig.Video, arena: Arena, tape: Tape?,
                 trace: ForwardTrace?) throws -> (UnsafeMutablePointer<Float>, Cache?) {
        let batch = try batch(of: frames, config: vc), images = batch * vc.frames
        if tape == nil && trace == nil && images > inferenceGroup {
            // Many windows: the frame vectors a group at a time, each group's buffers freed before the next.
            let projected = arena.floats(images * dim).baseAddress!   // (images, dim)
            frames.data.withUnsafeBufferPointer { frameVectors($0.baseAddress!, images: 0..<images, into: projected, arena: arena) }
            let (u, _) = tail.forward(projected, sequences: batch, length: vc.frames, valid: nil, arena: arena, tape: nil,
                                      trace: nil, name: "video")
            return (u, nil)
        }
        let (projected, frameCache) = frames.data.withUnsafeBufferPointer {
            frameVectors($0.baseAddress!, images: images, arena: arena, tape: tape, trace: trace)
        }
        let (u, tailCache) = tail.forward(projected, sequences: batch, length: vc.frames, valid: nil, arena: arena, tape: tape,
                                          trace: trace, name: "video")
        guard let frameCache, let tailCache else { return (u, nil) }
        return (u, Cache(frames: frameCache, tail: tailCache, batch: batch))
    }

    /// The temporal tail alone, on per-frame vectors already known (batch × F rows of `dim`).
    func forward(vectors: UnsafePointer<Float>, batch: Int, arena: Arena, reuse: TemporalReuse? = nil) -> UnsafeMutablePointer<Float> {
        tail.forward(vectors, sequences: batch, length: frames, valid: nil, arena: arena, tape: nil, trace: nil, name: "video",
                     reuse: reuse).0
    }

    /// du_v (B × dim) → the gradients of every video parameter.
    func backward(_ du: UnsafePointer<Float>, cache s: Cache, arena: Arena) {
        let images = s.batch * frames
        let c = plan.outputWidth, n = plan.outputSide * plan.outputSide
        let dProjected = arena.floats(images * dim).baseAddress!   // (images, dim)
        tail.backward(du, cache: s.tail, sequences: s.batch, length: frames, valid: nil, arena: arena, into: dProjected)
        let dVectors = arena.floats(images * c).baseAddress!       // (images, C)
        proj.backward(dProjected, input: s.frames.vectors, rows: images, dx: dVectors)
        let dTokens = arena.floats(images * n * c).baseAddress!    // (images, h·w, C)
        spatial.backward(dVectors, cache: s.frames.spatial, images: images, positions: n, arena: arena, into: dTokens)
        let dMap = arena.floats(images * n * c).baseAddress!       // (C, images, h·w)
        map(fromTokens: dTokens, channels: c, images: images, positions: n, into: dMap)
        training.backward(dMap, cache: s.frames.backbone, arena: arena)
    }
}

/// SPEC §5 audio branch: M (T × n_mfcc) normalised with the stored
/// statistics (SPEC §4.2 step 5) → `proj` → the temporal tail with the key
/// padding mask → the mean over the valid steps.
struct AudioBranch {
    let mean: Parameter, std: Parameter  // (n_mfcc) each
    let proj: Linear                     // (dim, n_mfcc)
    let tail: TemporalTail
    let coefficients: Int, maxSteps: Int, dim: Int

    init(_ p: Parameters, config a: ERIConfig.Audio) {
        mean = p["audio.norm.mean"]
        std = p["audio.norm.std"]
        proj = Linear(p, "audio.proj")
        tail = TemporalTail(p, branch: "audio", width: a.dim, tcn: a.tcn, temporal: a.temporal, maxLength: a.maxSteps)
        coefficients = a.mfcc.nMFCC
        maxSteps = a.maxSteps
        dim = a.dim
    }

    struct Cache {
        let normalised: UnsafeMutablePointer<Float>  // (B·T, n_mfcc)
        let tail: TemporalTail.Cache
        let batch: Int, steps: Int, lengths: [Int]?
    }

    /// mfcc: B × T × n_mfcc pooled, not normalised; `lengths`: valid steps per clip (nil: all T). → u_a (B × dim).
    func forward(_ mfcc: Tensor, lengths: [Int]?, arena: Arena, tape: Tape?, trace: ForwardTrace?, reuse: TemporalReuse? = nil) throws
        -> (UnsafeMutablePointer<Float>, Cache?) {
        guard mfcc.shape.count == 3, mfcc.shape[0] >= 1, mfcc.shape[2] == coefficients, (1...maxSteps).contains(mfcc.shape[1]) else {
            throw ERIError.invalidArgument("MFCC tensor has shape \(mfcc.shape); the model needs B × 1…\(maxSteps) × \(coefficients)")
        }
        let batch = mfcc.shape[0], t = mfcc.shape[1], n = coefficients
        if let lengths {
            guard lengths.count == batch, lengths.allSatisfy({ (1...t).contains($0) }) else {
                throw ERIError.invalidArgument("audio lengths \(lengths) must be \(batch) values in 1…\(t)")
            }
        }
        let normalised = arena.floats(batch * t * n).baseAddress!   // (B·T, n_mfcc)
        mfcc.data.withUnsafeBufferPointer { m in
            for r in 0..<(batch * t) { for j in 0..<n { normalised[r * n + j] = (m[r * n + j] - mean.value[j]) / std.value[j] } }
        }
        let projected = arena.floats(batch * t * dim).baseAddress!  // (B·T, dim)
        proj.forward(normalised, rows: batch * t, into: projected)
        let (u, tailCache) = tail.forward(projected, sequences: batch, length: t, valid: lengths, arena: arena, tape: tape,
                                          trace: trace, name: "audio", reuse: reuse)
        guard let tailCache else { return (u, nil) }
        return (u, Cache(normalised: normalised, tail: tailCache, batch: batch, steps: t, lengths: lengths))
    }

    /// du_a (B × dim) → the gradients of every audio parameter.
    func backward(_ du: UnsafePointer<Float>, cache s: Cache, arena: Arena) {
        let dProjected = arena.floats(s.batch * s.steps * dim).baseAddress!   // (B·T, dim)
        tail.backward(du, cache: s.tail, sequences: s.batch, length: s.steps, valid: s.lengths, arena: arena, into: dProjected)
        // Padded rows have zero gradient here (the TCN input mask), so proj's
        // weight gradient only sees valid steps, as in the reference.
        proj.backward(dProjected, input: s.normalised, rows: s.batch * s.steps, dx: nil)
    }
}

/// SPEC §5 head: y = sigmoid(fc2(Drop(ReLU(fc1(z))))), B × 7.
struct Head {
    let fc1: Linear  // (hidden, |z|)
    let fc2: Linear  // (7, hidden)

    struct Cache {
        let z: UnsafePointer<Float>                   // (B, |z|)
        let hidden: UnsafeMutablePointer<Float>       // ReLU(fc1 z) (B, hidden)
        let activated: UnsafeMutablePointer<Float>    // fc2's input (B, hidden)
        let mask: UnsafeMutablePointer<Float>?
        let y: UnsafeMutablePointer<Float>            // (B, 7)
    }

    func forward(_ z: UnsafePointer<Float>, batch: Int, arena: Arena, tape: Tape?) -> (UnsafeMutablePointer<Float>, Cache?) {
        let hidden = arena.floats(batch * fc1.outputs).baseAddress!   // (B, hidden)
        fc1.forward(z, rows: batch, into: hidden)
        relu(hidden, batch * fc1.outputs)
        var activated = hidden
        if tape != nil {
            activated = arena.floats(batch * fc1.outputs).baseAddress!  // (B, hidden)
            activated.update(from: hidden, count: batch * fc1.outputs)
        }
        let mask = tape?.drop(activated, batch * fc1.outputs)
        let y = arena.floats(batch * ERIConfig.emotionCount).baseAddress!  // (B, 7)
        fc2.forward(activated, rows: batch, into: y)
        for i in 0..<(batch * ERIConfig.emotionCount) { y[i] = sigmoid(y[i]) }
        guard tape != nil else { return (y, nil) }
        return (y, Cache(z: z, hidden: hidden, activated: activated, mask: mask, y: y))
    }

    /// dL/dy (B × 7) → dz (B × |z|, overwritten).
    func backward(_ dy: [Float], cache c: Cache, batch: Int, arena: Arena, into dz: UnsafeMutablePointer<Float>) {
        let k = ERIConfig.emotionCount
        let dLogits = arena.floats(batch * k).baseAddress!                  // (B, 7)
        for i in 0..<(batch * k) { dLogits[i] = dy[i] * c.y[i] * (1 - c.y[i]) }
        let dActivated = arena.floats(batch * fc1.outputs).baseAddress!     // (B, hidden)
        fc2.backward(dLogits, input: c.activated, rows: batch, dx: dActivated)
        undrop(c.mask, dActivated, batch * fc1.outputs)
        reluBackward(c.hidden, dActivated, batch * fc1.outputs)
        fc1.backward(dActivated, input: c.z, rows: batch, dx: dz)
    }
}
