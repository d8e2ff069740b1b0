import Foundation
import Testing
import ERICore

/// Runs the PyTorch reference (reference/) to produce oracle cases. The
/// interpreter is $ERI_PYTHON, else the repository's .venv; without either the
/// tests fail (they never skip): run `make venv`.
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

    /// Runs `reference/<script>` with arguments; throws with its stderr on failure.
    static func run(_ script: String, _ arguments: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw OracleError("no Python for the reference oracle at \(python): run `make venv` or set ERI_PYTHON")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [repository + "/reference/" + script] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OracleError("reference/\(script) \(arguments.joined(separator: " ")) failed:\n" + String(decoding: message, as: UTF8.self))
        }
    }

    /// Cases are cached per process run in one temporary folder, removed when the test process exits.
    static let scratch: String = {
        let p = NSTemporaryDirectory() + "eri-oracle-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Oracle.scratch) }
        return p
    }()
    nonisolated(unsafe) static var cases: [String: String] = [:]
    static let lock = NSLock()

    /// A reference case folder (model.eri, case.safetensors, case.json).
    static func makeCase(_ arguments: [String]) throws -> String {
        let key = arguments.joined(separator: " ")
        lock.lock()
        defer { lock.unlock() }
        if let dir = cases[key] { return dir }
        let dir = scratch + "/case-\(cases.count)"
        try run("make_case.py", arguments + ["--out", dir])
        cases[key] = dir
        return dir
    }
}

struct OracleError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// llm.c-style checker: prints the first values and the max difference, and
/// records a test issue when the difference is over `tolerance`.
/// `relative` divides by the reference's max magnitude (at least 1).
@discardableResult
func check(_ name: String, _ got: [Float], _ want: [Float], tolerance: Float, relative: Bool = false,
           scaleByMax: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) -> Float {
    guard got.count == want.count else {
        Issue.record("\(name): \(got.count) values, reference has \(want.count)", sourceLocation: sourceLocation)
        return .infinity
    }
    var maxDiff: Float = 0
    var maxRef: Float = 0
    for i in 0..<got.count {
        let d = abs(got[i] - want[i])
        maxDiff = d.isNaN ? .infinity : max(maxDiff, d)
        maxRef = max(maxRef, abs(want[i]))
    }
    // relative: divided by the reference's largest magnitude, floored at 1, or
    // (scaleByMax, for gradients whose scale is arbitrary) by that magnitude alone.
    let scaled = relative ? maxDiff / (scaleByMax ? max(maxRef, 1e-12) : max(maxRef, 1)) : maxDiff
    let first = (0..<min(4, got.count)).map { "\(got[$0])/\(want[$0])" }.joined(separator: " ")
    print("  \(name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(relative ? "rel" : "abs") diff \(scaled)  first (ours/ref): \(first)")
    #expect(scaled <= tolerance, "\(name): difference \(scaled) over \(tolerance)", sourceLocation: sourceLocation)
    return scaled
}

/// Reads a tensor from a reference case file.
func caseTensor(_ file: SafetensorsFile, _ name: String) throws -> Tensor {
    guard let e = file.entry(named: name) else { throw OracleError("case has no tensor \(name)") }
    return Tensor(shape: e.shape, data: file.floats(e))
}
