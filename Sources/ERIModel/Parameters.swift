import ERICore

/// One tensor of the model (SPEC §6): its values and, in a set made for
/// training, its gradient, in stable memory that the layers and the
/// optimiser address directly.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let count: Int
    /// False for BatchNorm running statistics and the MFCC normalisation.
    public let trainable: Bool
    public let value: UnsafeMutablePointer<Float>
    /// dLoss/d`value`, accumulated by backward passes; nil in a set made for
    /// inference, which never runs one.
    public let gradient: UnsafeMutablePointer<Float>?

    init(spec: TensorSpec, values: [Float], gradients: Bool) {
        name = spec.name
        shape = spec.shape
        count = spec.elementCount
        trainable = spec.isTrainable
        value = .allocate(capacity: max(count, 1))
        value.initialize(from: values, count: count)
        if gradients {
            let g = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            g.initialize(repeating: 0, count: max(count, 1))
            gradient = g
        } else {
            gradient = nil
        }
    }

    deinit {
        value.deallocate()
        gradient?.deallocate()
    }

    public var values: [Float] { Array(UnsafeBufferPointer(start: value, count: count)) }
    /// The gradient as an array (empty in an inference set).
    public var gradients: [Float] { gradient.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [] }
}

/// Every tensor of a config, in SPEC §6 order: the one owner of the model's
/// weights. The network's layers hold `Parameter`s from here; the inference
/// backbone derives its folded weights from them once.
public final class Parameters: @unchecked Sendable {
    public let config: ERIConfig
    public let all: [Parameter]
    /// Whether each parameter has a gradient buffer (a set made for training).
    public let hasGradients: Bool
    private let index: [String: Parameter]

    /// The tensors of `file` (validated by `ModelFile.load` against the
    /// config's schema), with gradient buffers when `gradients`.
    public init(file: ModelFile, gradients: Bool = true) {
        config = file.config
        hasGradients = gradients
        all = file.config.tensorSpecs.map { Parameter(spec: $0, values: file.tensors[$0.name]!.data, gradients: gradients) }
        index = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }

    public subscript(name: String) -> Parameter {
        guard let p = index[name] else { preconditionFailure("no parameter \(name)") }
        return p
    }

    public var trainable: [Parameter] { all.filter(\.trainable) }

    public func zeroGradients() {
        for p in all { p.gradient?.update(repeating: 0, count: p.count) }
    }

    /// The current values as a model file (for checkpoints, evaluation and export).
    public func modelFile(provenance: String? = nil, metrics: String? = nil) -> ModelFile {
        var tensors: [String: Tensor] = [:]
        for p in all { tensors[p.name] = Tensor(shape: p.shape, data: p.values) }
        return ModelFile(config: config, tensors: tensors, provenance: provenance, metrics: metrics)
    }
}
