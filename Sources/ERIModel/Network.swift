import ERICore

/// Records intermediate tensors of a forward pass by name, for the parity
/// tests against the PyTorch reference (names as in reference/make_case.py).
public final class ForwardTrace {
    public private(set) var tensors: [String: Tensor] = [:]
    public init() {}
    func record(_ name: String, _ p: UnsafePointer<Float>, shape: [Int]) {
        tensors[name] = Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: p, count: shape.reduce(1, *))))
    }
    func record(_ name: String, _ values: [Float], shape: [Int]) {
        tensors[name] = Tensor(shape: shape, data: values)
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

extension NetworkInput {
    /// Clips `range` of the batch: the same tensors' rows (the audio keeps its padded length).
    func clips(_ range: Range<Int>) -> NetworkInput {
        func rows(_ t: Tensor) -> Tensor {
            let per = t.shape.dropFirst().reduce(1, *)
            return Tensor(shape: [range.count] + t.shape.dropFirst(), data: Array(t.data[(range.lowerBound * per)..<(range.upperBound * per)]))
        }
        return NetworkInput(frames: frames.map(rows), mfcc: mfcc.map(rows), audioLengths: audioLengths.map { Array($0[range]) })
    }
}

/// A batch for one training step, preprocessed (SPEC §4).
public struct TrainingBatch {
    public var input: NetworkInput
    /// B × 7 labels in [0, 1].
    public var targets: Tensor
    public init(input: NetworkInput, targets: Tensor) { self.input = input; self.targets = targets }
}

/// The network of SPEC §5: preprocessed tensors in, seven intensities out.
///
/// Made for inference (`init(file:)`), it folds every BatchNorm once and is
/// immutable afterwards, so any number of threads may run it; each call
/// takes its own arena. Made for training (`init(training:)`), it runs
/// `step`: the forward pass with a tape (batch-statistics BatchNorm, dropout,
/// modality dropout), the loss, and the backward pass into the parameters'
/// gradients. Both run the same blocks.
public final class Network: @unchecked Sendable {
    public let parameters: Parameters
    public let config: ERIConfig
    let video: VideoBranch?
    let audio: AudioBranch?
    let head: Head
    let arenas = ArenaPool()
    /// The training step's arena: after the first step it holds one block of the step's peak size.
    private let stepArena = Arena(bytes: 16 << 20)
    /// Bytes of im2col matrices the backbone's training forward may keep for
    /// the backward pass instead of recomputing them there: in forward order,
    /// each layer's is kept while it fits in what is left (dbn-small at batch 8
    /// needs about 133 MiB for all). 0 recomputes all; the step is bit-identical either way.
    public var columnMemoryBudget = 256 << 20

    /// The network for inference on `file`'s weights (no gradient buffers).
    public convenience init(file: ModelFile) {
        self.init(parameters: Parameters(file: file, gradients: false), inference: true)
    }

    /// The network for training on `parameters`, which must have gradient buffers.
    public convenience init(training parameters: Parameters) {
        precondition(parameters.hasGradients, "a training network needs Parameters made with gradients")
        self.init(parameters: parameters, inference: false)
    }

    private init(parameters p: Parameters, inference: Bool) {
        BLASKernels.selectFastKernels()
        parameters = p
        config = p.config
        video = config.video.map { VideoBranch(p, config: $0, inference: inference) }
        audio = config.audio.map { AudioBranch(p, config: $0) }
        head = Head(fc1: Linear(p, "head.fc1"), fc2: Linear(p, "head.fc2"))
    }

    // MARK: - The forward pass

    struct Fused {
        let z: UnsafeMutablePointer<Float>  // (B, |z|)
        let batch: Int
        let video: VideoBranch.Cache?, audio: AudioBranch.Cache?
    }

    /// The batch size of `input`, checking the modality rule of SPEC §7
    /// (`ERIConfig.checkModalities`) and that the batches agree.
    private func batchSize(_ input: NetworkInput) throws -> Int {
        try config.checkModalities(video: input.frames != nil, audio: input.mfcc != nil)
        if let f = input.frames, let m = input.mfcc, f.shape.first != m.shape.first {
            throw ERIError.invalidArgument("frames batch \(f.shape.first ?? 0) and audio batch \(m.shape.first ?? 0) differ")
        }
        return input.frames?.shape.first ?? input.mfcc!.shape.first ?? 0
    }

    /// Both branches and z = [u_video ; u_audio] (SPEC §5); an absent modality stays zero.
    private func fused(_ input: NetworkInput, batch: Int, arena: Arena, tape: Tape?, trace: ForwardTrace?) throws -> Fused {
        let zWidth = config.fusedWidth, vDim = video?.dim ?? 0
        let z = arena.zeros(batch * zWidth).baseAddress!   // (B, |z|)
        if tape == nil && trace == nil && computeThreads() > 1, let video, let frames = input.frames {
            try concurrentBranches(video, frames, input, batch: batch, arena: arena, z: z)
            return Fused(z: z, batch: batch, video: nil, audio: nil)
        }
        var videoCache: VideoBranch.Cache? = nil, audioCache: AudioBranch.Cache? = nil
        if let video, let frames = input.frames {
            let (u, cache) = try video.forward(frames, config: config.video!, arena: arena, tape: tape, trace: trace)
            for b in 0..<batch { (z + b * zWidth).update(from: u + b * vDim, count: vDim) }
            videoCache = cache
        }
        if let audio, let mfcc = input.mfcc {
            let (u, cache) = try audio.forward(mfcc, lengths: input.audioLengths, arena: arena, tape: tape, trace: trace)
            for b in 0..<batch { (z + b * zWidth + vDim).update(from: u + b * audio.dim, count: audio.dim) }
            audioCache = cache
        }
        trace?.record("z", z, shape: [batch, zWidth])
        return Fused(z: z, batch: batch, video: videoCache, audio: audioCache)
    }

    /// Inference on several threads: the audio branch (when the model and the input
    /// have one) and the video branch's per-image work (backbone, spatial attention,
    /// `proj`; each image independent of the others, BatchNorm being folded) in runs of
    /// consecutive images (`videoRuns`), all as `parallelTasks`: the audio first, then
    /// the runs in order, each taken by whichever thread is free. Splitting every kernel
    /// over the threads instead left dbn-small (64 px, 16 frames: small products, many
    /// short kernels) no faster at two threads than at one, and dbn-base's backbone at
    /// 70 % of the FMA peak where one thread reaches 100 %. The temporal tails and the
    /// head then run on the caller.
    ///
    /// Results repeat exactly, and equal those without a modality where the other
    /// one is concerned (`forwardWithheld` relies on it): a kernel inside a task splits
    /// its work as it would on its own, running the parts in turn, so the audio
    /// branch's floats are those of an audio-only pass; and the runs depend only on
    /// the model, the batch and the thread count, never on which thread takes them, so
    /// a camera-only pass of a two-branch model computes the same runs. They may differ
    /// from one thread's in the last bits (a run of fewer images may take another GEMM
    /// kernel), as a GEMM split over threads may.
    private func concurrentBranches(_ video: VideoBranch, _ frames: Tensor, _ input: NetworkInput, batch: Int, arena: Arena,
                                    z: UnsafeMutablePointer<Float>) throws {
        let vc = config.video!, zWidth = config.fusedWidth
        _ = try video.batch(of: frames, config: vc)   // the frames' shape, checked before any thread starts
        let images = batch * vc.frames, dim = video.dim
        let runs = videoRuns(batch: batch, audio: audio != nil)
        let projected = arena.floats(images * dim).baseAddress!   // (images, dim)
        // The audio task, first when the model and the input both have audio.
        let audioTask = audio.flatMap { branch in input.mfcc.map { (branch, $0) } }
        let first = audioTask == nil ? 0 : 1   // the task that takes run 0
        var audioError: Error? = nil
        frames.data.withUnsafeBufferPointer { pixels in
            parallelTasks(first + runs.count - 1) { task in
                arenas.withArena { (taskArena: Arena) -> Void in
                    if task < first, let (branch, mfcc) = audioTask {
                        do {
                            let (u, _) = try branch.forward(mfcc, lengths: input.audioLengths, arena: taskArena, tape: nil, trace: nil)
                            for b in 0..<batch { (z + b * zWidth + dim).update(from: u + b * branch.dim, count: branch.dim) }
                        } catch {
                            audioError = error
                        }
                        return
                    }
                    let r = task - first
                    video.frameVectors(pixels.baseAddress!, images: runs[r]..<runs[r + 1], into: projected, arena: taskArena)
                }
            }
        }
        if let audioError { throw audioError }
        let u = video.forward(vectors: projected, batch: batch, arena: arena)   // (B, dim)
        for b in 0..<batch { (z + b * zWidth).update(from: u + b * dim, count: dim) }
    }

    /// The runs of a batch's images that `concurrentBranches` gives its threads, run r
    /// being images runs[r] ..< runs[r + 1]. Without `audio`, one equal run per thread.
    /// With `audio` (a two-branch model, whose audio branch is the first task and takes
    /// one thread for a while), the last of those equal shares is cut into one run per
    /// thread: with audio, the threads that took the big runs and the one that ran the
    /// audio share the small runs as each comes free, however long the audio takes
    /// (its clip length varies); without it, one thread takes the small runs while the
    /// others take a big one, as even as equal runs. (Smaller runs throughout would
    /// balance as well but cost more: dbn-small's backbone takes ~25 % longer per image
    /// in runs of 4 than in runs of 16.) Empty runs are left out.
    func videoRuns(batch: Int, audio: Bool) -> [Int] {
        let threads = computeThreads(), images = batch * config.video!.frames
        var starts = (0..<threads).map { images * $0 / threads }
        if audio && threads > 1 {
            let last = starts[threads - 1]
            starts += (1..<threads).map { last + (images - last) * $0 / threads }
        }
        var runs = [0]
        for s in starts.dropFirst() + [images] where s > runs.last! { runs.append(s) }
        return runs
    }

    /// The head on z for inference: a B × 7 tensor. Throws `internal` when z
    /// or an intensity is not finite: weights and inputs are bounded where
    /// they enter, but their product may still overflow, and an intensity
    /// from an overflowed z (NaN, or a sigmoid saturated by ±∞) means nothing.
    private func predictions(_ z: UnsafePointer<Float>, batch: Int, arena: Arena, trace: ForwardTrace?) throws -> Tensor {
        let zWidth = config.fusedWidth
        if let bad = (0..<(batch * zWidth)).first(where: { !z[$0].isFinite }) {
            let part = bad % zWidth < (video?.dim ?? 0) ? "video" : "audio"
            throw ERIError(.internal, "the network's \(part) branch overflowed (z[\(bad % zWidth)] of clip \(bad / zWidth) is \(z[bad])): "
                           + "the model's weights or normalisation make this input overflow float32")
        }
        let (y, _) = head.forward(z, batch: batch, arena: arena, tape: nil)
        let out = Tensor(shape: [batch, ERIConfig.emotionCount], data: Array(UnsafeBufferPointer(start: y, count: batch * ERIConfig.emotionCount)))
        if let bad = out.data.firstIndex(where: { !($0.isFinite && $0 >= 0 && $0 <= 1) }) {
            throw ERIError(.internal, "the network's head gave \(out.data[bad]) for \(ERIConfig.emotionNames[bad % ERIConfig.emotionCount]) "
                           + "(clip \(bad / ERIConfig.emotionCount)): the model's weights overflow float32 on this input")
        }
        trace?.record("y", out.data, shape: out.shape)
        return out
    }

    private func requireInference() throws {
        guard video == nil || video!.folded != nil else {
            throw ERIError(.internal, "this network was made for training; inference needs Network(file:)")
        }
    }

    // MARK: - Inference

    /// Runs the network on a batch (SPEC §4 already applied); returns B × 7
    /// intensities in [0, 1]. A modality the model has but the input lacks is
    /// a zero vector in z (SPEC §5).
    ///
    /// A large batch (many windows of one long input) runs `windowGroup`
    /// clips at a time, each group in its arena, so that the pass's buffers
    /// stay bounded however many clips the batch holds; clips are
    /// independent in inference, so the result is the same.
    public func forward(_ input: NetworkInput, trace: ForwardTrace? = nil) throws -> Tensor {
        try requireInference()
        let batch = try batchSize(input)
        let group = windowGroup(steps: input.mfcc?.shape[1] ?? 0)
        if trace == nil && batch > group {
            var out: [Float] = []
            out.reserveCapacity(batch * ERIConfig.emotionCount)
            var start = 0
            while start < batch {
                let n = min(group, batch - start)
                out += try forward(input.clips(start..<(start + n))).data
                start += n
            }
            return Tensor(shape: [batch, ERIConfig.emotionCount], data: out)
        }
        return try arenas.withArena { arena in
            let f = try fused(input, batch: batch, arena: arena, tape: nil, trace: trace)
            return try predictions(f.z, batch: batch, arena: arena, trace: trace)
        }
    }

    /// Clips per inference pass: what one clip's buffers take (the video branch's frames,
    /// both temporal tails over `steps` audio steps) fits 64 MiB that many times, at least once.
    func windowGroup(steps: Int) -> Int {
        func tail(_ e: ERIConfig.Encoder, length: Int, width: Int, tcn: Int) -> Int {
            length * (e.layers * (8 * width + e.ff) + (2 * tcn + 2) * width)
        }
        var perClip = 0
        if let v = config.video {
            let n = v.mapSide * v.mapSide, c = v.tokenWidth, layers = v.spatial.layers
            perClip += v.frames * (v.channels * v.imageSize * v.imageSize + n * (c * (3 + 8 * layers) + layers * v.spatial.ff) + 2 * c + v.dim)
            perClip += tail(v.temporal, length: v.frames, width: v.dim, tcn: v.tcn.dilations.count)
        }
        if let a = config.audio {
            perClip += tail(a.temporal, length: max(1, steps), width: a.dim, tcn: a.tcn.dilations.count) + steps * a.mfcc.nMFCC
        }
        return max(1, (1 << 24) / max(1, perClip))
    }

    /// One pass that scores a two-branch batch three ways: with both modalities, with the
    /// video withheld and with the audio withheld (that branch's part of z zeroed, SPEC §5).
    /// Each branch runs once; each result equals `forward` on the input without that modality.
    public func forwardWithheld(_ input: NetworkInput) throws -> (both: Tensor, withoutVideo: Tensor, withoutAudio: Tensor) {
        guard let video, audio != nil, input.frames != nil, input.mfcc != nil else {
            throw ERIError(.missingModality, "scoring with a modality withheld needs a two-branch model and both inputs")
        }
        try requireInference()
        let batch = try batchSize(input)
        return try arenas.withArena { arena in
            let z = try fused(input, batch: batch, arena: arena, tape: nil, trace: nil).z
            let zWidth = config.fusedWidth
            let both = try predictions(z, batch: batch, arena: arena, trace: nil)
            let withheld = arena.floats(batch * zWidth).baseAddress!   // (B, |z|)
            withheld.update(from: z, count: batch * zWidth)
            for b in 0..<batch { (withheld + b * zWidth).update(repeating: 0, count: video.dim) }
            let withoutVideo = try predictions(withheld, batch: batch, arena: arena, trace: nil)
            withheld.update(from: z, count: batch * zWidth)
            for b in 0..<batch { (withheld + b * zWidth + video.dim).update(repeating: 0, count: zWidth - video.dim) }
            return (both, withoutVideo, try predictions(withheld, batch: batch, arena: arena, trace: nil))
        }
    }

    /// The per-frame vectors of `images` preprocessed C × S × S frames: the
    /// backbone, spatial attention and `proj` (SPEC §5 video steps 1–4),
    /// images × dim. Each image is independent of the others (BatchNorm is
    /// folded), which is what lets a stream compute a frame's vector once and
    /// reuse it in every window that holds it.
    ///
    /// Not `throws`, on purpose: Swift 6.3's optimiser miscompiled the
    /// throwing form (a non-throwing closure passed to the `rethrows`
    /// `withArena`, inside a throwing function) so that it returned a
    /// register it had used for a pointer as the error: release builds
    /// crashed on a thrown-error check after a successful call. The caller
    /// checks that the model has a video branch and the network is for inference.
    public func frameVectors(images: Int, _ pixels: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        guard let video, video.folded != nil else { preconditionFailure("frameVectors needs an inference network with a video branch") }
        arenas.withArena { arena in
            let (projected, _) = video.frameVectors(pixels, images: images, arena: arena, tape: nil, trace: nil)
            out.update(from: projected, count: images * video.dim)
        }
    }

    /// The temporal half of the network for one clip whose per-frame vectors
    /// are already known (the streaming path): `videoVectors` is F × dim, each
    /// row `frameVectors` of one frame; `mfcc` is 1 × T × n_mfcc, pooled, not
    /// normalised. Either may be nil, not both. Returns the 7 intensities.
    /// `reuse` (one per stream) lets successive windows share the TCN rows that
    /// did not change (`TemporalReuse`); the result is the same, bit for bit.
    public func forward(videoVectors: UnsafePointer<Float>?, mfcc: Tensor?, reuse: TemporalReuse? = nil) throws -> [Float] {
        try config.checkModalities(video: videoVectors != nil, audio: mfcc != nil)
        try requireInference()
        return try arenas.withArena { arena in
            let zWidth = config.fusedWidth
            let z = arena.zeros(zWidth).baseAddress!   // (1, |z|)
            if let video, let videoVectors {
                z.update(from: video.forward(vectors: videoVectors, batch: 1, arena: arena, reuse: reuse), count: video.dim)
            }
            if let audio, let mfcc {
                let (u, _) = try audio.forward(mfcc, lengths: nil, arena: arena, tape: nil, trace: nil, reuse: reuse)
                (z + (video?.dim ?? 0)).update(from: u, count: audio.dim)
            }
            return try predictions(z, batch: 1, arena: arena, trace: nil).data
        }
    }

    /// Runs the video backbone alone (SPEC §5 video step 1) on B × F × C × S × S
    /// normalised frames and returns its token maps, (B·F) × (h·w) × C_out with
    /// token n = y·w + x (step 2). For benchmarks and diagnostics.
    public func backboneTokens(frames: Tensor) throws -> Tensor {
        guard let video, let vc = config.video else { throw ERIError(.missingModality, "this model has no video branch") }
        try requireInference()
        let expected = [frames.shape.first ?? 0, vc.frames, vc.channels, vc.imageSize, vc.imageSize]
        guard frames.shape == expected, expected[0] > 0 else {
            throw ERIError.invalidArgument("frames tensor has shape \(frames.shape); the model needs \(expected)")
        }
        let images = expected[0] * vc.frames, positions = video.plan.outputSide * video.plan.outputSide
        let per = vc.channels * vc.imageSize * vc.imageSize, perTokens = positions * video.plan.outputWidth
        var tokens = Tensor(zeros: [images, positions, video.plan.outputWidth])   // (B·F, h·w, C)
        // As a video-only model's pass runs it: one run of images per thread (`concurrentBranches`).
        let runs = videoRuns(batch: expected[0], audio: false)
        frames.data.withUnsafeBufferPointer { f in
            tokens.data.withUnsafeMutableBufferPointer { t in
                parallelTasks(runs.count - 1) { run in
                    let lo = runs[run], hi = runs[run + 1]
                    guard lo < hi else { return }
                    arenas.withArena { arena in
                        (t.baseAddress! + lo * perTokens).update(from: video.backboneTokens(f.baseAddress! + lo * per, images: hi - lo, arena: arena),
                                                                 count: (hi - lo) * perTokens)
                    }
                }
            }
        }
        return tokens
    }

    // MARK: - Training

    /// One forward + backward pass: returns the loss and the predictions, and
    /// ADDS the gradients to `parameters` (zero them between steps). BatchNorm
    /// running statistics are updated as PyTorch's train mode does.
    public func step(_ batch: TrainingBatch, rng: inout SeededGenerator) throws -> (loss: Float, predictions: Tensor) {
        guard parameters.hasGradients else { throw ERIError(.internal, "this network was made for inference; training needs Network(training:)") }
        let b = try batchSize(batch.input)
        let k = ERIConfig.emotionCount
        guard batch.targets.shape == [b, k] else { throw ERIError.invalidArgument("targets must be \(b) × \(k)") }
        stepArena.reset()
        let arena = stepArena
        let tape = Tape(arena: arena, rng: rng, dropout: Float(config.train.dropout), columnBudget: columnMemoryBudget / 4)
        defer { rng = tape.rng }
        let f = try fused(batch.input, batch: b, arena: arena, tape: tape, trace: nil)
        let zWidth = config.fusedWidth, vDim = video?.dim ?? 0
        // Modality dropout (SPEC §5): per clip, with probability p zero u_v or u_a (½ each).
        var keepVideo = [Bool](repeating: true, count: b), keepAudio = [Bool](repeating: true, count: b)
        let modalityDropout = Float(config.train.modalityDropout)
        if video != nil && audio != nil && modalityDropout > 0 {
            for i in 0..<b where tape.rng.uniform(0, 1) < modalityDropout {
                if tape.rng.uniform(0, 1) < 0.5 { keepVideo[i] = false } else { keepAudio[i] = false }
            }
            for i in 0..<b {
                if !keepVideo[i] { (f.z + i * zWidth).update(repeating: 0, count: vDim) }
                if !keepAudio[i] { (f.z + i * zWidth + vDim).update(repeating: 0, count: zWidth - vDim) }
            }
        }
        let (y, headCache) = head.forward(f.z, batch: b, arena: arena, tape: tape)
        let predictions = Tensor(shape: [b, k], data: Array(UnsafeBufferPointer(start: y, count: b * k)))
        let (loss, dy) = eriLoss(predictions: predictions.data, targets: batch.targets.data, batch: b, pccWeight: Float(config.train.pccWeight))
        let dz = arena.floats(b * zWidth).baseAddress!   // (B, |z|)
        head.backward(dy, cache: headCache!, batch: b, arena: arena, into: dz)
        if let video, let cache = f.video {
            let du = arena.floats(b * vDim).baseAddress!   // (B, dim_v)
            for i in 0..<b {
                if keepVideo[i] { (du + i * vDim).update(from: dz + i * zWidth, count: vDim) } else { (du + i * vDim).update(repeating: 0, count: vDim) }
            }
            video.backward(du, cache: cache, arena: arena)
        }
        if let audio, let cache = f.audio {
            let du = arena.floats(b * audio.dim).baseAddress!   // (B, dim_a)
            for i in 0..<b {
                if keepAudio[i] { (du + i * audio.dim).update(from: dz + i * zWidth + vDim, count: audio.dim) }
                else { (du + i * audio.dim).update(repeating: 0, count: audio.dim) }
            }
            audio.backward(du, cache: cache, arena: arena)
        }
        return (loss, predictions)
    }
}
