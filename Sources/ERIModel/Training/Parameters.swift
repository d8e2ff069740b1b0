import ERICore

/// One tensor of the model during training: its values and its gradient, in
/// stable memory that layers and the optimiser address directly.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let count: Int
    /// False for BatchNorm running statistics and the MFCC normalisation.
    public let trainable: Bool
    public let value: UnsafeMutablePointer<Float>
    public let gradient: UnsafeMutablePointer<Float>

    init(spec: TensorSpec, values: [Float]) {
        name = spec.name
        shape = spec.shape
        count = spec.elementCount
        trainable = spec.isTrainable
        value = .allocate(capacity: max(count, 1))
        value.initialize(from: values, count: count)
        gradient = .allocate(capacity: max(count, 1))
        gradient.initialize(repeating: 0, count: max(count, 1))
    }

    deinit {
        value.deallocate()
        gradient.deallocate()
    }

    public var values: [Float] { Array(UnsafeBufferPointer(start: value, count: count)) }
    public var gradients: [Float] { Array(UnsafeBufferPointer(start: gradient, count: count)) }
}

/// Every tensor of a config, in SPEC §6 order, for training.
public final class Parameters: @unchecked Sendable {
    public let config: ERIConfig
    public let all: [Parameter]
    private let index: [String: Parameter]

    public init(file: ModelFile) {
        config = file.config
        all = file.config.tensorSpecs.map { Parameter(spec: $0, values: file.tensors[$0.name]!.data) }
        index = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }

    public subscript(name: String) -> Parameter {
        guard let p = index[name] else { preconditionFailure("no parameter \(name)") }
        return p
    }

    public var trainable: [Parameter] { all.filter(\.trainable) }

    public func zeroGradients() {
        for p in all { p.gradient.update(repeating: 0, count: p.count) }
    }

    /// The current values as a model file (for checkpoints, evaluation and export).
    public func modelFile(provenance: String? = nil, metrics: String? = nil) -> ModelFile {
        var tensors: [String: Tensor] = [:]
        for p in all { tensors[p.name] = Tensor(shape: p.shape, data: p.values) }
        return ModelFile(config: config, tensors: tensors, provenance: provenance, metrics: metrics)
    }
}
