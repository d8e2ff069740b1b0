import ERICore

/// Records intermediate tensors of a forward pass by name, for the parity
/// tests against the PyTorch reference (names as in reference/make_case.py).
public final class ForwardTrace {
    public private(set) var tensors: [String: Tensor] = [:]
    public init() {}
    func record(_ name: String, _ p: UnsafePointer<Float>, shape: [Int]) {
        tensors[name] = Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: p, count: shape.reduce(1, *))))
    }
}

/// Inputs of one batched forward pass, already preprocessed (SPEC §4).
public struct NetworkInput {
    /// B × F × C × S × S normalised frames, or nil when video is absent.
    public var frames: Tensor?
    /// B × T × n_mfcc pooled, capped, NOT normalised MFCC (padded), or nil.
    public var mfcc: Tensor?
    /// Valid steps of each clip's MFCC (1…T); nil means all T.
    public var audioLengths: [Int]?

    public init(frames: Tensor? = nil, mfcc: Tensor? = nil, audioLengths: [Int]? = nil) {
        self.frames = frames
        self.mfcc = mfcc
        self.audioLengths = audioLengths
    }
}

/// The network of SPEC §5 for inference: weights prepared once (BatchNorm
/// folded, conv taps rearranged), immutable afterwards, so one instance
/// serves any number of threads; each call takes its own arena.
final class InferenceNetwork: @unchecked Sendable {
    struct VideoBranch {
        let backbone: ResNetBackbone
        let spatial: TransformerEncoder
        let score: LinearLayer
        let proj: LinearLayer
        let tcn: TemporalConvNet
        let temporal: TransformerEncoder
        let dim: Int
        let frames: Int
    }
    struct AudioBranch {
        let mean: UnsafePointer<Float>
        let std: UnsafePointer<Float>
        let proj: LinearLayer
        let tcn: TemporalConvNet
        let temporal: TransformerEncoder
        let dim: Int
        let coefficients: Int
        let maxSteps: Int
    }

    let config: ERIConfig
    let store = WeightStore()
    let video: VideoBranch?
    let audio: AudioBranch?
    let fc1: LinearLayer
    let fc2: LinearLayer
    let arenas = ArenaPool()

    init(file: ModelFile) {
        config = file.config
        let r = WeightReader(file: file, store: store)
        if let v = config.video {
            let side = v.mapSide
            video = VideoBranch(
                backbone: ResNetBackbone(r, config: v),
                spatial: TransformerEncoder(r, prefix: "video.spatial", width: v.tokenWidth, config: v.spatial, maxLength: side * side),
                score: r.linear("video.spatial.score"),
                proj: r.linear("video.proj"),
                tcn: TemporalConvNet(r, prefix: "video.tcn", width: v.dim, config: v.tcn),
                temporal: TransformerEncoder(r, prefix: "video.temporal", width: v.dim, config: v.temporal, maxLength: v.frames),
                dim: v.dim, frames: v.frames)
        } else {
            video = nil
        }
        if let a = config.audio {
            audio = AudioBranch(
                mean: r.pointer("audio.norm.mean"), std: r.pointer("audio.norm.std"),
                proj: r.linear("audio.proj"),
                tcn: TemporalConvNet(r, prefix: "audio.tcn", width: a.dim, config: a.tcn),
                temporal: TransformerEncoder(r, prefix: "audio.temporal", width: a.dim, config: a.temporal, maxLength: a.maxSteps),
                dim: a.dim, coefficients: a.mfcc.nMFCC, maxSteps: a.maxSteps)
        } else {
            audio = nil
        }
        fc1 = r.linear("head.fc1")
        fc2 = r.linear("head.fc2")
    }

