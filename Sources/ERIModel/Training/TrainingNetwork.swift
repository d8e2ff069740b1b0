import ERICore

/// A batch for one training step, preprocessed (SPEC §4).
public struct TrainingBatch {
    public var input: NetworkInput
    /// B × 7 labels in [0, 1].
    public var targets: Tensor
    public init(input: NetworkInput, targets: Tensor) { self.input = input; self.targets = targets }
}

/// The network of SPEC §5 in training mode over a `Parameters` set: forward
/// with batch-statistics BatchNorm, dropout and modality dropout, the loss,
/// and the backward pass that fills every parameter's gradient.
public final class TrainingNetwork: @unchecked Sendable {
    public let parameters: Parameters
    let config: ERIConfig
    let video: (backbone: TrainBackbone, spatial: TrainEncoder, score: TrainLinear, proj: TrainLinear, tcn: TrainTCN, temporal: TrainEncoder)?
    let audio: (mean: Parameter, std: Parameter, proj: TrainLinear, tcn: TrainTCN, temporal: TrainEncoder)?
    let fc1: TrainLinear, fc2: TrainLinear
    let dropout: Dropout
    let modalityDropout: Float
    let arena = Arena(bytes: 16 << 20)
    /// Bytes of im2col matrices the backbone's forward pass may keep for the
    /// backward pass instead of recomputing them there: in forward order, each
    /// layer's is kept while it fits in what is left (dbn-small at batch 8
    /// needs about 133 MiB for all). 0 recomputes all; the step is bit-identical either way.
    public var columnMemoryBudget = 256 << 20

    public init(parameters p: Parameters) {
        BLASKernels.selectFastKernels()
        parameters = p
        config = p.config
        let rate = Float(config.train.dropout)
        if let v = config.video {
            video = (TrainBackbone(p, config: v),
                     TrainEncoder(p, prefix: "video.spatial", width: v.tokenWidth, config: v.spatial, dropout: rate),
                     TrainLinear(p, "video.spatial.score"), TrainLinear(p, "video.proj"),
                     TrainTCN(p, prefix: "video.tcn", width: v.dim, config: v.tcn, dropout: rate),
                     TrainEncoder(p, prefix: "video.temporal", width: v.dim, config: v.temporal, dropout: rate))
        } else { video = nil }
        if let a = config.audio {
            audio = (p["audio.norm.mean"], p["audio.norm.std"], TrainLinear(p, "audio.proj"),
                     TrainTCN(p, prefix: "audio.tcn", width: a.dim, config: a.tcn, dropout: rate),
                     TrainEncoder(p, prefix: "audio.temporal", width: a.dim, config: a.temporal, dropout: rate))
        } else { audio = nil }
        fc1 = TrainLinear(p, "head.fc1")
        fc2 = TrainLinear(p, "head.fc2")
        dropout = Dropout(p: rate)
        modalityDropout = Float(config.train.modalityDropout)
    }

