/// A small, strict JSON reader and writer (RFC 8259), written here because the
/// library links no Foundation. It is attacked with malformed input by the
/// tests; it never traps: every failure is an `ERIError` with the byte offset.
///
/// Objects keep their key order (safetensors headers and configs round-trip
/// as written) and reject duplicate keys, which are almost always mistakes.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The value for `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        if case let .object(members) = self {
            for (k, v) in members where k == key { return v }
        }
        return nil
    }

    public var objectMembers: [(String, JSONValue)]? {
        if case let .object(m) = self { return m }
        return nil
    }
    public var arrayValue: [JSONValue]? {
        if case let .array(a) = self { return a }
        return nil
    }
    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }
    public var numberValue: Double? {
        if case let .number(n) = self { return n }
        return nil
    }
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

// MARK: - Parsing

extension JSONValue {
    /// Nesting deeper than this is rejected rather than risking the stack.
    public static let maxDepth = 64

    /// Parses a complete JSON text. Trailing non-space bytes are an error.
    public static func parse(_ text: String) throws -> JSONValue {
        try parse(bytes: Array(text.utf8))
    }

    public static func parse(bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer)
            parser.skipSpace()
            let value = try parser.parseValue(depth: 0)
            parser.skipSpace()
            if parser.position != buffer.count {
                throw parser.error("unexpected data after the JSON value")
            }
            return value
        }
    }
}

private struct JSONParser {
    // Reading through an UnsafeBufferPointer: the parser touches every byte of
    // headers that can be up to 16 MiB, and array bounds checks stay on
    // through explicit `position < bytes.count` tests.
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func error(_ what: String) -> ERIError {
        .format("invalid JSON at byte \(position): \(what)")
    }

    var atEnd: Bool { position >= bytes.count }
    var current: UInt8 { bytes[position] }

    mutating func skipSpace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func expect(_ literal: String, _ value: JSONValue) throws -> JSONValue {
        for byte in literal.utf8 {
            guard position < bytes.count, bytes[position] == byte else {
                throw error("expected '\(literal)'")
            }
            position += 1
        }
        return value
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < JSONValue.maxDepth else { throw error("nesting deeper than \(JSONValue.maxDepth)") }
        guard !atEnd else { throw error("unexpected end of input") }
        switch current {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character")
        }
    }

    mutating func parseObject(depth: Int) throws -> JSONValue {
        var members: [(String, JSONValue)] = []
        var seen = Set<String>()
        try parseList(close: "}", what: "object") {
            guard !$0.atEnd, $0.current == UInt8(ascii: "\"") else { throw $0.error("expected a string key") }
            let key = try $0.parseString()
            guard seen.insert(key).inserted else { throw $0.error("duplicate key \"\(key)\"") }
            $0.skipSpace()
            guard !$0.atEnd, $0.current == UInt8(ascii: ":") else { throw $0.error("expected ':'") }
            $0.position += 1
            $0.skipSpace()
            members.append((key, try $0.parseValue(depth: depth + 1)))
        }
        return .object(members)
    }

    mutating func parseArray(depth: Int) throws -> JSONValue {
        var elements: [JSONValue] = []
        try parseList(close: "]", what: "array") { elements.append(try $0.parseValue(depth: depth + 1)) }
        return .array(elements)
    }

    /// The elements of an object or array from its opening bracket to `close`,
    /// separated by commas; `element` parses one, starting at its first non-space byte.
    mutating func parseList(close: Unicode.Scalar, what: String, element: (inout JSONParser) throws -> Void) throws {
        position += 1  // the opening bracket
        skipSpace()
        if !atEnd && current == UInt8(ascii: close) {
            position += 1
            return
        }
        while true {
            skipSpace()
            try element(&self)
            skipSpace()
            guard !atEnd else { throw error("unterminated \(what)") }
            if current == UInt8(ascii: ",") { position += 1; continue }
            if current == UInt8(ascii: close) { position += 1; return }
            throw error("expected ',' or '\(close)'")
        }
    }

