import Foundation
import Testing
@testable import ERICore

@Suite struct ConfigTests {
    @Test(arguments: ERIConfig.presetNames)
    func presetsRoundTripThroughJSON(_ name: String) throws {
        let c = ERIConfig.preset(named: name)!
        #expect(try ERIConfig(jsonText: c.json.serialized) == c)
        #expect(try ERIConfig(jsonText: c.videoOnly.json.serialized) == c.videoOnly)
        #expect(try ERIConfig(jsonText: c.audioOnly.json.serialized) == c.audioOnly)
    }

    @Test func mapSidesMatchSpec() {
        #expect(ERIConfig.base.video!.mapSide == 4)   // SPEC §5: 112 → 4×4
        #expect(ERIConfig.small.video!.mapSide == 2)  // SPEC §3: 64 px → 2×2
        #expect(ERIConfig.tiny.video!.mapSide == 2)   // 48 px → 2×2
    }

    @Test func theSpecTextParses() throws {
        // SPEC §3's config, as printed there.
        let text = """
        {
          "emotions": ["Adoration","Amusement","Anxiety","Disgust","Empathic-Pain","Fear","Surprise"],
          "video": {
            "frames": 32, "image_size": 112, "color": "rgb",
            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
            "backbone": {"type": "resnet", "stem_channels": 64,
                         "widths": [64, 128, 256, 512], "blocks": [2, 2, 2, 2]},
            "spatial": {"layers": 1, "heads": 8, "ff": 1024},
            "dim": 256,
            "tcn": {"kernel": 3, "dilations": [1, 2, 4]},
            "temporal": {"layers": 2, "heads": 4, "ff": 512}
          },
          "audio": {
            "sample_rate": 16000,
            "mfcc": {"n_mfcc": 40, "n_fft": 512, "win_length": 400, "hop_length": 160,
                     "n_mels": 64, "fmin": 0.0, "fmax": 8000.0},
            "pool": 4, "max_steps": 512, "dim": 256,
            "tcn": {"kernel": 3, "dilations": [1, 2, 4]},
            "temporal": {"layers": 2, "heads": 4, "ff": 512}
          },
          "head": {"hidden": 256},
          "train": {"dropout": 0.1, "modality_dropout": 0.3, "pcc_weight": 1.0}
        }
        """
        #expect(try ERIConfig(jsonText: text) == ERIConfig.base)
    }