    /// One forward + backward pass: returns the loss and the predictions, and
    /// ADDS the gradients to `parameters` (zero them between steps). BatchNorm
    /// running statistics are updated as PyTorch's train mode does.
    public func step(_ batch: TrainingBatch, rng: inout SeededGenerator) throws -> (loss: Float, predictions: Tensor) {
        arena.reset()
        let input = batch.input
        guard input.frames != nil || input.mfcc != nil else { throw ERIError(.missingModality, "a training batch needs frames or audio") }
        if input.frames != nil && video == nil { throw ERIError(.missingModality, "this model has no video branch") }
        if input.mfcc != nil && audio == nil { throw ERIError(.missingModality, "this model has no audio branch") }
        let b = input.frames?.shape[0] ?? input.mfcc!.shape[0]
        guard batch.targets.shape == [b, 7] else { throw ERIError.invalidArgument("targets must be \(b) × 7") }
        let zWidth = config.fusedWidth
        let z = arena.zeros(b * zWidth).baseAddress!
        let vDim = config.video?.dim ?? 0

        // Branch forwards.
        var videoState: VideoState? = nil
        if let v = video, let frames = input.frames {
            videoState = try videoForward(v, frames, arena: arena, rng: &rng)
            for i in 0..<b { (z + i * zWidth).update(from: videoState!.u + i * vDim, count: vDim) }
        }
        var audioState: AudioState? = nil
        if let a = audio, let mfcc = input.mfcc {
            audioState = try audioForward(a, mfcc, lengths: input.audioLengths, arena: arena, rng: &rng)
            let aDim = config.audio!.dim
            for i in 0..<b { (z + i * zWidth + vDim).update(from: audioState!.u + i * aDim, count: aDim) }
        }
        // Modality dropout (SPEC §5): per clip, with probability p zero u_v or u_a (½ each).
        var keepVideo = [Bool](repeating: true, count: b), keepAudio = [Bool](repeating: true, count: b)
        if video != nil && audio != nil && modalityDropout > 0 {
            for i in 0..<b where rng.uniform(0, 1) < modalityDropout {
                if rng.uniform(0, 1) < 0.5 { keepVideo[i] = false } else { keepAudio[i] = false }
            }
            for i in 0..<b {
                if !keepVideo[i] { (z + i * zWidth).update(repeating: 0, count: vDim) }
                if !keepAudio[i] { (z + i * zWidth + vDim).update(repeating: 0, count: zWidth - vDim) }
            }
        }
        // Head: y = sigmoid(fc2(Drop(ReLU(fc1(z))))).
        let hidden = arena.floats(b * fc1.outputs).baseAddress!
        fc1.forward(z, rows: b, into: hidden)
        relu(hidden, b * fc1.outputs)
        let activated = arena.floats(b * fc1.outputs).baseAddress!
        activated.update(from: hidden, count: b * fc1.outputs)
        let headMask = dropout.forward(activated, b * fc1.outputs, arena: arena, rng: &rng)
        var y = Tensor(zeros: [b, 7])
        y.data.withUnsafeMutableBufferPointer { out in
            fc2.forward(activated, rows: b, into: out.baseAddress!)
            for i in 0..<out.count { out[i] = sigmoid(out[i]) }
        }
        let (loss, dy) = eriLoss(predictions: y.data, targets: batch.targets.data, batch: b, pccWeight: Float(config.train.pccWeight))

        // Backward through the head.
        let dLogits = arena.floats(b * 7).baseAddress!
        for i in 0..<(b * 7) { dLogits[i] = dy[i] * y.data[i] * (1 - y.data[i]) }
        let dActivated = arena.floats(b * fc1.outputs).baseAddress!
        fc2.backward(dLogits, input: activated, rows: b, dx: dActivated)
        Dropout.backward(headMask, dActivated, b * fc1.outputs)
        reluBackward(hidden, dActivated, b * fc1.outputs)
        let dz = arena.floats(b * zWidth).baseAddress!
        fc1.backward(dActivated, input: z, rows: b, dx: dz)
        if let v = video, let state = videoState {
            let du = arena.floats(b * vDim).baseAddress!
            for i in 0..<b { (du + i * vDim).update(from: dz + i * zWidth, count: vDim); if !keepVideo[i] { (du + i * vDim).update(repeating: 0, count: vDim) } }
            videoBackward(v, state, du: du, arena: arena)
        }
        if let a = audio, let state = audioState {
            let aDim = config.audio!.dim
            let du = arena.floats(b * aDim).baseAddress!
            for i in 0..<b { (du + i * aDim).update(from: dz + i * zWidth + vDim, count: aDim); if !keepAudio[i] { (du + i * aDim).update(repeating: 0, count: aDim) } }
            audioBackward(a, state, du: du, arena: arena)
        }
        return (loss, y)
    }

    struct TailState {
        let tcnCaches: [TrainTCN.BlockCache], encoderCache: TrainEncoder.Cache
        let encoded: UnsafeMutablePointer<Float>, batch: Int, steps: Int, lengths: [Int]?
    }
    struct VideoState {
        let backbone: TrainBackbone.Cache
        let tokens: UnsafeMutablePointer<Float>, spatialCache: TrainEncoder.Cache, encoded: UnsafeMutablePointer<Float>
        let alpha: UnsafeMutablePointer<Float>, vectors: UnsafeMutablePointer<Float>, projected: UnsafeMutablePointer<Float>
        let tail: TailState, u: UnsafeMutablePointer<Float>
    }
    struct AudioState {
        let normalised: UnsafeMutablePointer<Float>, tail: TailState, u: UnsafeMutablePointer<Float>
    }

