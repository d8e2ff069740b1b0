import Foundation
import Testing
import ERICore

/// Runs the reference oracle (librosa / PyTorch, reference/) in one Python
/// process per batch of cases. The interpreter is $ERI_PYTHON, else the
/// repository's .venv/bin/python; without either the tests fail, never skip:
/// run `make venv`.
enum Oracle {
    static let repository: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var python: String {
        if let p = ProcessInfo.processInfo.environment["ERI_PYTHON"], !p.isEmpty { return p }
        return repository + "/.venv/bin/python"
    }

    /// A fresh temporary folder for one batch of cases.
    static func scratch(_ name: String) throws -> String {
        let path = NSTemporaryDirectory() + "eri-features-\(name)-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs the interpreter with `arguments`; throws with its output on failure.
    static func runPython(_ arguments: [String], in folder: String) throws {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw OracleError("no Python for the reference oracle at \(python): run `make venv` (or set ERI_PYTHON)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let log = folder + "/oracle.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw OracleError("oracle \(arguments.prefix(2).joined(separator: " ")) failed (status \(process.terminationStatus)):\n\(text.suffix(4000))")
        }
    }

    static func writeJSON(_ value: Any, to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted])
        try data.write(to: URL(fileURLWithPath: path))
    }
}

struct OracleError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func writeFloats(_ values: [Float], to path: String) throws {
    let data = values.withUnsafeBufferPointer { Data(buffer: $0) }  // little-endian host
    try data.write(to: URL(fileURLWithPath: path))
}

func readFloats(_ path: String) throws -> [Float] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return data.withUnsafeBytes { raw in Array(raw.bindMemory(to: Float.self)) }
}

/// llm.c-style checker: prints the first values and the max |difference|,
/// and records an issue when it is over `tolerance` (or the sizes differ).
@discardableResult
func check(_ name: String, _ got: [Float], _ want: [Float], tolerance: Float,
           sourceLocation: SourceLocation = #_sourceLocation) -> Float {
    guard got.count == want.count else {
        Issue.record("\(name): \(got.count) values, the reference has \(want.count)", sourceLocation: sourceLocation)
        return .infinity
    }
    var maxDiff: Float = 0
    for i in 0..<got.count {
        let d = abs(got[i] - want[i])
        maxDiff = d.isNaN ? .infinity : max(maxDiff, d)
    }
    let first = (0..<min(3, got.count)).map { String(format: "%.5f/%.5f", got[$0], want[$0]) }.joined(separator: " ")
    print("\(name): max|diff| = \(maxDiff)  first (got/want): \(first)")
    #expect(maxDiff <= tolerance, "\(name): max|diff| \(maxDiff) over \(tolerance)", sourceLocation: sourceLocation)
    return maxDiff
}

/// SplitMix64: deterministic test data, independent of the library's own RNG.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Standard normal (Box–Muller).
    mutating func gaussian() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next() >> 56) }
}

/// Expects `body` to throw `ERIError` with code `.invalidArgument` (and not to crash).
func expectInvalidArgument(_ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("\(what): no error, expected invalidArgument", sourceLocation: sourceLocation)
    } catch let error as ERIError {
        #expect(error.code == .invalidArgument, "\(what): \(error.code) \(error.message)", sourceLocation: sourceLocation)
        print("\(what): invalidArgument: \(error.message)")
    } catch {
        Issue.record("\(what): unexpected error \(error)", sourceLocation: sourceLocation)
    }
}
