#if canImport(Glibc)
import Glibc
#endif

/// liberi never prints. Messages go to one optional handler, which the C
/// façade connects to `eri_set_log_callback` and the CLI to stderr.
public enum Log {
    public enum Level: Int32, Sendable { case error = 0, warning = 1, info = 2, debug = 3 }
    public typealias Handler = @Sendable (Level, String) -> Void

    nonisolated(unsafe) private static var handler: Handler?
    private static let lock = Lock()

    public static func setHandler(_ h: Handler?) {
        lock.withLock { handler = h }
    }

    public static func emit(_ level: Level, _ message: @autoclosure () -> String) {
        guard let h = lock.withLock({ handler }) else { return }
        h(level, message())
    }
}

/// A pthread mutex for the few places that share mutable state.
public final class Lock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    public init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