    mutating func parseHex4() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard !atEnd else { throw error("truncated \\u escape") }
            let c = current
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("bad hex digit in \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    mutating func parseString() throws -> String {
        position += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var utf8Run: [UInt8] = []
        func flush(_ run: inout [UInt8], into s: inout String.UnicodeScalarView) throws {
            guard !run.isEmpty else { return }
            // Validate UTF-8: String(validating:) returns nil on malformed input.
            guard let text = String(validating: run, as: UTF8.self) else {
                throw ERIError.format("invalid JSON: malformed UTF-8 in a string")
            }
            s.append(contentsOf: text.unicodeScalars)
            run.removeAll(keepingCapacity: true)
        }
        while true {
            guard !atEnd else { throw error("unterminated string") }
            let c = current
            if c == UInt8(ascii: "\"") {
                position += 1
                try flush(&utf8Run, into: &scalars)
                return String(scalars)
            }
            if c < 0x20 { throw error("control character in a string") }
            if c != UInt8(ascii: "\\") {
                utf8Run.append(c)
                position += 1
                continue
            }
            try flush(&utf8Run, into: &scalars)
            position += 1
            guard !atEnd else { throw error("truncated escape") }
            let e = current
            position += 1
            switch e {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800...0xDBFF).contains(code) {
                    // A high surrogate must be followed by \u and a low surrogate.
                    guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                          bytes[position + 1] == UInt8(ascii: "u") else { throw error("lone surrogate") }
                    position += 2
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("bad surrogate pair") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(code) {
                    throw error("lone surrogate")
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid code point") }
                scalars.append(scalar)
            default:
                throw error("unknown escape")
            }
        }
    }

    mutating func parseNumber() throws -> Double {
        let start = position
        if current == UInt8(ascii: "-") { position += 1 }
        func digits(_ p: inout JSONParser) -> Int {
            var n = 0
            while !p.atEnd, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.current) { p.position += 1; n += 1 }
            return n
        }
        guard !atEnd else { throw error("truncated number") }
        if current == UInt8(ascii: "0") {
            position += 1
        } else if digits(&self) == 0 {
            throw error("expected digits")
        }
        if !atEnd && current == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw error("expected digits after '.'") }
        }
        if !atEnd && (current == UInt8(ascii: "e") || current == UInt8(ascii: "E")) {
            position += 1
            if !atEnd && (current == UInt8(ascii: "+") || current == UInt8(ascii: "-")) { position += 1 }
            guard digits(&self) > 0 else { throw error("expected exponent digits") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw error("number out of range") }
        return value
    }
}

// MARK: - Writing

extension JSONValue {
    /// Compact JSON text. Integral numbers within ±2^53 print without a
    /// fraction so that shapes and offsets read as integers.
    public var serialized: String {
        var out = ""
        write(to: &out, indent: nil, level: 0)
        return out
    }

    /// Indented JSON text for people (`eri info`).
    public func pretty(indent: Int = 2) -> String {
        var out = ""
        write(to: &out, indent: indent, level: 0)
        return out
    }

    private func write(to out: inout String, indent: Int?, level: Int) {
        func newline(_ level: Int) {
            if let indent { out += "\n" + String(repeating: " ", count: indent * level) }
        }
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .number(n): out += JSONValue.formatNumber(n)
        case let .string(s): JSONValue.writeString(s, to: &out)
        case let .array(a):
            out += "["
            // Arrays of scalars stay on one line even when pretty.
            let flat = a.allSatisfy { if case .array = $0 { return false }; if case .object = $0 { return false }; return true }
            for (i, v) in a.enumerated() {
                if i > 0 { out += indent != nil && flat ? ", " : "," }
                if !flat { newline(level + 1) }
                v.write(to: &out, indent: indent, level: level + 1)
            }
            if !flat && !a.isEmpty { newline(level) }
            out += "]"
        case let .object(members):
            out += "{"
            for (i, (k, v)) in members.enumerated() {
                if i > 0 { out += "," }
                newline(level + 1)
                JSONValue.writeString(k, to: &out)
                out += indent != nil ? ": " : ":"
                v.write(to: &out, indent: indent, level: level + 1)
            }
            if !members.isEmpty { newline(level) }
            out += "}"
        }
    }

    static func formatNumber(_ n: Double) -> String {
        guard n.isFinite else { return "null" }  // JSON has no NaN or infinity; a reader gets null, never invalid text
        if n == n.rounded(), abs(n) < 9_007_199_254_740_992 {
            return String(Int64(n))
        }
        return "\(n)"  // Swift prints the shortest text that reads back exactly.
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