    /// Runs the network on a batch; returns B × 7 intensities.
    func forward(_ input: NetworkInput, trace: ForwardTrace? = nil) throws -> Tensor {
        guard input.frames != nil || input.mfcc != nil else {
            throw ERIError(.missingModality, "no input: give frames, audio or both")
        }
        if input.frames != nil && video == nil { throw ERIError(.missingModality, "this model has no video branch, but frames were given") }
        if input.mfcc != nil && audio == nil { throw ERIError(.missingModality, "this model has no audio branch, but audio was given") }
        let batch = input.frames?.shape[0] ?? input.mfcc!.shape[0]
        if let f = input.frames, let m = input.mfcc, f.shape[0] != m.shape[0] {
            throw ERIError.invalidArgument("frames batch \(f.shape[0]) and audio batch \(m.shape[0]) differ")
        }
        return try arenas.withArena { arena in
            var videoVectors: UnsafeMutablePointer<Float>?
            if let v = video, let frames = input.frames {
                videoVectors = try frameVectors(v, frames, arena: arena, trace: trace)
            }
            return try fuse(batch: batch, videoVectors: videoVectors, mfcc: input.mfcc, audioLengths: input.audioLengths,
                            arena: arena, trace: trace)
        }
    }

    /// The temporal half of the network for one clip whose per-frame vectors
    /// are already known (the streaming path): `videoVectors` is F × dim, each
    /// row `frameVectors` of one frame; `mfcc` is 1 × T × n_mfcc, pooled, not
    /// normalised. Either may be nil, not both. Returns the 7 intensities.
    func forward(videoVectors: UnsafePointer<Float>?, mfcc: Tensor?) throws -> [Float] {
        guard videoVectors != nil || mfcc != nil else {
            throw ERIError(.missingModality, "no input: give frames, audio or both")
        }
        if videoVectors != nil && video == nil { throw ERIError(.missingModality, "this model has no video branch") }
        if mfcc != nil && audio == nil { throw ERIError(.missingModality, "this model has no audio branch") }
        return try arenas.withArena { arena in
            var vectors: UnsafeMutablePointer<Float>?
            if let v = video, let videoVectors {
                let copy = arena.floats(v.frames * v.dim).baseAddress!  // the TCN works in place
                copy.update(from: videoVectors, count: v.frames * v.dim)
                vectors = copy
            }
            return try fuse(batch: 1, videoVectors: vectors, mfcc: mfcc, audioLengths: nil, arena: arena, trace: nil).data
        }
    }

    /// Per-frame vectors of `images` preprocessed C × S × S frames: backbone,
    /// spatial attention pooling and the projection to the temporal width
    /// (SPEC §5 video steps 1–4), images × dim. Each image is independent of
    /// the others (BatchNorm is folded), which is what lets a stream compute
    /// a frame's vector once and reuse it in every window that holds it.
    ///
    /// Not `throws`, on purpose: Swift 6.3's optimiser miscompiled the
    /// throwing form (a non-throwing closure passed to the `rethrows`
    /// `withArena`, inside a throwing function) so that it returned a
    /// register it had used for a pointer as the error: release builds
    /// crashed on a thrown-error check after a successful call. The caller
    /// checks that the model has a video branch.
    func frameVectors(images: Int, _ frames: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        guard let v = video else { preconditionFailure("frameVectors needs a video branch") }
        arenas.withArena { arena in
            let projected = projectedFrames(v, frames, images: images, arena: arena, trace: nil)
            out.update(from: projected, count: images * v.dim)
        }
    }

    /// One pass that scores a two-branch batch three ways: with both modalities, with the
    /// video withheld and with the audio withheld (that branch's part of z zeroed, SPEC §5).
    /// Each branch runs once; each result equals `forward` on the input without that modality.
    func forwardWithheld(_ input: NetworkInput) throws -> (both: Tensor, withoutVideo: Tensor, withoutAudio: Tensor) {
        guard let v = video, audio != nil, let frames = input.frames, let mfcc = input.mfcc else {
            throw ERIError(.missingModality, "scoring with a modality withheld needs a two-branch model and both inputs")
        }
        let batch = frames.shape[0]
        guard mfcc.shape[0] == batch else { throw ERIError.invalidArgument("frames batch \(batch) and audio batch \(mfcc.shape[0]) differ") }
        return try arenas.withArena { arena in
            let vectors = try frameVectors(v, frames, arena: arena, trace: nil)
            let z = try fusedInput(batch: batch, videoVectors: vectors, mfcc: mfcc, audioLengths: input.audioLengths, arena: arena, trace: nil)
            let zWidth = config.fusedWidth
            let both = head(z, batch: batch, arena: arena, trace: nil)
            let withheld = arena.floats(batch * zWidth).baseAddress!
            withheld.update(from: z, count: batch * zWidth)
            for b in 0..<batch { (withheld + b * zWidth).update(repeating: 0, count: v.dim) }
            let withoutVideo = head(withheld, batch: batch, arena: arena, trace: nil)
            withheld.update(from: z, count: batch * zWidth)
            for b in 0..<batch { (withheld + b * zWidth + v.dim).update(repeating: 0, count: zWidth - v.dim) }
            return (both, withoutVideo, head(withheld, batch: batch, arena: arena, trace: nil))
        }
    }

