/// A PyTorch state dict saved with `torch.save` (the zip format PyTorch has written since 1.6:
/// `ARCHIVE/data.pkl` and one `ARCHIVE/data/KEY` file per storage, stored uncompressed), read
/// without PyTorch and without running any of the pickle's code: a restricted unpickler that
/// knows the few opcodes and globals a state dict uses (an OrderedDict of tensors rebuilt by
/// `torch._utils._rebuild_tensor_v2` from float or integer storages) and refuses everything else
/// with a message. What `eri init --backbone` reads a torchvision or timm ResNet from.
public struct TorchCheckpoint: Sendable {
    /// The float tensors by name (float16/bfloat16/float64 converted), with their shapes.
    public var tensors: [String: Tensor]
    /// Names of the integer tensors left out (`num_batches_tracked`, …).
    public var skipped: [String]

    public init(path: String) throws {
        let file = try MappedFile(path: path)
        let zip = try ZipDirectory(file.bytes, path: path)
        guard let pickle = zip.entries.first(where: { $0.key.hasSuffix("/data.pkl") || $0.key == "data.pkl" }) else {
            if file.bytes.count >= 2, file.bytes[0] == 0x80 {
                throw ERIError.format("\(path): a PyTorch file in the legacy format (before 1.6): load and save it again with a recent "
                                      + "torch.save (the zip format), or convert it to .safetensors")
            }
            throw ERIError.format("\(path): not a PyTorch checkpoint (no data.pkl in a zip archive) and not .safetensors")
        }
        let prefix = String(pickle.key.dropLast("data.pkl".count))
        var unpickler = Unpickler(bytes: try zip.contents(pickle.value), path: path) { key in
            guard let entry = zip.entries[prefix + "data/" + key] else {
                throw ERIError.format("\(path): storage \(key) is missing from the archive")
            }
            return try zip.contents(entry)
        }
        guard case .dict(let items) = try unpickler.load() else {
            throw ERIError.format("\(path): the pickle is not a state dict (a dict of tensors): save model.state_dict(), not the model")
        }
        tensors = [:]
        skipped = []
        for (name, value) in items {
            guard case .string(let key) = name else { throw ERIError.format("\(path): a state dict key is not a string") }
            switch value {
            case .tensor(let t): tensors[key] = t
            case .integerTensor: skipped.append(key)
            default: throw ERIError.format("\(path): \(key) is not a tensor")
            }
        }
    }
}

/// The stored (uncompressed) members of a zip archive, by name.
struct ZipDirectory {
    struct Member { let offset: Int, size: Int, method: UInt16 }
    let bytes: UnsafeRawBufferPointer
    let path: String
    var entries: [String: Member] = [:]

