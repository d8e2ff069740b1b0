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

final class ClosureBox {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
