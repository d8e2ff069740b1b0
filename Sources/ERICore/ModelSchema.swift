/// The tensors a config requires, by SPEC §6 name, in module order. This is
/// the one place the names and shapes are derived; loading, writing,
/// initialisation and `eri info` all read it.
public struct TensorSpec: Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        /// A trained weight with PyTorch's default init: U(±1/√fanIn).
        case weight(fanIn: Int)
        /// A bias with PyTorch's default init: U(±1/√fanIn).
        case bias(fanIn: Int)
        /// Initialised to a constant (norm scales 1, shifts 0) and trained.
        case constant(Float)
        /// Not trained by gradient: BatchNorm running statistics, MFCC normalisation.
        case statistic(Float)
    }
    public var name: String
    public var shape: [Int]
    public var kind: Kind
    public var elementCount: Int { shape.reduce(1, *) }
    public var isTrainable: Bool { if case .statistic = kind { return false }; return true }
}

extension ERIConfig {
    public var tensorSpecs: [TensorSpec] {
        var specs: [TensorSpec] = []
        func linear(_ prefix: String, _ input: Int, _ output: Int) {
            specs.append(TensorSpec(name: "\(prefix).weight", shape: [output, input], kind: .weight(fanIn: input)))
            specs.append(TensorSpec(name: "\(prefix).bias", shape: [output], kind: .bias(fanIn: input)))
        }
        func layerNorm(_ prefix: String, _ d: Int) {
            specs.append(TensorSpec(name: "\(prefix).weight", shape: [d], kind: .constant(1)))
            specs.append(TensorSpec(name: "\(prefix).bias", shape: [d], kind: .constant(0)))
        }
        func batchNorm(_ prefix: String, _ c: Int) {
            layerNorm(prefix, c)
            specs.append(TensorSpec(name: "\(prefix).running_mean", shape: [c], kind: .statistic(0)))
            specs.append(TensorSpec(name: "\(prefix).running_var", shape: [c], kind: .statistic(1)))
        }
        func conv2d(_ prefix: String, _ input: Int, _ output: Int, _ k: Int) {
            specs.append(TensorSpec(name: "\(prefix).weight", shape: [output, input, k, k], kind: .weight(fanIn: input * k * k)))
        }
        func encoder(_ prefix: String, _ d: Int, _ e: Encoder) {
            for l in 0..<e.layers {
                let p = "\(prefix).layers.\(l)"
                layerNorm("\(p).ln1", d)
                linear("\(p).attn.in_proj", d, 3 * d)
                linear("\(p).attn.out_proj", d, d)
                layerNorm("\(p).ln2", d)
                linear("\(p).ff1", d, e.ff)
                linear("\(p).ff2", e.ff, d)
            }
            layerNorm("\(prefix).norm", d)
        }
        func tcn(_ prefix: String, _ d: Int, _ t: TCN) {
            for k in 0..<t.dilations.count {
                for conv in ["conv1", "conv2"] {
                    specs.append(TensorSpec(name: "\(prefix).\(k).\(conv).weight", shape: [d, d, t.kernel], kind: .weight(fanIn: d * t.kernel)))
                    specs.append(TensorSpec(name: "\(prefix).\(k).\(conv).bias", shape: [d], kind: .bias(fanIn: d * t.kernel)))
                }
            }
        }
        if let v = video {
            let b = v.backbone
            conv2d("video.backbone.stem.conv", v.channels, b.stemChannels, b.stemKernel)
            batchNorm("video.backbone.stem.bn", b.stemChannels)
            for block in v.backboneBlocks {
                let p = block.prefix
                conv2d("\(p).conv1", block.inputs, block.outputs, 3)
                batchNorm("\(p).bn1", block.outputs)
                conv2d("\(p).conv2", block.outputs, block.outputs, 3)
                batchNorm("\(p).bn2", block.outputs)
                if block.hasShortcutConv {
                    conv2d("\(p).down.conv", block.inputs, block.outputs, 1)
                    batchNorm("\(p).down.bn", block.outputs)
                }
            }
            encoder("video.spatial", v.tokenWidth, v.spatial)
            linear("video.spatial.score", v.tokenWidth, 1)
            linear("video.proj", v.tokenWidth, v.dim)
            tcn("video.tcn", v.dim, v.tcn)
            encoder("video.temporal", v.dim, v.temporal)
        }
        if let a = audio {
            specs.append(TensorSpec(name: "audio.norm.mean", shape: [a.mfcc.nMFCC], kind: .statistic(0)))
            specs.append(TensorSpec(name: "audio.norm.std", shape: [a.mfcc.nMFCC], kind: .statistic(1)))
            linear("audio.proj", a.mfcc.nMFCC, a.dim)
            tcn("audio.tcn", a.dim, a.tcn)
            encoder("audio.temporal", a.dim, a.temporal)
        }
        linear("head.fc1", fusedWidth, headHidden)
        linear("head.fc2", headHidden, ERIConfig.emotionCount)
        return specs
    }

    /// Trainable parameters (BatchNorm running statistics and the MFCC
    /// normalisation are counted apart, as PyTorch's `parameters()` would).
    public var parameterCount: Int {
        tensorSpecs.filter(\.isTrainable).reduce(0) { $0 + $1.elementCount }
    }
}

extension ERIConfig.Video {
    /// One BasicBlock of the backbone (SPEC §5 video step 1).
    public struct BackboneBlock: Sendable {
        /// Its tensor-name prefix, "video.backbone.stages.{s}.{b}".
        public let prefix: String
        public let inputs: Int, outputs: Int, stride: Int
        /// A 1×1 convolution + BN shortcut (`down`) instead of the identity.
        public var hasShortcutConv: Bool { stride != 1 || inputs != outputs }
    }

    /// The blocks in order: stage s has blocks[s] blocks of widths[s]; a
    /// stage's first block has stride 1 for s = 0 and 2 otherwise. The one
    /// place this layout is derived (schema, inference and training read it).
    public var backboneBlocks: [BackboneBlock] {
        var blocks: [BackboneBlock] = []
        var channels = backbone.stemChannels
        for s in 0..<backbone.widths.count {
            for i in 0..<backbone.blocks[s] {
                blocks.append(BackboneBlock(prefix: "video.backbone.stages.\(s).\(i)", inputs: channels, outputs: backbone.widths[s],
                                            stride: (i == 0 && s > 0) ? 2 : 1))
                channels = backbone.widths[s]
            }
        }
        return blocks
    }
}