    /// Edits the base config's JSON text and expects a format error mentioning `needle`.
    func expectRejected(_ edit: (inout String) -> Void, _ needle: String, sourceLocation: SourceLocation = #_sourceLocation) {
        var text = ERIConfig.base.json.serialized
        edit(&text)
        do {
            _ = try ERIConfig(jsonText: text)
            Issue.record("accepted an invalid config (\(needle))", sourceLocation: sourceLocation)
        } catch let e as ERIError {
            #expect(e.code == .format, sourceLocation: sourceLocation)
            #expect(e.message.contains(needle), "message was: \(e.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    func replace(_ a: String, _ b: String) -> (inout String) -> Void {
        { text in
            precondition(text.contains(a), "test bug: \(a) not in config")
            text = text.replacingFirst(a, with: b)
        }
    }

    /// The presets cost a small part of every limit (issue 15: the limits leave room for real models).
    @Test func presetsAreWellWithinTheLimits() throws {
        for name in ERIConfig.presetNames {
            let c = ERIConfig.preset(named: name)!.costs
            print("\(name): \(c.clipValues) values per clip, largest activation \(c.frameActivation), \(c.spatialTokens) tokens, "
                  + "\(c.parameters) parameters, \(Int(c.multiplyAdds / 1e6)) M multiply-adds")
            #expect(c.clipValues * 16 <= Limits.maxClipValues && c.frameActivation * 16 <= Limits.maxFrameActivation)
            #expect(c.spatialTokens * 16 <= Limits.maxSpatialTokens && c.parameters * 3 <= Limits.maxParameters)
            #expect(c.multiplyAdds * 8 <= Double(Limits.maxMultiplyAdds))
        }
    }

    @Test func rejectsBadConfigs() {
        expectRejected(replace(#""frames":32"#, #""frames":32,"framez":1"#), "unknown key \"video.framez\"")
        expectRejected(replace(#""head":{"hidden":256}"#, #""head":{"hidden":256},"extra":0"#), "unknown key \"extra\"")
        expectRejected(replace(#""kernel":3"#, #""kernel":4"#), "must be odd")
        expectRejected(replace(#""heads":8"#, #""heads":3"#), "does not divide")
        expectRejected(replace(#""blocks":[2,2,2,2]"#, #""blocks":[2,2,2]"#), "same length")
        expectRejected(replace(#""widths":[64,128,256,512]"#, #""widths":[]"#), "must not be empty")
        expectRejected(replace(#""frames":32,"#, ""), "missing key \"video.frames\"")
        expectRejected(replace(#""color":"rgb""#, #""color":"gray""#), "need 1 entries")
        expectRejected(replace(#""color":"rgb""#, #""color":"cmyk""#), "video.color")
        expectRejected(replace(#""type":"resnet""#, #""type":"vit""#), "not supported")
        expectRejected(replace(#""frames":32"#, #""frames":0"#), "video.frames")
        expectRejected(replace(#""frames":32"#, #""frames":3.5"#), "video.frames")
        expectRejected(replace(#""frames":32"#, #""frames":"32""#), "video.frames")
        expectRejected(replace(#""win_length":400"#, #""win_length":1000"#), "win_length")
        expectRejected(replace(#""fmax":8000"#, #""fmax":9000"#), "fmin < fmax")
        expectRejected(replace(#""n_mfcc":40"#, #""n_mfcc":80"#), "n_mfcc")
        expectRejected(replace(#""std":[0.5,0.5,0.5]"#, #""std":[0.5,0,0.5]"#), "at least 0.0001")
        // Limits (issue 15): each value alone, and the products that cost memory and time.
        expectRejected(replace(#""std":[0.5,0.5,0.5]"#, #""std":[0.5,1e-38,0.5]"#), "at least 0.0001")
        expectRejected(replace(#""mean":[0.5,0.5,0.5]"#, #""mean":[0.5,1e30,0.5]"#), "video.mean")
        expectRejected(replace(#""frames":32"#, #""frames":4096"#), "\"video.frames\" must be an integer in 1…256")
        expectRejected(replace(#""image_size":112"#, #""image_size":2048"#), "\"video.image_size\" must be an integer in 8…512")
        expectRejected(replace(#""max_steps":512"#, #""max_steps":100000"#), "\"audio.max_steps\" must be an integer in 1…4096")
        expectRejected(replace(#""frames":32,"image_size":112"#, #""frames":256,"image_size":512"#), "values per clip")
        expectRejected(replace(#""stem_channels":64"#, #""stem_channels":4096"#), "largest activation map")
        expectRejected(replace(#""image_size":112"#, #""image_size":512"#), "multiply-adds")
        expectRejected({ text in
            self.replace(#""widths":[64,128,256,512],"blocks":[2,2,2,2]"#, #""widths":[64],"blocks":[2]"#)(&text)
            self.replace(#""image_size":112"#, #""image_size":512"#)(&text)
        }, "tokens")
        expectRejected(replace(#""hop_length":160"#, #""hop_length":16"#), "twice hop_length")
        expectRejected(replace(#""dilations":[1,2,4]"#, "\"dilations\":[" + Array(repeating: "1", count: 65).joined(separator: ",") + "]"), "at most 64")
        expectRejected(replace(#""dropout":0.1"#, #""dropout":1.5"#), "train.dropout")
        expectRejected(replace(#""pcc_weight":1"#, #""pcc_weight":1,"lr":3"#), "unknown key \"train.lr\"")
        expectRejected(replace(#""Fear""#, #""Joy""#), "emotions")
        expectRejected({ text in
            text = ERIConfig.base.videoOnly.json.serialized.replacingFirst(#""audio":null"#, with: #""audio":null,"v":1"#)
        }, "unknown key")
        expectRejected({ $0 = "[]" }, "must be an object")
        expectRejected({ $0 = "{" }, "invalid JSON")
    }

    @Test func bothBranchesNullIsAnError() {
        var text = ERIConfig.base.audioOnly.json.serialized
        text = text.replacingFirst(#""audio":{"#, with: #""audio":null,"x":{"#)
        #expect(throws: ERIError.self) { try ERIConfig(jsonText: text) }
        let both = #"{"emotions":["Adoration","Amusement","Anxiety","Disgust","Empathic-Pain","Fear","Surprise"],"video":null,"audio":null,"head":{"hidden":4}}"#
        do {
            _ = try ERIConfig(jsonText: both)
            Issue.record("accepted a config without branches")
        } catch let e as ERIError {
            #expect(e.message.contains("cannot both be null"))
        } catch {}
    }

    @Test func trainSectionIsOptional() throws {
        var c = ERIConfig.tiny
        var text = c.json.serialized
        text = text.replacingFirst(#","train":{"dropout":0.1,"modality_dropout":0.3,"pcc_weight":1}"#, with: "")
        c.train = ERIConfig.Train()
        #expect(try ERIConfig(jsonText: text) == c)
    }
}

@Suite struct SchemaTests {
    @Test func namesAreUniqueAndShapesPositive() {
        for name in ERIConfig.presetNames {
            let specs = ERIConfig.preset(named: name)!.tensorSpecs
            #expect(Set(specs.map(\.name)).count == specs.count)
            #expect(specs.allSatisfy { $0.shape.allSatisfy { $0 > 0 } })
        }
    }

    @Test func baseBackboneMatchesResNet18Layout() {
        let specs = ERIConfig.base.tensorSpecs
        let names = Set(specs.map(\.name))
        // ResNet-18-style stages: downsampling 1×1 convs in stages 1…3, block 0 only.
        #expect(names.contains("video.backbone.stages.1.0.down.conv.weight"))
        #expect(!names.contains("video.backbone.stages.0.0.down.conv.weight"))
        #expect(!names.contains("video.backbone.stages.1.1.down.conv.weight"))
        let conv = specs.first { $0.name == "video.backbone.stages.2.0.conv1.weight" }!
        #expect(conv.shape == [256, 128, 3, 3])
        let inProj = specs.first { $0.name == "video.spatial.layers.0.attn.in_proj.weight" }!
        #expect(inProj.shape == [1536, 512])
        let fc1 = specs.first { $0.name == "head.fc1.weight" }!
        #expect(fc1.shape == [256, 512])
        #expect(specs.first { $0.name == "audio.proj.weight" }!.shape == [256, 40])
        #expect(specs.first { $0.name == "audio.tcn.2.conv2.weight" }!.shape == [256, 256, 3])
        // A ResNet-18 trunk without its fc has 11,176,512 parameters; ours has a 3×3 stem
        // (64·3·9 = 1,728 instead of 64·3·49 = 9,408), so 11,168,832.
        let backbone = specs.filter { $0.name.hasPrefix("video.backbone") && $0.isTrainable }.reduce(0) { $0 + $1.elementCount }
        #expect(backbone == 11_168_832)
    }

    @Test func singleBranchHeadWidth() {
        #expect(ERIConfig.small.videoOnly.tensorSpecs.first { $0.name == "head.fc1.weight" }!.shape == [128, 128])
        #expect(!ERIConfig.small.videoOnly.tensorSpecs.contains { $0.name.hasPrefix("audio.") })
        #expect(!ERIConfig.small.audioOnly.tensorSpecs.contains { $0.name.hasPrefix("video.") })
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = range(of: target) else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}
