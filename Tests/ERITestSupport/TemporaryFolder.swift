import Foundation

/// A fresh folder under the system's temporary folder, made at once and
/// removed with everything in it when the value goes away.
public final class TemporaryFolder: Sendable {
    public let path: String

    /// `label` starts the folder's name, to tell whose it is in /tmp.
    public init(_ label: String = "eri-test") {
        path = makeTemporaryFolder(label)
    }

    /// The path of `name` inside the folder (nothing is created).
    public func file(_ name: String) -> String { path + "/" + name }

    deinit { removeFolder(path) }

    /// A fresh folder that lasts until the test process exits: for what a
    /// whole run shares, such as cached oracle cases or a data set.
    public static func untilExit(_ label: String) -> String {
        let path = makeTemporaryFolder(label)
        FoldersRemovedAtExit.add(path)
        return path
    }
}

private func makeTemporaryFolder(_ label: String) -> String {
    var template = Array((NSTemporaryDirectory() + label + "-XXXXXX").utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed for \(label) in \(NSTemporaryDirectory())")
    return String(cString: template)
}

private func removeFolder(_ path: String) {
    // A test may leave a folder without permissions behind; give them back first.
    _ = chmod(path, 0o755)
    try? FileManager.default.removeItem(atPath: path)
}

/// atexit takes a plain C function: the paths wait here.
private enum FoldersRemovedAtExit {
    nonisolated(unsafe) static var paths: [String] = []
    static let lock = NSLock()

    static func add(_ path: String) {
        lock.lock()
        defer { lock.unlock() }
        if paths.isEmpty { atexit { FoldersRemovedAtExit.removeAll() } }
        paths.append(path)
    }

    static func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        paths.forEach(removeFolder)
        paths.removeAll()
    }
}
