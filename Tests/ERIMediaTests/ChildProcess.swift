import Foundation
import Testing
import ERICore
@testable import ERIMedia
import ERITestSupport

/// Some checks need a process of their own: dropping root to test a
/// permission error (setuid is process-wide, and fork() from a multithreaded
/// test runner is unsafe), or measuring peak RSS without the other tests'
/// memory. The test binary re-runs itself with a filter that selects only
/// `childEntry`, and an environment variable naming the task; the child
/// prints one `ERI_CHILD_RESULT …` line.
enum ChildProcess {
    static let taskVariable = "ERI_MEDIA_CHILD_TASK"
    static let resultPrefix = "ERI_CHILD_RESULT "

    /// Runs `task` (with `argument`) in a child test process; returns its
    /// result line without the prefix, or nil if it printed none within `seconds`.
    static func run(_ task: String, _ argument: String, seconds: Double = 60) throws -> String? {
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let child = try Command.run(binary, ["--testing-library", "swift-testing", "--filter", "ERIMediaTests\\.ChildEntry"],
                                    environment: [taskVariable: "\(task)\n\(argument)"], timeLimit: seconds)
        if child.timedOut {
            Issue.record("child task \(task) did not finish within \(seconds) s")
            return nil
        }
        for line in child.standardOutput.split(separator: "\n") where line.hasPrefix(resultPrefix) {
            return String(line.dropFirst(resultPrefix.count))
        }
        Issue.record("child task \(task) printed no result; its output:\n\(child.standardOutput)\(child.standardError)")
        return nil
    }

    static func report(_ text: String) {
        print(resultPrefix + text.replacingOccurrences(of: "\n", with: " "))
        fflush(stdout)
    }
}

/// Peak and current resident set size of this process, in bytes (Linux), from
/// /proc/self/status (VmHWM, VmRSS). Not getrusage: its ru_maxrss survives
/// execve, and a child spawned with vfork semantics starts with the peak of the
/// test runner it was spawned from (seen in CI: 422 MiB "peak" for a decode
/// that used 95 MiB, because the parallel test run around it was that large).
func residentMemory() -> (current: Int, peak: Int) {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func kilobytes(_ key: String) -> Int {
        for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
            let number = line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
            return (number.flatMap { Int($0) } ?? 0) * 1024
        }
        return 0
    }
    return (kilobytes("VmRSS"), kilobytes("VmHWM"))
}

@Suite struct ChildEntry {
    /// Does nothing in a normal run; in a child process, performs its task.
    @Test func childEntry() throws {
        guard let task = ProcessInfo.processInfo.environment[ChildProcess.taskVariable] else { return }
        let parts = task.split(separator: "\n", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return ChildProcess.report("bad task") }
        switch parts[0] {
        case "unreadable":
            // Become nobody, for whom mode 000 means what it says.
            guard setgroups(0, nil) == 0, setgid(65534) == 0, setuid(65534) == 0 else {
                return ChildProcess.report("cannot-drop-privileges")
            }
            do {
                _ = try decodeMedia(path: parts[1], frames: 4, audioRate: 16000)
                ChildProcess.report("success")
            } catch let error as ERIError {
                ChildProcess.report("\(error.code.rawValue) \(error.message)")
            }
        case "rss-returned", "rss-streamed":
            // Returned: 16 full frames kept; streamed: 32 frames seen one at a time, as a predictor uses them.
            let before = residentMemory()
            let start = Date()
            var count = 0
            let audio: DecodedAudio?
            if parts[0] == "rss-returned" {
                let result = try decodeMedia(path: parts[1], frames: 16, audioRate: 16000)
                (count, audio) = (result.frames.count, result.audio)
            } else {
                audio = try decodeMedia(path: parts[1], frames: 32, audioRate: 16000) { _, positions in count += positions.count }.audio
            }
            let after = residentMemory()
            ChildProcess.report("\(before.current) \(after.peak) \(count) \(audio?.frameCount ?? 0) "
                + "\(Date().timeIntervalSince(start))")
        default:
            ChildProcess.report("unknown task \(parts[0])")
        }
    }
}
