import Foundation
import ERICore

/// The independent oracles of reference/ (PyTorch, librosa). The interpreter
/// is $ERI_PYTHON, else the repository's .venv/bin/python; without either a
/// test that needs the oracle fails, it never skips: run `make venv`.
public enum Oracle {
    /// The repository's root folder.
    public static let repository: String = {
        var url = URL(fileURLWithPath: #filePath)   // Tests/ERITestSupport/Oracle.swift
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static var python: String {
        if let p = ProcessInfo.processInfo.environment["ERI_PYTHON"], !p.isEmpty { return p }
        return repository + "/.venv/bin/python"
    }

    /// Runs `reference/<script>` with `arguments` and returns its standard
    /// output; throws with what it printed when it fails.
    @discardableResult
    public static func run(_ script: String, _ arguments: [String]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw OracleError("no Python for the reference oracle at \(python): run `make venv` or set ERI_PYTHON")
        }
        let result = try Command.run(python, [repository + "/reference/" + script] + arguments)
        guard result.succeeded else {
            throw OracleError("reference/\(script) \(arguments.joined(separator: " ")) failed (status \(result.status)):\n"
                              + result.standardOutput.suffix(2000) + result.standardError.suffix(4000))
        }
        return result.standardOutput
    }

    /// One folder for the oracle's cases in this test process, removed when it exits.
    public static let scratch = TemporaryFolder.untilExit("eri-oracle")
    nonisolated(unsafe) static var cases: [String: String] = [:]
    static let lock = NSLock()

    /// Runs `reference/<script> ARGUMENTS --out FOLDER` once per test process
    /// for each distinct script and arguments, FOLDER a new one in `scratch`,
    /// and returns FOLDER (for make_case.py: model.eri, case.safetensors, case.json).
    public static func cachedCase(_ script: String, _ arguments: [String]) throws -> String {
        let key = ([script] + arguments).joined(separator: " ")
        lock.lock()
        defer { lock.unlock() }
        if let folder = cases[key] { return folder }
        let folder = scratch + "/case-\(cases.count)"
        try run(script, arguments + ["--out", folder])
        cases[key] = folder
        return folder
    }
}

public struct OracleError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A manifest or case description for an oracle program.
public func writeJSON(_ value: Any, to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted])
    try data.write(to: URL(fileURLWithPath: path))
}

/// Raw little-endian float32, the oracles' array format (this host is little-endian).
public func writeFloats(_ values: [Float], to path: String) throws {
    let data = values.withUnsafeBufferPointer { Data(buffer: $0) }
    try data.write(to: URL(fileURLWithPath: path))
}

public func readFloats(_ path: String) throws -> [Float] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return data.withUnsafeBytes { raw in Array(raw.bindMemory(to: Float.self)) }
}

/// A tensor of a reference case file.
public func caseTensor(_ file: SafetensorsFile, _ name: String) throws -> Tensor {
    guard let entry = file.entry(named: name) else { throw OracleError("the case has no tensor \(name)") }
    return Tensor(shape: entry.shape, data: file.floats(entry))
}
