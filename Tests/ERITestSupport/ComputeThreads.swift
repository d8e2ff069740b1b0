import Foundation
import ERICore

/// OpenBLAS's thread count (`setComputeThreads`) is one number for the whole
/// process, and suites run in parallel: a test that sets it would change it
/// under another whose bit-for-bit results need it to stay put (training
/// resumed from a checkpoint, kept against recomputed columns). Such tests take
/// turns: `ComputeThreads.take()` first, then `defer { ComputeThreads.giveBack() }`,
/// which also puts back the count the test found.
public enum ComputeThreads {
    private static let lock = NSRecursiveLock()
    nonisolated(unsafe) private static var saved: [Int] = []

    public static func take() {
        lock.lock()
        saved.append(computeThreads())
    }

    public static func giveBack() {
        setComputeThreads(saved.removeLast())
        lock.unlock()
    }
}