    /// z = [u_video, u_audio] (an absent modality stays zero, SPEC §5), then the head.
    private func fuse(batch: Int, videoVectors: UnsafeMutablePointer<Float>?, mfcc: Tensor?, audioLengths: [Int]?,
                      arena: Arena, trace: ForwardTrace?) throws -> Tensor {
        let z = try fusedInput(batch: batch, videoVectors: videoVectors, mfcc: mfcc, audioLengths: audioLengths, arena: arena, trace: trace)
        return head(z, batch: batch, arena: arena, trace: trace)
    }

    /// z = [u_video, u_audio], B × |z|; an absent modality stays zero (SPEC §5).
    private func fusedInput(batch: Int, videoVectors: UnsafeMutablePointer<Float>?, mfcc: Tensor?, audioLengths: [Int]?,
                            arena: Arena, trace: ForwardTrace?) throws -> UnsafeMutablePointer<Float> {
        let zWidth = config.fusedWidth
        let z = arena.zeros(batch * zWidth).baseAddress!
        var offset = 0
        if let v = video {
            if let videoVectors {
                let u = temporalTail(tcn: v.tcn, encoder: v.temporal, videoVectors, batch: batch, steps: v.frames, lengths: nil,
                                     width: v.dim, arena: arena, trace: trace, name: "video")
                for b in 0..<batch { (z + b * zWidth).update(from: u + b * v.dim, count: v.dim) }
            }
            offset = v.dim
        }
        if let a = audio, let mfcc {
            let u = try audioForward(a, mfcc, lengths: audioLengths, arena: arena, trace: trace)
            for b in 0..<batch { (z + b * zWidth + offset).update(from: u + b * a.dim, count: a.dim) }
        }
        trace?.record("z", z, shape: [batch, zWidth])
        return z
    }

    /// y = sigmoid(fc2(ReLU(fc1(z)))), B × 7.
    private func head(_ z: UnsafePointer<Float>, batch: Int, arena: Arena, trace: ForwardTrace?) -> Tensor {
        let hidden = arena.floats(batch * fc1.outputs).baseAddress!
        fc1(z, rows: batch, into: hidden)
        relu(hidden, batch * fc1.outputs)
        var y = Tensor(zeros: [batch, ERIConfig.emotionCount])
        y.data.withUnsafeMutableBufferPointer { out in
            fc2(hidden, rows: batch, into: out.baseAddress!)
            for i in 0..<out.count { out[i] = sigmoid(out[i]) }
        }
        trace?.record("y", y.data, shape: y.shape)
        return y
    }

    /// B × F frames → B × F × dim projected frame vectors (checks the shape).
    private func frameVectors(_ v: VideoBranch, _ frames: Tensor, arena: Arena, trace: ForwardTrace?) throws -> UnsafeMutablePointer<Float> {
        let vc = config.video!
        let expected = [frames.shape.first ?? 0, vc.frames, vc.channels, vc.imageSize, vc.imageSize]
        guard frames.shape == expected else {
            throw ERIError.invalidArgument("frames tensor has shape \(frames.shape); the model needs \(expected)")
        }
        return frames.data.withUnsafeBufferPointer {
            projectedFrames(v, $0.baseAddress!, images: frames.shape[0] * vc.frames, arena: arena, trace: trace)
        }
    }

