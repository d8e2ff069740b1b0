/// The safetensors container (https://github.com/huggingface/safetensors):
/// u64 little-endian header length N, N bytes of JSON, then the tensor bytes.
/// SPEC §2 lists what a loader must reject; each check below names its case.
public enum SafetensorsDType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"
    public var byteCount: Int { self == .f32 ? 4 : 2 }
}

public struct SafetensorsEntry: Sendable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// Byte range inside the data section (after the header).
    public var begin: Int
    public var end: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed, validated, memory-mapped safetensors file.
public final class SafetensorsFile: @unchecked Sendable {
    /// Headers longer than this are refused, whatever the file says. The
    /// safetensors format allows 100 MiB; liberi reads 16 MiB (a model's header
    /// is tens of KiB), because parsing costs up to ~18 bytes of memory per
    /// header byte: a 100 MiB header of zeros took 1.8 GB and 13 s to refuse.
    public static let maxHeaderBytes = 16 << 20

    public let path: String
    public let metadata: [String: String]
    /// Tensors in header order.
    public let entries: [SafetensorsEntry]
    private let index: [String: Int]
    private let file: MappedFile
    private let dataStart: Int

    /// `integersSkipped`: tensors of integer or boolean dtypes (a state dict's
    /// `num_batches_tracked`) are left out rather than refused.
    public init(path: String, integersSkipped: Bool = false) throws {
        self.path = path
        file = try MappedFile(path: path)
        let bytes = file.bytes
        guard bytes.count >= 8 else {
            throw ERIError.format("\(path): truncated file (\(bytes.count) bytes; a safetensors file starts with an 8-byte header length)")
        }
        let headerLength = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard headerLength <= UInt64(SafetensorsFile.maxHeaderBytes) else {
            throw ERIError.format("\(path): header length \(headerLength) is over the 16 MiB liberi reads "
                                  + "(the safetensors format allows 100 MiB; a model's header is tens of KiB)")
        }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw ERIError.format("\(path): header length \(headerLength) runs past the end of the file (\(bytes.count) bytes): truncated file?")
        }
        let n = Int(headerLength)
        dataStart = 8 + n
        let header: JSONValue
        do {
            header = try JSONValue.parse(bytes: Array(bytes[8..<(8 + n)]))
        } catch let e as ERIError {
            throw ERIError.format("\(path): header is not valid JSON: \(e.message)")
        }
        guard let members = header.objectMembers else {
            throw ERIError.format("\(path): header JSON is not an object")
        }
        let dataSize = bytes.count - dataStart
        var entries: [SafetensorsEntry] = []
        var metadata: [String: String] = [:]
        for (name, value) in members {
            if name == "__metadata__" {
                guard let m = value.objectMembers else { throw ERIError.format("\(path): __metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v.stringValue else { throw ERIError.format("\(path): metadata \"\(k)\" is not a string") }
                    metadata[k] = s
                }
                continue
            }
            if integersSkipped, let t = value["dtype"]?.stringValue, ["I64", "I32", "I16", "I8", "U8", "BOOL"].contains(t) { continue }
            entries.append(try SafetensorsFile.entry(name: name, value: value, dataSize: dataSize, path: path))
        }
        // Overlap check on the sorted ranges (empty tensors overlap nothing).
        let sorted = entries.filter { $0.end > $0.begin }.sorted { $0.begin < $1.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.begin < a.end {
            throw ERIError.format("\(path): tensors \"\(a.name)\" and \"\(b.name)\" overlap in the data section")
        }
        self.entries = entries
        self.metadata = metadata
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() { index[e.name] = i }
        self.index = index
    }

    private static func entry(name: String, value: JSONValue, dataSize: Int, path: String) throws -> SafetensorsEntry {
        guard let fields = value.objectMembers else { throw ERIError.format("\(path): tensor \"\(name)\" is not an object") }
        for (key, _) in fields where !["dtype", "shape", "data_offsets"].contains(key) {
            throw ERIError.format("\(path): tensor \"\(name)\" has an unknown field \"\(key)\"")
        }
        guard let dtypeText = value["dtype"]?.stringValue else { throw ERIError.format("\(path): tensor \"\(name)\" has no dtype") }
        guard let dtype = SafetensorsDType(rawValue: dtypeText) else {
            throw ERIError.unsupported("\(path): tensor \"\(name)\" has dtype \(dtypeText); liberi reads F32, F16 and BF16")
        }
        guard let shapeValues = value["shape"]?.arrayValue else { throw ERIError.format("\(path): tensor \"\(name)\" has no shape") }
        var shape: [Int] = []
        var count = 1
        for v in shapeValues {
            guard let d = v.numberValue, d >= 0, d == d.rounded(), d < 1e15 else {
                throw ERIError.format("\(path): tensor \"\(name)\" has an invalid dimension")
            }
            shape.append(Int(d))
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product < (1 << 48) else { throw ERIError.format("\(path): tensor \"\(name)\" is absurdly large") }
            count = product
        }
        guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
              let b = offsets[0].numberValue, let e = offsets[1].numberValue,
              b >= 0, e >= 0, b == b.rounded(), e == e.rounded(), b < 1e15, e < 1e15 else {
            throw ERIError.format("\(path): tensor \"\(name)\" has invalid data_offsets")
        }
        let begin = Int(b), end = Int(e)
        guard begin <= end, end <= dataSize else {
            throw ERIError.format("\(path): tensor \"\(name)\" has data_offsets [\(begin), \(end)] outside the data section (\(dataSize) bytes): truncated file?")
        }
        guard end - begin == count * dtype.byteCount else {
            throw ERIError.format("\(path): tensor \"\(name)\" has \(end - begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(count * dtype.byteCount)")
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    public func entry(named name: String) -> SafetensorsEntry? {
        index[name].map { entries[$0] }
    }

    /// The tensor's values converted to float32, in row-major order.
    public func floats(_ entry: SafetensorsEntry) -> [Float] {
        let raw = UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + entry.begin)..<(dataStart + entry.end)])
        let n = entry.elementCount
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
            switch entry.dtype {
            case .f32:
                for i in 0..<n { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
            case .f16:
                for i in 0..<n { out[i] = Float(halfBits: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
            case .bf16:
                for i in 0..<n { out[i] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) << 16) }
            }
            initialized = n
        }
    }
}

