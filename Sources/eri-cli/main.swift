import ArgumentParser
import ERICore
import ERIModel
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

/// The `eri` command-line tool (installed as bin/eri).
struct ERICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eri",
        abstract: "liberi: Emotional Reaction Intensity from face video and audio.",
        version: "\(ERIVersion.major).\(ERIVersion.minor).\(ERIVersion.patch)",
        subcommands: [Predict.self, FacesCommand.self, StreamCommand.self, TimelineCommand.self, Train.self, Eval.self, CacheCommand.self, Synth.self, Info.self, Init.self])
}

/// Prints to stderr; the tool's results go to stdout, diagnostics here.
func printError(_ message: String) {
    fputs(message + "\n", stderr)
}

/// Runs a command body, turning an ERIError into "eri: message" and exit code 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ERIError {
        printError("eri: \(e.message)")
        throw ExitCode(1)
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a .eri model: config, branches, parameters, tensors, metadata.")

    @Argument(help: "The .eri model file.") var model: String
    @Flag(help: "List every tensor, not a summary.") var tensors = false
    @Option(help: "Print one tensor's values (as float32, one per line) and nothing else.") var tensor: String?

    func run() throws {
        try reportingErrors {
            let m = try Model(path: model)
            if let name = tensor {
                guard let t = m.file.tensors[name] else { throw ERIError.invalidArgument("\(model): no tensor named \"\(name)\"") }
                print("# \(name) \(t.shape)")
                for v in t.data { print(v) }  // Swift prints the shortest text that reads back exactly
                return
            }
            let c = m.config
            print("model:       \(model)")
            print("preset:      \(m.presetName)")
            var branches: [String] = []
            if let v = c.video {
                branches.append("video (\(v.frames) frames, \(v.imageSize) px \(v.color.rawValue), backbone widths \(v.backbone.widths), dim \(v.dim))")
            }
            if let a = c.audio {
                branches.append("audio (\(a.sampleRate) Hz, \(a.mfcc.nMFCC) MFCC, pool \(a.pool), max \(a.maxSteps) steps, dim \(a.dim))")
            }
            print("branches:    " + branches.joined(separator: "\n             "))
            print("parameters:  \(c.parameterCount) trainable (\(formatMB(c.parameterCount * 4)) as float32)")
            let specs = c.tensorSpecs
            var dtypeCounts: [String: Int] = [:]
            for s in specs { dtypeCounts[m.file.storedDTypes[s.name] ?? "F32", default: 0] += 1 }
            print("tensors:     \(specs.count) (" + dtypeCounts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")")
            if tensors {
                for s in specs {
                    print("  \(s.name)  \(s.shape)  \(m.file.storedDTypes[s.name] ?? "F32")")
                }
            } else {
                var groups: [(String, Int, Int)] = []
                for s in specs {
                    let parts = s.name.split(separator: ".")
                    let group = parts.prefix(2).joined(separator: ".")
                    if let i = groups.firstIndex(where: { $0.0 == group }) {
                        groups[i].1 += 1; groups[i].2 += s.elementCount
                    } else {
                        groups.append((group, 1, s.elementCount))
                    }
                }
                for (g, n, e) in groups {
                    print("  \(g.padding(to: 22))\(String(n).leftPadded(to: 4)) tensors \(String(e).leftPadded(to: 10)) values")
                }
            }
            print("provenance:  \(m.file.provenance ?? "(none)")")
            print("metrics:     \(m.file.metrics ?? "(none)")")
            print("config:")
            print(c.json.pretty())
        }
    }
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model with PyTorch-default random weights.",
        discussion: "Presets: \(ERIConfig.presetNames.joined(separator: ", ")). The weights are random: the model predicts noise until trained.")

    @Option(help: "dbn-base, dbn-small or dbn-tiny.") var preset: String
    @Flag(help: "Drop the audio branch.") var videoOnly = false
    @Flag(help: "Drop the video branch.") var audioOnly = false
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: ArgumentHelp("A pretrained ResNet-18/34 for the video backbone: a torchvision or timm state dict saved with "
                               + "torch.save (.pth, .pt) or as .safetensors. Its stem, widths and blocks replace the preset's; "
                               + "liberi downloads nothing.", valueName: "FILE")) var backbone: String?
    @Option(name: .shortAndLong, help: "Output .eri file.") var output: String

    func validate() throws {
        if videoOnly && audioOnly { throw ValidationError("--video-only and --audio-only exclude each other") }
        if audioOnly && backbone != nil { throw ValidationError("--backbone needs the video branch; --audio-only drops it") }
        if ERIConfig.preset(named: preset) == nil {
            throw ValidationError("unknown preset \"\(preset)\"; choose one of \(ERIConfig.presetNames.joined(separator: ", "))")
        }
    }

    func run() throws {
        try reportingErrors {
            var config = ERIConfig.preset(named: preset)!
            if videoOnly { config = config.videoOnly }
            if audioOnly { config = config.audioOnly }
            var log: String?
            var file: ModelFile
            if let backbone {
                let pretrained = try PretrainedBackbone(path: backbone)
                config = try pretrained.configure(config)
                file = ModelFile.randomlyInitialised(config: config, seed: seed)
                log = try pretrained.load(into: &file)
                file.provenance = "eri init --preset \(preset) --backbone \(backbone) --seed \(seed): the video backbone pretrained, "
                    + "the rest random (PyTorch's default initialisation)"
            } else {
                file = ModelFile.randomlyInitialised(config: config, seed: seed)
            }
            try file.save(path: output)
            if let log { print(log) }
            print("wrote \(output): \(preset)\(videoOnly ? " video-only" : audioOnly ? " audio-only" : ""), \(config.parameterCount) parameters, seed \(seed)")
        }
    }
}

func formatMB(_ bytes: Int) -> String {
    let tenths = (bytes * 10 + (1 << 19)) >> 20
    return "\(tenths / 10).\(tenths % 10) MB"
}

extension String {
    func padding(to n: Int) -> String { count >= n ? self + " " : self + String(repeating: " ", count: n - count) }
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

ERICommand.main()
