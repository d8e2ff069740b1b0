#if canImport(Glibc)
import Glibc
#endif

/// A bump allocator for the float workspaces of one forward pass. A pass asks
/// for its buffers in the same order every time, so after the first call with
/// a given shape the arena holds one block of exactly the peak size and no
/// operation allocates. Not thread-safe: each concurrent call takes its own
/// arena from an `ArenaPool`.
public final class Arena: @unchecked Sendable {
    private var block: UnsafeMutableRawPointer
    private var capacity: Int          // bytes in `block`
    private var used = 0               // bytes handed out from `block`
    private var overflow: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []
    private var overflowBytes = 0
    public private(set) var peakBytes = 0

    public init(bytes: Int = 1 << 20) {
        capacity = max(bytes, 64)
        block = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    deinit {
        block.deallocate()
        for p in overflow { p.pointer.deallocate() }
    }

    /// `count` floats, 64-byte aligned, contents undefined.
    public func floats(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: bytes(count * 4).bindMemory(to: Float.self, capacity: count), count: count)
    }

    /// `count` doubles, 64-byte aligned, contents undefined.
    public func doubles(_ count: Int) -> UnsafeMutablePointer<Double> {
        bytes(count * 8).bindMemory(to: Double.self, capacity: count)
    }

    /// `count` 32-bit unsigned integers, 64-byte aligned, contents undefined.
    public func uint32s(_ count: Int) -> UnsafeMutablePointer<UInt32> {
        bytes(count * 4).bindMemory(to: UInt32.self, capacity: count)
    }

    private func bytes(_ count: Int) -> UnsafeMutableRawPointer {
        let bytes = (max(count, 4) + 63) & ~63
        let p: UnsafeMutableRawPointer
        if used + bytes <= capacity {
            p = block + used
            used += bytes
        } else {
            p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            overflow.append((p, bytes))
            overflowBytes += bytes
        }
        peakBytes = max(peakBytes, used + overflowBytes)
        return p
    }

    /// The arena's position, for `rewind(to:)`.
    public struct Mark { fileprivate let used: Int, overflows: Int }

    /// The arena's position now, for `rewind(to:)`.
    public var mark: Mark { Mark(used: used, overflows: overflow.count) }

    /// Forgets the buffers handed out since `mark` was read, so the next ones
    /// reuse that memory while it is still in cache: an inference pass rewinds
    /// past a layer's temporaries once its output is written, and a pass over
    /// many images in groups past each group's. Buffers that overflowed the
    /// block since then are freed: the memory held is the peak of what is in
    /// use at once, never the sum of the groups' (and `reset` grows the block
    /// to that peak).
    public func rewind(to mark: Mark) {
        used = min(used, mark.used)
        while overflow.count > mark.overflows {
            let last = overflow.removeLast()
            last.pointer.deallocate()
            overflowBytes -= last.bytes
        }
    }

    /// `count` zeroed floats.
    public func zeros(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        let b = floats(count)
        b.initialize(repeating: 0)
        return b
    }

    /// Forgets every buffer handed out. When the last pass overflowed, the
    /// block grows to that pass's peak so the next one fits in it.
    public func reset() {
        for p in overflow { p.pointer.deallocate() }
        overflow.removeAll()
        if peakBytes > capacity {
            block.deallocate()
            capacity = peakBytes
            block = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        }
        used = 0
        overflowBytes = 0
    }
}

/// Arenas for concurrent callers of one immutable model. A thread gets back,
/// when it can, the arena it gave back last: its memory is then likely in that
/// thread's core's caches, where memory last written on another core costs a
/// transfer of every cache line written again (on this 2-core machine a 3.7 MB
/// buffer took 2.6 ms to fill instead of 0.5 after the filling thread had
/// changed cores).
public final class ArenaPool: @unchecked Sendable {
    private var free: [(arena: Arena, thread: pthread_t)] = []
    private let lock = Lock()
    /// An arena whose peak went beyond this many bytes is freed after use
    /// rather than kept: one huge input does not pin its memory for good.
    private let keepLimit: Int

    public init(keepingAtMost bytes: Int = .max) { keepLimit = bytes }

    private func giveBack(_ arena: Arena) {
        arena.reset()
        if arena.peakBytes <= keepLimit { lock.withLock { free.append((arena, pthread_self())) } }
    }

    private func take() -> Arena {
        let me = pthread_self()
        return lock.withLock { () -> Arena? in
            if let i = free.lastIndex(where: { pthread_equal($0.thread, me) != 0 }) { return free.remove(at: i).arena }
            return free.popLast()?.arena
        } ?? Arena()
    }

    /// The non-throwing form, chosen for closures that cannot throw. It is not
    /// only a convenience: with Swift 6.3 in release builds, a non-throwing
    /// closure passed to the `rethrows` form came back through a thunk that
    /// left a pointer in the error register (r12 on x86-64), which a throwing
    /// caller further up then took for a thrown error and crashed on
    /// (the streaming path hit it; see ModelStream).
    public func withArena<R>(_ body: (Arena) -> R) -> R {
        let arena = take()
        defer { giveBack(arena) }
        return body(arena)
    }

    public func withArena<R>(_ body: (Arena) throws -> R) rethrows -> R {
        let arena = take()
        defer { giveBack(arena) }
        return try body(arena)
    }
}