extension Float {
    /// IEEE 754 binary16 → binary32, exact (subnormals, infinities and NaN included).
    public init(halfBits h: UInt16) {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F {
            self = Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        } else if exponent == 0 {
            // Subnormal or zero: value = mantissa · 2^-24.
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            self = sign != 0 ? -magnitude : magnitude
        } else {
            self = Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
        }
    }
}

/// One tensor to write: float32 values in row-major order.
public struct NamedTensor: Sendable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
    public init(name: String, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not match \(values.count) values for \(name)")
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// Writes float32 tensors and string metadata as a safetensors file that the
/// Python `safetensors` package reads: tensors packed in order without gaps,
/// the header padded with spaces to a multiple of 8 bytes, written atomically.
public func writeSafetensors(path: String, tensors: [NamedTensor], metadata: [(String, String)]) throws {
    var members: [(String, JSONValue)] = []
    if !metadata.isEmpty {
        members.append(("__metadata__", .object(metadata.map { ($0.0, JSONValue.string($0.1)) })))
    }
    var offset = 0
    for t in tensors {
        let size = t.values.count * 4
        members.append((t.name, .object([
            ("dtype", .string("F32")),
            ("shape", .array(t.shape.map { .number(Double($0)) })),
            ("data_offsets", .array([.number(Double(offset)), .number(Double(offset + size))])),
        ])))
        offset += size
    }
    var header = Array(JSONValue.object(members).serialized.utf8)
    while (header.count + 8) % 8 != 0 { header.append(0x20) }
    var prefix = [UInt8](repeating: 0, count: 8)
    let n = UInt64(header.count)
    for i in 0..<8 { prefix[i] = UInt8(truncatingIfNeeded: n >> (8 * UInt64(i))) }
    // Little-endian float bytes: this is an x86-64/arm64 little-endian library.
    var chunks: [[UInt8]] = [prefix, header]
    for t in tensors {
        chunks.append(t.values.withUnsafeBytes { Array($0) })
    }
    try withRawBuffers(chunks) { try writeFileAtomically(path: path, chunks: $0) }
}

private func withRawBuffers<R>(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
    var pointers: [UnsafeRawBufferPointer] = []
    func recurse(_ i: Int) throws -> R {
        if i == arrays.count { return try body(pointers) }
        return try arrays[i].withUnsafeBytes { buffer in
            pointers.append(buffer)
            return try recurse(i + 1)
        }
    }
    return try recurse(0)
}
