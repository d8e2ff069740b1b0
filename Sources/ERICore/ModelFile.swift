/// An `.eri` model file (SPEC §2): a safetensors file whose metadata carries
/// the config, and whose tensors are exactly the ones the config requires.
public struct ModelFile: Sendable {
    public static let formatVersion = "1"

    public var config: ERIConfig
    /// Every tensor of `config.tensorSpecs`, by name, as float32.
    public var tensors: [String: Tensor]
    /// Optional `eri.provenance` text.
    public var provenance: String?
    /// Optional `eri.metrics` JSON text.
    public var metrics: String?
    /// The dtype each tensor had on disk (for `eri info`).
    public var storedDTypes: [String: String] = [:]

    public init(config: ERIConfig, tensors: [String: Tensor], provenance: String? = nil, metrics: String? = nil) {
        self.config = config
        self.tensors = tensors
        self.provenance = provenance
        self.metrics = metrics
    }

    /// Opens and validates a model file; every rejection of SPEC §2 is a
    /// distinct message naming the file.
    public static func load(path: String) throws -> ModelFile {
        let file = try SafetensorsFile(path: path)
        let meta = file.metadata
        guard let format = meta["format"] else {
            throw ERIError.format("\(path): not an .eri model: the safetensors metadata has no \"format\" key")
        }
        guard format == "eri" else { throw ERIError.format("\(path): not an .eri model: metadata format is \"\(format)\"") }
        guard let version = meta["eri.version"] else { throw ERIError.format("\(path): metadata has no \"eri.version\"") }
        guard version == formatVersion else {
            throw ERIError.unsupported("\(path): eri.version \"\(version)\" is not supported (this liberi reads version \(formatVersion))")
        }
        guard let configText = meta["eri.config"] else { throw ERIError.format("\(path): metadata has no \"eri.config\"") }
        let config: ERIConfig
        do { config = try ERIConfig(jsonText: configText) } catch let e as ERIError {
            throw ERIError(e.code, "\(path): \(e.message)")
        }
        let specs = config.tensorSpecs
        var tensors: [String: Tensor] = [:]
        var dtypes: [String: String] = [:]
        for spec in specs {
            guard let entry = file.entry(named: spec.name) else {
                throw ERIError.format("\(path): missing tensor \"\(spec.name)\" (shape \(spec.shape)) that the config requires")
            }
            guard entry.shape == spec.shape else {
                throw ERIError.format("\(path): tensor \"\(spec.name)\" has shape \(entry.shape); the config requires \(spec.shape)")
            }
            let values = file.floats(entry)
            try ModelFile.checkValues(values, of: spec.name, path: path)
            tensors[spec.name] = Tensor(shape: spec.shape, data: values)
            dtypes[spec.name] = entry.dtype.rawValue
        }
        if file.entries.count != specs.count {
            let required = Set(specs.map(\.name))
            for entry in file.entries where !required.contains(entry.name) {
                throw ERIError.format("\(path): unexpected tensor \"\(entry.name)\" that the config does not use")
            }
        }
        var model = ModelFile(config: config, tensors: tensors, provenance: meta["eri.provenance"], metrics: meta["eri.metrics"])
        model.storedDTypes = dtypes
        return model
    }

    /// Every value finite and within ±`Limits.maxWeight`; BatchNorm variances
    /// not negative; the MFCC normalisation's std at least `Limits.minStd`
    /// (its values divide). Throws `format` naming the tensor and the index.
    static func checkValues(_ values: [Float], of name: String, path: String) throws {
        let limit = Limits.maxWeight
        if let bad = values.firstIndex(where: { !(abs($0) <= limit) }) {
            let what = values[bad].isFinite ? "\(values[bad]), beyond the ±\(Int(limit)) liberi accepts in a model" : "a non-finite value"
            throw ERIError.format("\(path): tensor \"\(name)\" holds \(what) at index \(bad)")
        }
        if name.hasSuffix(".running_var"), let bad = values.firstIndex(where: { $0 < 0 }) {
            throw ERIError.format("\(path): tensor \"\(name)\" holds a negative variance \(values[bad]) at index \(bad)")
        }
        if name == "audio.norm.std", let bad = values.firstIndex(where: { $0 < Limits.minStd }) {
            throw ERIError.format("\(path): tensor \"\(name)\" holds \(values[bad]) at index \(bad); a normalisation std must be at least \(Limits.minStd)")
        }
    }

    /// Writes the model as float32 safetensors with the metadata of SPEC §2.
    public func save(path: String) throws {
        var named: [NamedTensor] = []
        for spec in config.tensorSpecs {
            guard let t = tensors[spec.name], t.shape == spec.shape else {
                throw ERIError(.internal, "model is missing tensor \(spec.name) or has a wrong shape")
            }
            named.append(NamedTensor(name: spec.name, shape: t.shape, values: t.data))
        }
        var metadata: [(String, String)] = [("format", "eri"), ("eri.version", ModelFile.formatVersion),
                                            ("eri.config", config.json.serialized)]
        if let provenance { metadata.append(("eri.provenance", provenance)) }
        if let metrics { metadata.append(("eri.metrics", metrics)) }
        try writeSafetensors(path: path, tensors: named, metadata: metadata)
    }

    /// A model with PyTorch's default initialisation of the reference module
    /// tree: Linear and Conv weights and biases U(±1/√fan_in) (kaiming_uniform
    /// with a = √5), norm scales 1 and shifts 0, running statistics 0 / 1.
    public static func randomlyInitialised(config: ERIConfig, seed: UInt64) -> ModelFile {
        var rng = SeededGenerator(seed: seed)
        var tensors: [String: Tensor] = [:]
        for spec in config.tensorSpecs {
            let n = spec.elementCount
            var values = [Float](repeating: 0, count: n)
            switch spec.kind {
            case let .weight(fanIn), let .bias(fanIn):
                let bound = 1 / Float(fanIn).squareRoot()
                for i in 0..<n { values[i] = rng.uniform(-bound, bound) }
            case let .constant(c), let .statistic(c):
                for i in 0..<n { values[i] = c }
            }
            tensors[spec.name] = Tensor(shape: spec.shape, data: values)
        }
        return ModelFile(config: config, tensors: tensors, provenance: "random initialisation (seed \(seed))")
    }
}