    init(_ bytes: UnsafeRawBufferPointer, path: String) throws {
        self.bytes = bytes
        self.path = path
        // The end of central directory record: its signature within the last 64 KiB + 22 bytes.
        guard bytes.count >= 22 else { return }
        var end = -1
        var i = bytes.count - 22
        while i >= max(0, bytes.count - 65_557) {
            if u32(i) == 0x0605_4b50 { end = i; break }
            i -= 1
        }
        guard end >= 0 else { return }
        var count = Int(u16(end + 10)), offset = Int(u32(end + 16))
        if count == 0xFFFF || offset == 0xFFFF_FFFF {   // zip64: its end record, located by the locator before
            guard end >= 20, u32(end - 20) == 0x0706_4b50 else { throw ERIError.format("\(path): a zip64 archive without its locator") }
            let record = Int(clamping: u64(end - 12))
            guard record >= 0, record + 56 <= bytes.count, u32(record) == 0x0606_4b50 else {
                throw ERIError.format("\(path): a broken zip64 end record")
            }
            count = Int(clamping: u64(record + 32))
            offset = Int(clamping: u64(record + 48))
        }
        var p = offset
        for _ in 0..<count {
            guard p >= 0, p + 46 <= bytes.count, u32(p) == 0x0201_4b50 else { throw ERIError.format("\(path): a broken zip directory") }
            let method = u16(p + 10)
            var size = Int(u32(p + 20))
            let nameLength = Int(u16(p + 28)), extraLength = Int(u16(p + 30)), commentLength = Int(u16(p + 32))
            var local = Int(u32(p + 42))
            guard p + 46 + nameLength + extraLength <= bytes.count else { throw ERIError.format("\(path): a broken zip directory") }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(p + 46)..<(p + 46 + nameLength)]), as: UTF8.self)
            // Zip64 sizes and offsets in the extra field (id 1), in this order, for the fields marked 0xFFFFFFFF.
            var e = p + 46 + nameLength
            while e + 4 <= p + 46 + nameLength + extraLength {
                let id = u16(e), length = Int(u16(e + 2))
                guard e + 4 + length <= p + 46 + nameLength + extraLength else { throw ERIError.format("\(path): a broken zip directory") }
                if id == 1 {
                    var q = e + 4
                    if u32(p + 24) == 0xFFFF_FFFF { q += 8 }   // uncompressed size first
                    if u32(p + 20) == 0xFFFF_FFFF, q + 8 <= e + 4 + length { size = Int(clamping: u64(q)); q += 8 }
                    if u32(p + 42) == 0xFFFF_FFFF, q + 8 <= e + 4 + length { local = Int(clamping: u64(q)) }
                }
                e += 4 + length
            }
            guard local >= 0, local + 30 <= bytes.count, u32(local) == 0x0403_4b50 else {
                throw ERIError.format("\(path): zip member \(name) has no local header")
            }
            let start = local + 30 + Int(u16(local + 26)) + Int(u16(local + 28))
            guard size >= 0, start <= bytes.count, size <= bytes.count - start else {
                throw ERIError.format("\(path): zip member \(name) runs past the end of the file: truncated?")
            }
            entries[name] = Member(offset: start, size: size, method: method)
            p += 46 + nameLength + extraLength + commentLength
        }
    }

    func contents(_ m: Member) throws -> UnsafeRawBufferPointer {
        guard m.method == 0 else { throw ERIError.format("\(path): a compressed zip member (torch.save stores them uncompressed)") }
        return UnsafeRawBufferPointer(rebasing: bytes[m.offset..<(m.offset + m.size)])
    }

    private func u16(_ at: Int) -> UInt16 { bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian }
    private func u32(_ at: Int) -> UInt32 { bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian }
    private func u64(_ at: Int) -> UInt64 { bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian }
}

/// The values a state dict's pickle builds.
indirect enum PickleValue {
    case none, bool(Bool), int(Int), float(Double), string(String)
    case tuple([PickleValue]), list([PickleValue]), dict([(PickleValue, PickleValue)])
    case global(String)
    /// A storage: its element type ("FloatStorage", …) and bytes.
    case storage(type: String, bytes: UnsafeRawBufferPointer)
    case tensor(Tensor), integerTensor
    case mark
}

/// Pickle protocols 2–5, the opcodes `torch.save` writes for a state dict. Globals are looked up
/// in a fixed list; nothing from the file is ever called.
struct Unpickler {
    let bytes: UnsafeRawBufferPointer
    let path: String
    let storage: (String) throws -> UnsafeRawBufferPointer
    var p = 0
    var stack: [PickleValue] = []
    var memo: [Int: PickleValue] = [:]
    static let maxStack = 1 << 20

    init(bytes: UnsafeRawBufferPointer, path: String, storage: @escaping (String) throws -> UnsafeRawBufferPointer) {
        self.bytes = bytes; self.path = path; self.storage = storage
    }

