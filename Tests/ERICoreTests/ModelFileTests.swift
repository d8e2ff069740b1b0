import Foundation
import Testing
@testable import ERICore
import ERITestSupport

/// Builds a safetensors file from header JSON text and data bytes, the way an
/// attacker would: nothing here checks that the two agree.
func craftSafetensors(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    let n = declaredLength ?? UInt64(h.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + h + data
}

/// The header and data of a valid model file, for tests to corrupt.
struct ValidModel {
    var header: JSONValue
    var data: [UInt8]

    init(config: ERIConfig = ERIConfig.tiny.audioOnly, in scratch: TemporaryFolder) throws {
        let path = scratch.file("valid-\(UUID().uuidString).eri")
        try ModelFile.randomlyInitialised(config: config, seed: 1).save(path: path)
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        let n = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        header = try JSONValue.parse(bytes: Array(bytes[8..<(8 + n)]))
        data = Array(bytes[(8 + n)...])
    }

    func bytes() -> [UInt8] { craftSafetensors(header: header.serialized, data: data) }

    /// Replaces one top-level header member (a tensor or __metadata__).
    mutating func set(_ key: String, _ value: JSONValue?) {
        guard case var .object(members) = header else { return }
        if let i = members.firstIndex(where: { $0.0 == key }) {
            if let value { members[i].1 = value } else { members.remove(at: i) }
        } else if let value {
            members.append((key, value))
        }
        header = .object(members)
    }

    func member(_ key: String) -> JSONValue { header[key]! }

    mutating func setMetadata(_ key: String, _ value: String?) {
        guard case var .object(meta) = member("__metadata__") else { return }
        meta.removeAll { $0.0 == key }
        if let value { meta.append((key, .string(value))) }
        set("__metadata__", .object(meta))
    }
}

func expectLoadError(_ bytes: [UInt8], _ code: ERIError.Code, _ needle: String, in scratch: TemporaryFolder,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    let path = scratch.file("case-\(UUID().uuidString).eri")
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    expectLoadError(path: path, code, needle, sourceLocation: sourceLocation)
}

func expectLoadError(path: String, _ code: ERIError.Code, _ needle: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try ModelFile.load(path: path)
        Issue.record("loaded a bad file (expected: \(needle))", sourceLocation: sourceLocation)
    } catch let e as ERIError {
        #expect(e.code == code, "code \(e.code) for: \(e.message)", sourceLocation: sourceLocation)
        #expect(e.message.contains(needle), "message was: \(e.message)", sourceLocation: sourceLocation)
        #expect(e.message.contains(path), "message should name the file: \(e.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct ModelFileTests {
    @Test(arguments: ["dbn-tiny", "dbn-small"])
    func saveAndLoadRoundTrip(_ preset: String) throws {
        let scratch = TemporaryFolder()
        for config in [ERIConfig.preset(named: preset)!, ERIConfig.preset(named: preset)!.videoOnly, ERIConfig.preset(named: preset)!.audioOnly] {
            var m = ModelFile.randomlyInitialised(config: config, seed: 42)
            m.metrics = #"{"val_mean_pcc":0.25}"#
            let path = scratch.file("m.eri")
            try m.save(path: path)
            let back = try ModelFile.load(path: path)
            #expect(back.config == config)
            #expect(back.tensors == m.tensors)
            #expect(back.provenance == m.provenance)
            #expect(back.metrics == m.metrics)
        }
    }

    @Test func initialisationFollowsPyTorchDefaults() {
        let m = ModelFile.randomlyInitialised(config: .tiny, seed: 3)
        let conv = m.tensors["video.backbone.stages.1.0.conv1.weight"]!  // fan_in 8·9
        let bound = 1 / Float(8 * 9).squareRoot()
        #expect(conv.data.allSatisfy { abs($0) <= bound })
        #expect(conv.data.contains { abs($0) > bound * 0.9 })  // spread over the range
        #expect(m.tensors["video.backbone.stem.bn.running_var"]!.data.allSatisfy { $0 == 1 })
        #expect(m.tensors["video.spatial.norm.weight"]!.data.allSatisfy { $0 == 1 })
        #expect(m.tensors["audio.norm.std"]!.data.allSatisfy { $0 == 1 })
        // Same seed, same weights; another seed, others.
        #expect(ModelFile.randomlyInitialised(config: .tiny, seed: 3).tensors == m.tensors)
        #expect(ModelFile.randomlyInitialised(config: .tiny, seed: 4).tensors != m.tensors)
    }

    @Test func readsHalfAndBFloat16() throws {
        let scratch = TemporaryFolder()
        // F16: 1, -2, 65504, smallest subnormal, -0, inf; BF16: 1, -3.5
        let f16: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00]
        let bf16: [UInt16] = [0x3F80, 0xC060]
        var data: [UInt8] = []
        for h in f16 + bf16 { data += [UInt8(h & 0xFF), UInt8(h >> 8)] }
        let header = #"{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]}}"#
        let path = scratch.file("h.safetensors")
        FileManager.default.createFile(atPath: path, contents: Data(craftSafetensors(header: header, data: data)))
        let file = try SafetensorsFile(path: path)
        let a = file.floats(file.entry(named: "a")!)
        #expect(a[0] == 1 && a[1] == -2 && a[2] == 65504)
        #expect(a[3] == Float(sign: .plus, exponent: -24, significand: 1))
        #expect(a[4] == 0 && a[4].sign == .minus && a[5] == .infinity)
        #expect(file.floats(file.entry(named: "b")!) == [1, -3.5])
    }

    // MARK: SPEC §2 rejections, one crafted file each.

    @Test func rejectsTruncatedAndEmptyFiles() throws {
        let scratch = TemporaryFolder()
        expectLoadError([], .format, "truncated", in: scratch)
        expectLoadError([1, 0, 0], .format, "truncated", in: scratch)
        let valid = try ValidModel(in: scratch).bytes()
        expectLoadError(Array(valid.prefix(valid.count - 100)), .format, "outside the data section", in: scratch)
        expectLoadError(Array(valid.prefix(40)), .format, "past the end", in: scratch)
    }

    @Test func rejectsBadHeaderLengths() {
        let scratch = TemporaryFolder()
        expectLoadError(craftSafetensors(header: "{}", data: [], declaredLength: 1000), .format, "past the end", in: scratch)
        expectLoadError(craftSafetensors(header: "{}", data: [], declaredLength: 200 << 20), .format, "over the 16 MiB liberi reads", in: scratch)
        expectLoadError(craftSafetensors(header: "{}", data: [], declaredLength: (16 << 20) + 1), .format, "16 MiB", in: scratch)
        expectLoadError(craftSafetensors(header: "{}", data: [], declaredLength: UInt64.max), .format, "16 MiB", in: scratch)
    }

    @Test func rejectsInvalidJSON() {
        let scratch = TemporaryFolder()
        expectLoadError(craftSafetensors(header: #"{"a":"#, data: []), .format, "not valid JSON", in: scratch)
        expectLoadError(craftSafetensors(header: "[1,2]", data: []), .format, "not an object", in: scratch)
        expectLoadError(craftSafetensors(header: "\u{0}\u{0}", data: []), .format, "not valid JSON", in: scratch)
    }

    @Test func rejectsBadOffsets() throws {
        let scratch = TemporaryFolder()
        var m = try ValidModel(in: scratch)
        let name = "head.fc2.weight"  // 7 × 32 floats
        let original = m.member(name)
        func entry(_ b: Int, _ e: Int, dtype: String = "F32", shape: [Int] = [7, 32]) -> JSONValue {
            .object([("dtype", .string(dtype)), ("shape", .array(shape.map { .number(Double($0)) })),
                     ("data_offsets", .array([.number(Double(b)), .number(Double(e))]))])
        }
        m.set(name, entry(m.data.count - 100, m.data.count - 100 + 896 + 400))
        expectLoadError(m.bytes(), .format, "outside the data section", in: scratch)
        m.set(name, entry(0, 896))  // on top of the first tensor
        expectLoadError(m.bytes(), .format, "overlap", in: scratch)
        m.set(name, entry(0, 800))
        expectLoadError(m.bytes(), .format, "needs 896", in: scratch)
        m.set(name, entry(900, 100))
        expectLoadError(m.bytes(), .format, "outside the data section", in: scratch)
        m.set(name, .object([("dtype", .string("F32")), ("shape", .array([.number(7), .number(32)])), ("data_offsets", .array([.number(-8), .number(888)]))]))
        expectLoadError(m.bytes(), .format, "invalid data_offsets", in: scratch)
        m.set(name, .object([("dtype", .string("F32")), ("shape", .array([.number(7), .number(32)])), ("data_offsets", .array([.number(0)]))]))
        expectLoadError(m.bytes(), .format, "invalid data_offsets", in: scratch)
        m.set(name, .object([("dtype", .string("F32")), ("shape", .array([.number(1e12), .number(1e12)])), ("data_offsets", .array([.number(0), .number(8)]))]))
        expectLoadError(m.bytes(), .format, "absurdly large", in: scratch)
        m.set(name, original)
        #expect(throws: Never.self) { try ModelFile.load(path: { let p = scratch.file("ok.eri"); FileManager.default.createFile(atPath: p, contents: Data(m.bytes())); return p }()) }
    }

    @Test func rejectsMissingExtraAndMisshapenTensors() throws {
        let scratch = TemporaryFolder()
        var m = try ValidModel(in: scratch)
        let fc2 = m.member("head.fc2.bias")
        m.set("head.fc2.bias", nil)
        expectLoadError(m.bytes(), .format, "missing tensor \"head.fc2.bias\"", in: scratch)
        m.set("head.fc2.bias", fc2)
        m.set("head.fc3.bias", fc2)
        expectLoadError(m.bytes(), .format, "overlap", in: scratch)  // same bytes twice
        // An extra tensor with its own bytes.
        var extra = try ValidModel(in: scratch)
        let n = extra.data.count
        extra.data += [UInt8](repeating: 0, count: 28)
        extra.set("head.fc3.bias", .object([("dtype", .string("F32")), ("shape", .array([.number(7)])),
                                            ("data_offsets", .array([.number(Double(n)), .number(Double(n + 28))]))]))
        expectLoadError(extra.bytes(), .format, "unexpected tensor \"head.fc3.bias\"", in: scratch)
        // Same bytes, another shape.
        var shaped = try ValidModel(in: scratch)
        let offsets = shaped.member("head.fc2.weight")["data_offsets"]!
        shaped.set("head.fc2.weight", .object([("dtype", .string("F32")), ("shape", .array([.number(32), .number(7)])), ("data_offsets", offsets)]))
        expectLoadError(shaped.bytes(), .format, "has shape [32, 7]; the config requires [7, 32]", in: scratch)
    }

    @Test func rejectsUnknownDTypeAndVersion() throws {
        let scratch = TemporaryFolder()
        var m = try ValidModel(in: scratch)
        let offsets = m.member("head.fc2.bias")["data_offsets"]!
        m.set("head.fc2.bias", .object([("dtype", .string("I32")), ("shape", .array([.number(7)])), ("data_offsets", offsets)]))
        expectLoadError(m.bytes(), .unsupported, "dtype I32", in: scratch)
        m.set("head.fc2.bias", .object([("dtype", .string("Q4_K")), ("shape", .array([.number(7)])), ("data_offsets", offsets)]))
        expectLoadError(m.bytes(), .unsupported, "dtype Q4_K", in: scratch)
        var v = try ValidModel(in: scratch)
        v.setMetadata("eri.version", "2")
        expectLoadError(v.bytes(), .unsupported, "eri.version \"2\" is not supported", in: scratch)
        v.setMetadata("eri.version", nil)
        expectLoadError(v.bytes(), .format, "eri.version", in: scratch)
    }

    @Test func rejectsBadMetadataAndConfig() throws {
        let scratch = TemporaryFolder()
        var m = try ValidModel(in: scratch)
        m.setMetadata("format", "pt")
        expectLoadError(m.bytes(), .format, "not an .eri model", in: scratch)
        m.setMetadata("format", nil)
        expectLoadError(m.bytes(), .format, "not an .eri model", in: scratch)
        var c = try ValidModel(in: scratch)
        let config = c.member("__metadata__")["eri.config"]!.stringValue!
        c.setMetadata("eri.config", config.replacingFirst(#""pool":4"#, with: #""pool":4,"pooling":4"#))
        expectLoadError(c.bytes(), .format, "unknown key \"audio.pooling\"", in: scratch)
        c.setMetadata("eri.config", "{not json")
        expectLoadError(c.bytes(), .format, "config", in: scratch)
        c.setMetadata("eri.config", nil)
        expectLoadError(c.bytes(), .format, "eri.config", in: scratch)
        var meta = try ValidModel(in: scratch)
        meta.set("__metadata__", .object([("format", .number(1))]))
        expectLoadError(meta.bytes(), .format, "not a string", in: scratch)
    }

    @Test func rejectsNonFiniteWeights() throws {
        let scratch = TemporaryFolder()
        var m = try ValidModel(in: scratch)
        let begin = Int(m.member("head.fc2.bias")["data_offsets"]!.arrayValue![0].numberValue!)
        let nan = Float.nan.bitPattern
        for i in 0..<4 { m.data[begin + 4 + i] = UInt8(truncatingIfNeeded: nan >> (8 * UInt32(i))) }
        expectLoadError(m.bytes(), .format, "non-finite value at index 1", in: scratch)
    }

    /// Issue 15: finite is not enough; a value no trained model holds is refused where it enters.
    @Test func rejectsValuesBeyondTheLimits() throws {
        let scratch = TemporaryFolder()
        func setFloat(_ m: inout ValidModel, _ name: String, index: Int, _ value: Float) {
            let begin = Int(m.member(name)["data_offsets"]!.arrayValue![0].numberValue!) + 4 * index
            for i in 0..<4 { m.data[begin + i] = UInt8(truncatingIfNeeded: value.bitPattern >> (8 * UInt32(i))) }
        }
        var m = try ValidModel(in: scratch)
        setFloat(&m, "head.fc2.bias", index: 1, 3e38)
        expectLoadError(m.bytes(), .format, "holds 3e+38, beyond the ±1000000 liberi accepts in a model at index 1", in: scratch)
        m = try ValidModel(in: scratch)
        setFloat(&m, "head.fc2.bias", index: 1, -1e6)   // the bound itself is allowed
        let ok = scratch.file("bound.eri")
        FileManager.default.createFile(atPath: ok, contents: Data(m.bytes()))
        #expect(throws: Never.self) { _ = try ModelFile.load(path: ok) }
        m = try ValidModel(config: .tiny, in: scratch)
        setFloat(&m, "video.backbone.stem.bn.running_var", index: 2, -0.5)
        expectLoadError(m.bytes(), .format, "\"video.backbone.stem.bn.running_var\" holds a negative variance -0.5 at index 2", in: scratch)
        m = try ValidModel(in: scratch)
        setFloat(&m, "audio.norm.std", index: 0, 1e-38)
        expectLoadError(m.bytes(), .format, "a normalisation std must be at least 0.0001", in: scratch)
    }

    @Test func rejectsPathsThatAreNotModelFiles() throws {
        let scratch = TemporaryFolder()
        expectLoadError(path: scratch.file("missing.eri"), .io, "no such file")
        expectLoadError(path: scratch.path, .io, "is a directory")
        expectLoadError(path: "/dev/null", .io, "is a device, not a regular file")
        #expect(throws: ERIError.io("the file path is empty: it names no file")) { _ = try ModelFile.load(path: "") }
        // A FIFO without a writer: refused at once (the open does not block).
        let fifo = scratch.file("model.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        expectLoadError(path: fifo, .io, "is a FIFO, not a regular file")
    }

    @Test func randomCorruptionNeverCrashes() throws {
        let scratch = TemporaryFolder()
        let valid = try ValidModel(in: scratch).bytes()
        var rng = SeededGenerator(seed: 11)
        let path = scratch.file("fuzz.eri")
        for round in 0..<300 {
            var bytes = valid
            let headerEnd = min(bytes.count, 8 + Int(bytes[0]) + Int(bytes[1]) << 8)
            for _ in 0..<(1 + round % 4) {
                let i = Int(rng.next() % UInt64(round % 2 == 0 ? headerEnd : bytes.count))
                bytes[i] = UInt8(truncatingIfNeeded: rng.next())
            }
            if round % 7 == 0 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count)))) }
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            _ = try? ModelFile.load(path: path)
        }
    }
}

@Suite struct AtomicWriteTests {
    /// A save over a device or a folder must fail, not rename over it (as root it would replace /dev/null).
    @Test func refusesToReplaceWhatIsNotARegularFile() throws {
        let scratch = TemporaryFolder()
        let model = ModelFile.randomlyInitialised(config: ERIConfig.tiny.audioOnly, seed: 1)
        #expect(throws: ERIError.self) { try model.save(path: "/dev/null") }
        #expect(throws: ERIError.self) { try model.save(path: scratch.path) }
        var info = stat()
        #expect(stat("/dev/null", &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR)
        try model.save(path: scratch.file("ok.eri"))
        try model.save(path: scratch.file("ok.eri"))  // replacing a regular file is fine
    }
}