    private func tailForward(tcn: TrainTCN, encoder: TrainEncoder, _ x: UnsafeMutablePointer<Float>, batch: Int, steps: Int,
                             lengths: [Int]?, width d: Int, rng: inout SeededGenerator) -> (TailState, UnsafeMutablePointer<Float>) {
        let (t, tcnCaches) = tcn.forward(x, sequences: batch, length: steps, valid: lengths, arena: arena, rng: &rng)
        let (encoded, encoderCache) = encoder.forward(t, sequences: batch, length: steps, valid: lengths, arena: arena, rng: &rng)
        let u = arena.zeros(batch * d).baseAddress!
        for i in 0..<batch {
            let valid = lengths?[i] ?? steps
            for s in 0..<valid { addInPlace(u + i * d, encoded + (i * steps + s) * d, d) }
            for j in 0..<d { u[i * d + j] /= Float(valid) }
        }
        return (TailState(tcnCaches: tcnCaches, encoderCache: encoderCache, encoded: encoded, batch: batch, steps: steps, lengths: lengths), u)
    }

    /// du (batch × d) → d(tail input) (batch·steps × d).
    private func tailBackward(tcn: TrainTCN, encoder: TrainEncoder, _ s: TailState, du: UnsafePointer<Float>, width d: Int) -> UnsafeMutablePointer<Float> {
        let rows = s.batch * s.steps
        let dEncoded = arena.zeros(rows * d).baseAddress!
        for i in 0..<s.batch {
            let valid = s.lengths?[i] ?? s.steps
            for t in 0..<valid { for j in 0..<d { dEncoded[(i * s.steps + t) * d + j] = du[i * d + j] / Float(valid) } }
        }
        let dTCN = arena.floats(rows * d).baseAddress!
        encoder.backward(dEncoded, cache: s.encoderCache, arena: arena, dx: dTCN)
        let dx = arena.floats(rows * d).baseAddress!
        tcn.backward(dTCN, caches: s.tcnCaches, sequences: s.batch, length: s.steps, valid: s.lengths, arena: arena, dx: dx)
        return dx
    }

    private func videoForward(_ v: (backbone: TrainBackbone, spatial: TrainEncoder, score: TrainLinear, proj: TrainLinear, tcn: TrainTCN, temporal: TrainEncoder),
                              _ frames: Tensor, arena: Arena, rng: inout SeededGenerator) throws -> VideoState {
        let vc = config.video!
        guard frames.shape.count == 5, Array(frames.shape.dropFirst()) == [vc.frames, vc.channels, vc.imageSize, vc.imageSize] else {
            throw ERIError.invalidArgument("frames tensor has shape \(frames.shape); the model needs B × \(vc.frames) × \(vc.channels) × \(vc.imageSize) × \(vc.imageSize)")
        }
        let b = frames.shape[0], f = vc.frames, images = b * f
        let cache = frames.data.withUnsafeBufferPointer { v.backbone.forward($0.baseAddress!, images: images, columnBudget: columnMemoryBudget / 4, arena: arena) }
        let c = v.backbone.outputWidth, n = cache.mapSide * cache.mapSide
        let tokens = arena.floats(images * n * c).baseAddress!
        for i in 0..<images { for t in 0..<n { for ch in 0..<c { tokens[(i * n + t) * c + ch] = cache.map[(ch * images + i) * n + t] } } }
        let (encoded, spatialCache) = v.spatial.forward(tokens, sequences: images, length: n, valid: nil, arena: arena, rng: &rng)
        let alpha = arena.floats(images * n).baseAddress!
        v.score.forward(encoded, rows: images * n, into: alpha)
        softmaxRows(alpha, rows: images, width: n)
        let vectors = arena.zeros(images * c).baseAddress!
        for i in 0..<images { for t in 0..<n {
            let a = alpha[i * n + t], e = encoded + (i * n + t) * c
            for ch in 0..<c { vectors[i * c + ch] += a * e[ch] }
        } }
        let projected = arena.floats(images * vc.dim).baseAddress!
        v.proj.forward(vectors, rows: images, into: projected)
        let (tail, u) = tailForward(tcn: v.tcn, encoder: v.temporal, projected, batch: b, steps: f, lengths: nil, width: vc.dim, rng: &rng)
        return VideoState(backbone: cache, tokens: tokens, spatialCache: spatialCache, encoded: encoded, alpha: alpha, vectors: vectors,
                          projected: projected, tail: tail, u: u)
    }