    mutating func load() throws -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                                         // PROTO
            case 0x95: p += 8                                                 // FRAME
            case 0x2E: return try pop()                                       // STOP
            case 0x4E: try push(.none)                                            // NONE
            case 0x88: try push(.bool(true))                                      // NEWTRUE
            case 0x89: try push(.bool(false))                                     // NEWFALSE
            case 0x4B: try push(.int(Int(try byte())))                            // BININT1
            case 0x4D: try push(.int(Int(try integer(2, signed: false))))         // BININT2
            case 0x4A: try push(.int(Int(try integer(4, signed: true))))          // BININT
            case 0x8A:                                                        // LONG1
                let n = Int(try byte())
                guard n <= 8 else { throw bad("an integer of \(n) bytes") }
                try push(.int(n == 0 ? 0 : Int(try integer(n, signed: true))))
            case 0x47:                                                        // BINFLOAT (big-endian)
                try push(.float(Double(bitPattern: UInt64(bitPattern: try integer(8, signed: true, bigEndian: true)))))
            case 0x58: try push(.string(try text(Int(try integer(4, signed: false)))))  // BINUNICODE
            case 0x8C: try push(.string(try text(Int(try byte()))))                     // SHORT_BINUNICODE
            case 0x8D: try push(.string(try text(Int(try integer(8, signed: false)))))  // BINUNICODE8
            case 0x28: try push(.mark)                                            // MARK
            case 0x29: try push(.tuple([]))                                       // EMPTY_TUPLE
            case 0x85: let a = try pop(); try push(.tuple([a]))                   // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); try push(.tuple([a, b]))  // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); try push(.tuple([a, b, c]))  // TUPLE3
            case 0x74: try push(.tuple(try popToMark()))                          // TUPLE
            case 0x5D: try push(.list([]))                                        // EMPTY_LIST
            case 0x7D: try push(.dict([]))                                        // EMPTY_DICT
            case 0x61:                                                        // APPEND
                let v = try pop()
                guard case .list(var l) = try pop() else { throw bad("APPEND to a non-list") }
                l.append(v); try push(.list(l))
            case 0x65:                                                        // APPENDS
                let items = try popToMark()
                guard case .list(var l) = try pop() else { throw bad("APPENDS to a non-list") }
                l += items; try push(.list(l))
            case 0x73:                                                        // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(var d) = try pop() else { throw bad("SETITEM on a non-dict") }
                d.append((k, v)); try push(.dict(d))
            case 0x75:                                                        // SETITEMS
                let items = try popToMark()
                guard items.count % 2 == 0, case .dict(var d) = try pop() else { throw bad("SETITEMS on a non-dict") }
                for i in stride(from: 0, to: items.count, by: 2) { d.append((items[i], items[i + 1])) }
                try push(.dict(d))
            case 0x71: memo[Int(try byte())] = try top()                      // BINPUT
            case 0x72: memo[Int(try integer(4, signed: false))] = try top()   // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                           // MEMOIZE
            case 0x68, 0x6A:                                                  // BINGET, LONG_BINGET
                let key = op == 0x68 ? Int(try byte()) : Int(try integer(4, signed: false))
                guard let v = memo[key] else { throw bad("a memo entry that was never stored") }
                try push(v)
            case 0x63:                                                        // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                try push(.global(module + "." + name))
            case 0x93:                                                        // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else { throw bad("STACK_GLOBAL without names") }
                try push(.global(module + "." + name))
            case 0x51:                                                        // BINPERSID
                try push(try persistent(try pop()))
            case 0x52:                                                        // REDUCE
                let args = try pop(), callable = try pop()
                try push(try reduce(callable, args))
            case 0x62: _ = try pop()                                          // BUILD: state set on the object (OrderedDict's _metadata): ignored
            default:
                throw bad("opcode 0x" + String(op, radix: 16))
            }
        }
    }

    /// ('storage', StorageType, key, location, numel) → the storage's bytes.
    mutating func persistent(_ id: PickleValue) throws -> PickleValue {
        guard case .tuple(let t) = id, t.count == 5, case .string("storage") = t[0], case .global(let type) = t[1],
              case .string(let key) = t[2] else { throw bad("a persistent id that is not a storage") }
        let known = ["torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
                     "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage",
                     "torch.BoolStorage"]
        guard known.contains(type) else { throw bad("storage type \(type)") }
        return .storage(type: type, bytes: try storage(key))
    }

    /// The only calls a state dict makes: OrderedDict() and _rebuild_tensor_v2(storage, offset, size, stride, …).
    mutating func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let name) = callable, case .tuple(let a) = args else { throw bad("a call that is not to a known global") }
        switch name {
        case "collections.OrderedDict":
            return .dict([])
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            guard a.count >= 4, case .storage(let type, let data) = a[0], case .int(let offset) = a[1],
                  case .tuple(let sizeValues) = a[2], case .tuple(let strideValues) = a[3] else { throw bad("a malformed tensor") }
            let shape = try sizeValues.map { v -> Int in guard case .int(let n) = v, n >= 0 else { throw bad("a tensor size") }; return n }
            let strides = try strideValues.map { v -> Int in guard case .int(let n) = v, n >= 0 else { throw bad("a tensor stride") }; return n }
            guard shape.count == strides.count, offset >= 0 else { throw bad("a tensor's sizes and strides") }
            let element: Int
            switch type {
            case "torch.FloatStorage": element = 4
            case "torch.HalfStorage", "torch.BFloat16Storage": element = 2
            case "torch.DoubleStorage": element = 8
            default: return .integerTensor
            }
            // Sizes, strides and offset are the file's: every product checked (1 << 30 elements at most).
            var count = 1
            for n in shape {
                guard n <= 1 << 30, count * n <= 1 << 30 else { throw bad("a tensor of more than 2^30 elements") }
                count *= n
            }
            // The last element read: offset + Σ (size − 1)·stride, inside the storage.
            var last = offset
            for (n, s) in zip(shape, strides) where n > 0 {
                let (step, o1) = (n - 1).multipliedReportingOverflow(by: s), (sum, o2) = last.addingReportingOverflow(step)
                guard !o1, !o2 else { throw bad("a tensor that runs past its storage") }
                last = sum
            }
            guard count == 0 || last < data.count / element else { throw bad("a tensor that runs past its storage") }
            var values = [Float](repeating: 0, count: count)
            var index = [Int](repeating: 0, count: shape.count)
            for i in 0..<count {
                var at = offset
                for d in 0..<shape.count { at += index[d] * strides[d] }
                switch element {
                case 4: values[i] = Float(bitPattern: data.loadUnaligned(fromByteOffset: at * 4, as: UInt32.self).littleEndian)
                case 8: values[i] = Float(Double(bitPattern: data.loadUnaligned(fromByteOffset: at * 8, as: UInt64.self).littleEndian))
                default:
                    let bits = data.loadUnaligned(fromByteOffset: at * 2, as: UInt16.self).littleEndian
                    values[i] = type == "torch.HalfStorage" ? Float(Float16(bitPattern: bits)) : Float(bitPattern: UInt32(bits) << 16)
                }
                var d = shape.count - 1   // next index, row-major
                while d >= 0 { index[d] += 1; if index[d] < shape[d] { break }; index[d] = 0; d -= 1 }
            }
            return .tensor(Tensor(shape: shape, data: values))
        default:
            throw bad("the global \(name) (only a state dict of tensors is read)")
        }
    }

    func bad(_ what: String) -> ERIError {
        ERIError.format("\(path): the checkpoint's pickle has \(what), which a state dict does not: save model.state_dict() "
                        + "with torch.save, or convert it to .safetensors")
    }

    mutating func byte() throws -> UInt8 {
        guard p < bytes.count else { throw ERIError.format("\(path): the checkpoint's pickle ends early: truncated file?") }
        defer { p += 1 }
        return bytes[p]
    }

    mutating func integer(_ n: Int, signed: Bool, bigEndian: Bool = false) throws -> Int64 {
        guard n <= bytes.count - p else { throw ERIError.format("\(path): the checkpoint's pickle ends early: truncated file?") }
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(bytes[p + (bigEndian ? n - 1 - i : i)]) << (8 * UInt64(i)) }
        p += n
        if signed && n < 8 && v & (1 << (8 * UInt64(n) - 1)) != 0 { v |= ~0 << (8 * UInt64(n)) }
        return Int64(bitPattern: v)
    }

    mutating func text(_ n: Int) throws -> String {
        guard n >= 0, n <= bytes.count - p else { throw ERIError.format("\(path): the checkpoint's pickle ends early: truncated file?") }
        defer { p += n }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[p..<(p + n)]), as: UTF8.self)
    }

    mutating func line() throws -> String {
        var s: [UInt8] = []
        while true {
            let b = try byte()
            if b == 0x0A { break }
            s.append(b)
            guard s.count < 256 else { throw bad("a global name over 256 bytes") }
        }
        return String(decoding: s, as: UTF8.self)
    }

    mutating func push(_ v: PickleValue) throws {
        guard stack.count < Unpickler.maxStack else { throw bad("more than \(Unpickler.maxStack) values on the stack") }
        stack.append(v)
    }

    mutating func top() throws -> PickleValue {
        guard let v = stack.last else { throw bad("an empty stack") }
        return v
    }

    mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw bad("an empty stack") }
        return v
    }

    mutating func popToMark() throws -> [PickleValue] {
        guard let m = stack.lastIndex(where: { if case .mark = $0 { return true }; return false }) else { throw bad("no MARK") }
        let items = Array(stack[(m + 1)...])
        stack.removeSubrange(m...)
        return items
    }
}
