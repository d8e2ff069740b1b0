import ERICore
import ERIModel

#if canImport(Glibc)
import Glibc
#endif

/// AdamW (Loshchilov & Hutter) with PyTorch's defaults (β 0.9/0.999, ε 1e-8)
/// and decoupled weight decay applied only to matrices and conv kernels, not
/// to biases and norm scales/shifts (1-D tensors).
public final class AdamW {
    public let parameters: [Parameter]
    public var learningRate: Float
    /// Per parameter (in `parameters` order), the factor on `learningRate` (PyTorch's per-group
    /// `lr`: it scales the decoupled decay too). 0 freezes the parameter: it is neither updated
    /// nor decayed, its moments stay, and its gradient is left out of the clipping norm (as a
    /// PyTorch parameter with `requires_grad = False`).
    public var rateScales: [Float]
    public let weightDecay: Float
    public let beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    /// Steps taken (bias correction uses it).
    public private(set) var step = 0
    var firstMoments: [[Float]]
    var secondMoments: [[Float]]

    public init(parameters: [Parameter], learningRate: Float, weightDecay: Float = 0.01) {
        self.parameters = parameters.filter(\.trainable)
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        rateScales = [Float](repeating: 1, count: self.parameters.count)
        firstMoments = self.parameters.map { [Float](repeating: 0, count: $0.count) }
        secondMoments = self.parameters.map { [Float](repeating: 0, count: $0.count) }
    }

    static func decays(_ p: Parameter) -> Bool { p.shape.count > 1 }

    /// One update from the parameters' current gradients.
    public func update() {
        step += 1
        // The bias corrections in double, as PyTorch computes them (in float, 1 − β₂ at step 1 is 1.3e-5 off).
        let c1 = Float(1 - pow(Double(beta1), Double(step))), c2 = Float(1 - pow(Double(beta2), Double(step)))
        for (k, p) in parameters.enumerated() where rateScales[k] != 0 {
            let gradient = p.gradient!
            let learningRate = self.learningRate * rateScales[k]
            let decay = AdamW.decays(p) ? learningRate * weightDecay : 0
            firstMoments[k].withUnsafeMutableBufferPointer { m in
                secondMoments[k].withUnsafeMutableBufferPointer { v in
                    for i in 0..<p.count {
                        let g = gradient[i]
                        m[i] = beta1 * m[i] + (1 - beta1) * g
                        v[i] = beta2 * v[i] + (1 - beta2) * g * g
                        let mHat = m[i] / c1, vHat = v[i] / c2
                        p.value[i] -= decay * p.value[i] + learningRate * mHat / (vHat.squareRoot() + epsilon)
                    }
                }
            }
        }
    }

    /// Scales all gradients so their global L2 norm is at most `maxNorm`; returns the norm before clipping.
    @discardableResult
    public func clipGradients(maxNorm: Float) -> Float {
        var total = 0.0
        let updated = zip(parameters, rateScales).filter { $0.1 != 0 }.map(\.0)
        for p in updated { let g = p.gradient!; for i in 0..<p.count { total += Double(g[i]) * Double(g[i]) } }
        let norm = Float(total.squareRoot())
        if norm > maxNorm && norm.isFinite {
            let scale = maxNorm / (norm + 1e-6)
            for p in updated { let g = p.gradient!; for i in 0..<p.count { g[i] *= scale } }
        }
        return norm
    }

    /// The optimiser state as named tensors (for checkpoints).
    public func stateTensors() -> [NamedTensor] {
        var out: [NamedTensor] = []
        for (k, p) in parameters.enumerated() {
            out.append(NamedTensor(name: "adam.m." + p.name, shape: p.shape, values: firstMoments[k]))
            out.append(NamedTensor(name: "adam.v." + p.name, shape: p.shape, values: secondMoments[k]))
        }
        return out
    }

    public func restore(from file: SafetensorsFile, step: Int) throws {
        for (k, p) in parameters.enumerated() {
            guard let m = file.entry(named: "adam.m." + p.name), let v = file.entry(named: "adam.v." + p.name),
                  m.shape == p.shape, v.shape == p.shape else {
                throw ERIError.format("\(file.path): checkpoint lacks the optimiser state of \(p.name)")
            }
            firstMoments[k] = file.floats(m)
            secondMoments[k] = file.floats(v)
        }
        self.step = step
    }
}

/// The parameter groups of the staged recipe, each with a learning-rate factor: the video
/// backbone (`video.backbone.*`), the head (`head.*`), and the temporal layers (everything else:
/// spatial attention, projections, TCNs, temporal encoders).
public enum ParameterGroup: String, CaseIterable, Sendable {
    case backbone, temporal, head

    public init(parameterNamed name: String) {
        if name.hasPrefix("video.backbone.") { self = .backbone } else if name.hasPrefix("head.") { self = .head } else { self = .temporal }
    }
}

/// Learning-rate factors per parameter group (1, 1, 1: one rate for all).
public struct GroupRates: Equatable, Sendable {
    public var backbone: Float = 1, temporal: Float = 1, head: Float = 1
    public init(backbone: Float = 1, temporal: Float = 1, head: Float = 1) {
        self.backbone = backbone; self.temporal = temporal; self.head = head
    }

    public subscript(group: ParameterGroup) -> Float {
        switch group {
        case .backbone: return backbone
        case .temporal: return temporal
        case .head: return head
        }
    }

    /// The factors of `parameters`, with the backbone's 0 when `freezeBackbone`.
    public func scales(for parameters: [Parameter], freezeBackbone: Bool = false) -> [Float] {
        parameters.map { p in
            let g = ParameterGroup(parameterNamed: p.name)
            return g == .backbone && freezeBackbone ? 0 : self[g]
        }
    }
}

/// One step of the training recipe, as `eri train` takes it: zero the gradients, forward and
/// backward on `batch`, clip the global gradient norm to `clipNorm`, set the scheduled learning
/// rate, update with AdamW. Returns the batch's loss.
public func optimisationStep(_ network: Network, _ batch: TrainingBatch, optimiser: AdamW, schedule: LearningRateSchedule,
                             clipNorm: Float, rng: inout SeededGenerator) throws -> Float {
    network.parameters.zeroGradients()
    let (loss, _) = try network.step(batch, rng: &rng)
    optimiser.clipGradients(maxNorm: clipNorm)
    optimiser.learningRate = schedule.rate(at: optimiser.step)
    optimiser.update()
    return loss
}

/// Linear warm-up to the peak rate, then cosine decay to `floor`·peak at the last step.
public struct LearningRateSchedule: Sendable {
    public var peak: Float, warmupSteps: Int, totalSteps: Int, floor: Float = 0.05

    public init(peak: Float, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = max(totalSteps, 1)
    }

    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let progress = Float(step - warmupSteps) / Float(max(1, totalSteps - warmupSteps))
        let cosine = 0.5 * (1 + cos(Float.pi * min(progress, 1)))
        return peak * (floor + (1 - floor) * cosine)
    }
}
