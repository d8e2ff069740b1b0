/// A pretrained ResNet for the video branch (issue 14): a torchvision- or timm-layout ResNet-18 or
/// -34 state dict (BasicBlocks: `conv1`, `bn1`, `layer{1…}.{b}.{conv1,bn1,conv2,bn2,downsample.0,
/// downsample.1}`; `fc` is ignored) read from a `torch.save` file or a `.safetensors` file, and
/// the model that starts from it.
public struct PretrainedBackbone: Sendable {
    /// The checkpoint's tensors, by their names in it.
    public let tensors: [String: Tensor]
    /// The backbone it describes: stem channels and kernel (7 for torchvision's), widths, blocks.
    public let backbone: ERIConfig.Backbone
    public let inputChannels: Int
    public let path: String

    public init(path: String) throws {
        self.path = path
        var all: [String: Tensor] = [:]
        if path.hasSuffix(".safetensors") {
            let file = try SafetensorsFile(path: path, integersSkipped: true)
            for e in file.entries { all[e.name] = Tensor(shape: e.shape, data: file.floats(e)) }
        } else {
            all = try TorchCheckpoint(path: path).tensors
        }
        // timm and torchvision name the same tensors alike; a checkpoint saved from a wrapper may prefix them.
        let prefixes = ["", "module.", "model.", "backbone.", "encoder."]
        guard let prefix = prefixes.first(where: { all[$0 + "conv1.weight"] != nil }) else {
            throw ERIError.format("\(path): no conv1.weight: not a torchvision/timm ResNet state dict "
                                  + "(\(all.count) tensors, e.g. \(all.keys.sorted().prefix(3).joined(separator: ", ")))")
        }
        func tensor(_ name: String) -> Tensor? { all[prefix + name] }
        if tensor("layer1.0.conv3.weight") != nil {
            throw ERIError.invalidArgument("\(path): a Bottleneck ResNet (50 or deeper); liberi's video backbone has BasicBlocks "
                                           + "(SPEC §5): use a ResNet-18 or -34")
        }
        let stem = tensor("conv1.weight")!
        guard stem.shape.count == 4, stem.shape[2] == stem.shape[3], [3, 7].contains(stem.shape[2]) else {
            throw ERIError.invalidArgument("\(path): conv1.weight is \(stem.shape); liberi's stem is a square 3×3 or 7×7 convolution")
        }
        var widths: [Int] = [], blocks: [Int] = []
        var stage = 1
        while let first = tensor("layer\(stage).0.conv1.weight") {
            var n = 0
            while tensor("layer\(stage).\(n).conv1.weight") != nil { n += 1 }
            guard first.shape.count == 4 else { throw ERIError.invalidArgument("\(path): layer\(stage).0.conv1.weight is \(first.shape), not a convolution") }
            widths.append(first.shape[0])
            blocks.append(n)
            stage += 1
        }
        guard !widths.isEmpty, widths.count <= 8 else { throw ERIError.invalidArgument("\(path): \(widths.count) ResNet stages (1…8 are read)") }
        inputChannels = stem.shape[1]
        backbone = ERIConfig.Backbone(stemChannels: stem.shape[0], stemKernel: stem.shape[2], widths: widths, blocks: blocks)
        tensors = Dictionary(uniqueKeysWithValues: all.compactMap { k, v in k.hasPrefix(prefix) ? (String(k.dropFirst(prefix.count)), v) : nil })
    }

    /// The checkpoint's name of a liberi backbone tensor (SPEC §6 names), nil for none.
    static func checkpointName(_ name: String) -> String? {
        let head = "video.backbone."
        guard name.hasPrefix(head) else { return nil }
        var parts = name.dropFirst(head.count).split(separator: ".").map(String.init)
        if parts.first == "stem" {   // stem.conv.weight → conv1.weight, stem.bn.X → bn1.X
            return parts[1] == "conv" ? "conv1.\(parts[2])" : "bn1.\(parts[2])"
        }
        guard parts.count >= 4, parts[0] == "stages", let s = Int(parts[1]) else { return nil }
        parts[0] = "layer\(s + 1)"
        parts.remove(at: 1)
        if parts[2] == "down" { parts.replaceSubrange(2...3, with: [parts[3] == "conv" ? "downsample.0" : "downsample.1"]) }
        return parts.joined(separator: ".")
    }

    /// `config` with this backbone in its video branch (the rest of the branch as it was: the
    /// spatial encoder takes the last width).
    public func configure(_ config: ERIConfig) throws -> ERIConfig {
        guard var v = config.video else { throw ERIError.invalidArgument("--backbone: the model has no video branch") }
        guard inputChannels == v.channels else {
            throw ERIError.invalidArgument("\(path): the checkpoint's stem takes \(inputChannels) channels; the model's video is "
                                           + "\(v.color.rawValue) (\(v.channels))")
        }
        v.backbone = backbone
        var c = config
        c.video = v
        c = try ERIConfig(json: c.json)   // every rule a model file's config meets
        try c.checkCosts()
        return c
    }

    /// Copies every backbone tensor of `file` (whose config is `configure`d) from the checkpoint,
    /// BatchNorm running statistics included; returns a line for the log. Fails, naming them, on a
    /// tensor missing or of another shape, and on checkpoint tensors that would be left unused
    /// (but `fc.*`, the classifier liberi does not have).
    public func load(into file: inout ModelFile) throws -> String {
        var used = Set<String>()
        var problems: [String] = []
        for spec in file.config.tensorSpecs where spec.name.hasPrefix("video.backbone.") {
            guard let source = Self.checkpointName(spec.name) else { problems.append("\(spec.name): no name mapping"); continue }
            guard let t = tensors[source] else { problems.append("\(source) (for \(spec.name)) is missing"); continue }
            guard t.shape == spec.shape else { problems.append("\(source) is \(t.shape), \(spec.name) needs \(spec.shape)"); continue }
            file.tensors[spec.name] = t
            used.insert(source)
        }
        let unused = tensors.keys.filter { !used.contains($0) && !$0.hasPrefix("fc.") }.sorted()
        if !unused.isEmpty { problems.append("not used: \(unused.prefix(6).joined(separator: ", "))\(unused.count > 6 ? ", …" : "")") }
        guard problems.isEmpty else {
            throw ERIError.invalidArgument("\(path) does not fit the backbone: " + problems.prefix(8).joined(separator: "; "))
        }
        let b = backbone
        return "backbone from \(path): stem \(b.stemChannels) × \(b.stemKernel)×\(b.stemKernel), widths \(b.widths), blocks \(b.blocks), "
            + "\(used.count) tensors (BatchNorm running statistics included)"
    }
}