    private func videoBackward(_ v: (backbone: TrainBackbone, spatial: TrainEncoder, score: TrainLinear, proj: TrainLinear, tcn: TrainTCN, temporal: TrainEncoder),
                               _ s: VideoState, du: UnsafePointer<Float>, arena: Arena) {
        let vc = config.video!
        let images = s.tail.batch * vc.frames
        let c = v.backbone.outputWidth, n = s.backbone.mapSide * s.backbone.mapSide
        let dProjected = tailBackward(tcn: v.tcn, encoder: v.temporal, s.tail, du: du, width: vc.dim)
        let dVectors = arena.floats(images * c).baseAddress!
        v.proj.backward(dProjected, input: s.vectors, rows: images, dx: dVectors)
        // v = Σ_n α_n E_n, α = softmax(score(E)).
        let dEncoded = arena.floats(images * n * c).baseAddress!
        let dAlpha = arena.floats(images * n).baseAddress!
        for i in 0..<images { for t in 0..<n {
            let e = s.encoded + (i * n + t) * c, g = dVectors + i * c, de = dEncoded + (i * n + t) * c
            let a = s.alpha[i * n + t]
            var dot: Float = 0
            for ch in 0..<c { dot += g[ch] * e[ch]; de[ch] = a * g[ch] }
            dAlpha[i * n + t] = dot
        } }
        softmaxRowsBackward(s.alpha, dAlpha, rows: images, width: n)
        v.score.backward(dAlpha, input: s.encoded, rows: images * n, dx: dEncoded, accumulate: true)
        let dTokens = arena.floats(images * n * c).baseAddress!
        v.spatial.backward(dEncoded, cache: s.spatialCache, arena: arena, dx: dTokens)
        let dMap = arena.floats(images * n * c).baseAddress!
        for i in 0..<images { for t in 0..<n { for ch in 0..<c { dMap[(ch * images + i) * n + t] = dTokens[(i * n + t) * c + ch] } } }
        v.backbone.backward(dMap, cache: s.backbone, arena: arena)
    }

    private func audioForward(_ a: (mean: Parameter, std: Parameter, proj: TrainLinear, tcn: TrainTCN, temporal: TrainEncoder),
                              _ mfcc: Tensor, lengths: [Int]?, arena: Arena, rng: inout SeededGenerator) throws -> AudioState {
        let ac = config.audio!
        guard mfcc.shape.count == 3, mfcc.shape[2] == ac.mfcc.nMFCC, (1...ac.maxSteps).contains(mfcc.shape[1]) else {
            throw ERIError.invalidArgument("MFCC tensor has shape \(mfcc.shape); the model needs B × 1…\(ac.maxSteps) × \(ac.mfcc.nMFCC)")
        }
        let b = mfcc.shape[0], t = mfcc.shape[1], n = ac.mfcc.nMFCC
        if let lengths { guard lengths.count == b, lengths.allSatisfy({ (1...t).contains($0) }) else {
            throw ERIError.invalidArgument("audio lengths \(lengths) must be \(b) values in 1…\(t)") } }
        let normalised = arena.floats(b * t * n).baseAddress!
        mfcc.data.withUnsafeBufferPointer { m in
            for r in 0..<(b * t) { for j in 0..<n { normalised[r * n + j] = (m[r * n + j] - a.mean.value[j]) / a.std.value[j] } }
        }
        let projected = arena.floats(b * t * ac.dim).baseAddress!
        a.proj.forward(normalised, rows: b * t, into: projected)
        let (tail, u) = tailForward(tcn: a.tcn, encoder: a.temporal, projected, batch: b, steps: t, lengths: lengths, width: ac.dim, rng: &rng)
        return AudioState(normalised: normalised, tail: tail, u: u)
    }

    private func audioBackward(_ a: (mean: Parameter, std: Parameter, proj: TrainLinear, tcn: TrainTCN, temporal: TrainEncoder),
                               _ s: AudioState, du: UnsafePointer<Float>, arena: Arena) {
        let ac = config.audio!
        let dProjected = tailBackward(tcn: a.tcn, encoder: a.temporal, s.tail, du: du, width: ac.dim)
        // Padded rows have zero gradient here (the TCN input mask), so proj's
        // weight gradient only sees valid steps, as in the reference.
        a.proj.backward(dProjected, input: s.normalised, rows: s.tail.batch * s.tail.steps, dx: nil)
    }
}