    private func projectedFrames(_ v: VideoBranch, _ frames: UnsafePointer<Float>, images: Int, arena: Arena,
                                 trace: ForwardTrace?) -> UnsafeMutablePointer<Float> {
        let c = v.backbone.outputWidth, n = v.backbone.outputSide * v.backbone.outputSide
        let tokens = arena.floats(images * n * c).baseAddress!
        v.backbone.forward(frames, images: images, arena: arena, tokens: tokens)
        if let trace {
            // The reference records the map as (images, C, h, w).
            var map = [Float](repeating: 0, count: images * n * c)
            for i in 0..<images { for t in 0..<n { for ch in 0..<c { map[(i * c + ch) * n + t] = tokens[(i * n + t) * c + ch] } } }
            trace.record("video.backbone_map", map, shape: [images, c, v.backbone.outputSide, v.backbone.outputSide])
        }
        // Spatial attention: encode tokens, score, softmax over tokens, weighted sum.
        let encoded = v.spatial.forward(tokens, sequences: images, length: n, validLengths: nil, arena: arena)
        let scores = arena.floats(images * n).baseAddress!
        v.score(encoded, rows: images * n, into: scores)
        softmaxRows(scores, rows: images, width: n)
        trace?.record("video.spatial_alpha", scores, shape: [images, n])
        let vectors = arena.zeros(images * c).baseAddress!
        for i in 0..<images {
            for t in 0..<n {
                let alpha = scores[i * n + t]
                let e = encoded + (i * n + t) * c, out = vectors + i * c
                for ch in 0..<c { out[ch] += alpha * e[ch] }
            }
        }
        trace?.record("video.frame_vectors", vectors, shape: [images / v.frames, v.frames, c])
        let projected = arena.floats(images * v.dim).baseAddress!
        v.proj(vectors, rows: images, into: projected)
        return projected
    }

    private func audioForward(_ a: AudioBranch, _ mfcc: Tensor, lengths: [Int]?, arena: Arena, trace: ForwardTrace?) throws -> UnsafeMutablePointer<Float> {
        guard mfcc.shape.count == 3, mfcc.shape[2] == a.coefficients, mfcc.shape[1] >= 1, mfcc.shape[1] <= a.maxSteps else {
            throw ERIError.invalidArgument("MFCC tensor has shape \(mfcc.shape); the model needs B × 1…\(a.maxSteps) × \(a.coefficients)")
        }
        let batch = mfcc.shape[0], t = mfcc.shape[1], n = a.coefficients
        if let lengths {
            guard lengths.count == batch, lengths.allSatisfy({ (1...t).contains($0) }) else {
                throw ERIError.invalidArgument("audio lengths \(lengths) must be \(batch) values in 1…\(t)")
            }
        }
        // SPEC §4.2 step 5: (M − mean) / std, then proj.
        let normalised = arena.floats(batch * t * n).baseAddress!
        mfcc.data.withUnsafeBufferPointer { m in
            for r in 0..<(batch * t) { for j in 0..<n { normalised[r * n + j] = (m[r * n + j] - a.mean[j]) / a.std[j] } }
        }
        let projected = arena.floats(batch * t * a.dim).baseAddress!
        a.proj(normalised, rows: batch * t, into: projected)
        return temporalTail(tcn: a.tcn, encoder: a.temporal, projected, batch: batch, steps: t, lengths: lengths,
                            width: a.dim, arena: arena, trace: trace, name: "audio")
    }

    /// TCN → temporal encoder (key padding mask) → mean over valid steps.
    private func temporalTail(tcn: TemporalConvNet, encoder: TransformerEncoder, _ x: UnsafeMutablePointer<Float>,
                              batch: Int, steps: Int, lengths: [Int]?, width d: Int, arena: Arena,
                              trace: ForwardTrace?, name: String) -> UnsafeMutablePointer<Float> {
        tcn.forward(x, sequences: batch, length: steps, validLengths: lengths, arena: arena)
        trace?.record("\(name).tcn", x, shape: [batch, steps, d])
        let encoded = encoder.forward(x, sequences: batch, length: steps, validLengths: lengths, arena: arena)
        trace?.record("\(name).temporal", encoded, shape: [batch, steps, d])
        let u = arena.zeros(batch * d).baseAddress!
        for b in 0..<batch {
            let valid = lengths?[b] ?? steps
            for s in 0..<valid { addInPlace(u + b * d, encoded + (b * steps + s) * d, d) }
            let inv = 1 / Float(valid)
            for j in 0..<d { u[b * d + j] *= inv }
        }
        trace?.record("\(name).u", u, shape: [batch, d])
        return u
    }
}
