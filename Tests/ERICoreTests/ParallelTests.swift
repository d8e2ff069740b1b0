import CERISupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import ERICore
import ERITestSupport

@Suite(.serialized) struct ParallelTests {
    @Test func coversEveryIndexOnce() {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        for threads in [1, 2, 3, 8] {
            setComputeThreads(threads)
            for count in [0, 1, 2, 5, 1000] {
                let hits = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
                hits.initialize(repeating: 0, count: max(count, 1))
                defer { hits.deallocate() }
                parallelRanges(count, grain: 3) { r in for i in r { hits[i] += 1 } }
                #expect((0..<count).allSatisfy { hits[$0] == 1 }, "threads \(threads), count \(count)")
                // parallelTasks: each task once, the kernels inside it finishing (the pool is busy: in turn).
                parallelTasks(count) { task in
                    let inner = UnsafeMutablePointer<Int>.allocate(capacity: 64)
                    defer { inner.deallocate() }
                    parallelFor(64) { i in inner[i] = i }
                    if (0..<64).allSatisfy({ inner[$0] == $0 }) { hits[task] += 1 }
                }
                #expect((0..<count).allSatisfy { hits[$0] == 2 }, "tasks: threads \(threads), count \(count)")
            }
        }
    }

    @Test func nestedAndConcurrentCallsFinish() {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        setComputeThreads(2)
        let n = 64
        let out = UnsafeMutablePointer<Int>.allocate(capacity: n * n)
        out.initialize(repeating: 0, count: n * n)
        defer { out.deallocate() }
        // Nested: the inner call finds the pool busy and runs on its caller.
        parallelFor(n) { i in parallelFor(n) { j in out[i * n + j] = i * j } }
        #expect((0..<(n * n)).allSatisfy { out[$0] == ($0 / n) * ($0 % n) })
        // Several threads calling at once: each gets its full result.
        let sums = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        sums.initialize(repeating: 0, count: 4)
        defer { sums.deallocate() }
        var threads = [pthread_t]()
        for t in 0..<4 {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(ClosureBox {
                for _ in 0..<200 {
                    let partial = UnsafeMutablePointer<Int>.allocate(capacity: 100)
                    partial.initialize(repeating: 0, count: 100)
                    parallelFor(100) { i in partial[i] = i }
                    sums[t] += (0..<100).reduce(0) { $0 + partial[$1] }
                    partial.deallocate()
                }
            }).toOpaque()
            #expect(pthread_create(&thread, nil, { c in
                Unmanaged<ClosureBox>.fromOpaque(c!).takeRetainedValue().body()
                return nil
            }, context) == 0)
            threads.append(thread)
        }
        for t in threads { pthread_join(t, nil) }
        #expect((0..<4).allSatisfy { sums[$0] == 200 * 4950 })
    }
}

extension ParallelTests {
    /// `parallelTasks` (each task once: `coversEveryIndexOnce`): with the pool free, tasks
    /// run on two threads at once (task 0 waits, at most 0.2 s, for task 1 to start).
    @Test func tasksRunAtOnce() {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        // Other suites' kernels may hold the pool (the tasks then run in turn): try up to 100 times.
        setComputeThreads(2)
        var overlapped = false
        for _ in 0..<100 where !overlapped {
            let secondStarted = StartFlag()
            parallelTasks(2) { task in
                if task == 1 { secondStarted.value.store(true, ordering: .sequentiallyConsistent); return }
                for _ in 0..<200 where !secondStarted.value.load(ordering: .sequentiallyConsistent) { usleep(1000) }
                overlapped = secondStarted.value.load(ordering: .sequentiallyConsistent)
            }
        }
        #expect(overlapped, "task 1 did not start while task 0 ran")
    }
}

final class StartFlag: Sendable {
    let value = Atomic<Bool>(false)
}

final class ClosureBox {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

extension ParallelTests {
    /// CERISupport's placement.c: a thread on CPU c steps off it (where it may use another
    /// CPU) and keeps the CPUs it may use; on another CPU, or for c = −1, nothing happens.
    @Test func stepsOffACPUAndKeepsItsMask() throws {
        func allowed() throws -> String {
            try String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8).split(separator: "\n")
                .first { $0.hasPrefix("Cpus_allowed_list:") }.map(String.init) ?? ""
        }
        let mask = try allowed()
        let cpu = liberi_current_cpu()
        #expect(cpu >= 0)
        #expect(liberi_step_off_cpu(-1) == 0)
        let here = liberi_current_cpu()
        let moved = liberi_step_off_cpu(here)
        let several = mask.contains(",") || mask.contains("-")
        #expect(moved == (several ? 1 : 0), "mask \(mask), cpu \(here)")
        #expect(try allowed() == mask)
    }
}
