import Foundation

/// How a command ended and what it printed.
public struct CommandResult: Sendable {
    /// The exit status, or the signal that ended the command.
    public var status: Int32
    public var standardOutput: String
    public var standardError: String
    /// The command ran past its time limit and was terminated.
    public var timedOut: Bool

    public var succeeded: Bool { status == 0 && !timedOut }
}

public struct CommandError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The one way tests start another program.
public enum Command {
    /// Runs `executable` with `arguments` and waits for it. Standard input is
    /// /dev/null; standard output and error go to files, read back at the end,
    /// so that a chatty program never blocks on a full pipe. `environment` is
    /// added to this process's. With `timeLimit` (seconds), a program still
    /// running then is terminated and the result says `timedOut`.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           timeLimit: Double? = nil) throws -> CommandResult {
        let folder = TemporaryFolder("eri-command")
        let outputPath = folder.file("stdout"), errorPath = folder.file("stderr")
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        defer {
            try? output.close()
            try? errors.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        var timedOut = false
        if let timeLimit {
            let deadline = Date().addingTimeInterval(timeLimit)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning {
                process.terminate()
                timedOut = true
            }
        }
        process.waitUntilExit()
        func text(_ path: String) -> String {
            String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
        }
        return CommandResult(status: process.terminationStatus, standardOutput: text(outputPath),
                             standardError: text(errorPath), timedOut: timedOut)
    }

    /// The standard output of a command that must succeed; a failure throws
    /// with the command line and the end of its standard error.
    @discardableResult
    public static func output(_ executable: String, _ arguments: [String]) throws -> String {
        let result = try run(executable, arguments)
        guard result.succeeded else {
            throw CommandError("\(executable) \(arguments.joined(separator: " ")) exited with \(result.status):\n"
                               + result.standardError.suffix(4000))
        }
        return result.standardOutput
    }
}

/// `ffmpeg -nostdin -v error -y ARGUMENTS`, the command-line oracle for
/// decoding and the maker of test media; throws when ffmpeg fails.
public func ffmpeg(_ arguments: [String]) throws {
    try Command.output("/usr/bin/ffmpeg", ["-nostdin", "-v", "error", "-y"] + arguments)
}
