import CERISupport
#if canImport(Glibc)
import Glibc
#endif

/// Splits 0..<count into contiguous ranges of at least `grain` items — up to
/// four per thread, so that a thread that finishes early (or a worker that
/// wakes late) takes more of them — and runs `body` on them on up to
/// `computeThreads()` threads, the caller included. The split depends only
/// on `count`, `grain` and the thread count, so a kernel that writes
/// disjoint outputs per range is deterministic.
///
/// The kernels outside OpenBLAS (im2col, col2im, pooling, norms) use this so
/// that they scale with the same thread setting as the GEMMs. One parallel
/// job runs at a time: a call made while the pool is busy (another thread's
/// kernel, or a nested call from inside `body`) runs serially on its caller,
/// which keeps concurrent predictions on one model safe and never deadlocks.
public func parallelRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let threads = min(computeThreads(), WorkerPool.maxThreads)
    let parts = min(4 * threads, max(1, count / max(grain, 1)))
    if threads <= 1 || parts <= 1 { body(0..<count); return }
    let ranges = (0..<parts).map { p in (count * p / parts)..<(count * (p + 1) / parts) }
    WorkerPool.shared.run(ranges, threads: threads, body)
}

/// `parallelRanges` one index at a time.
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    parallelRanges(count) { range in for i in range { body(i) } }
}

/// Runs `body(0)` … `body(count − 1)` on up to `computeThreads()` threads, the
/// caller included, each task whole on one thread: for coarse, independent work
/// (a clip's frames, the two branches), where splitting every kernel of a small
/// network over the threads scales worse than giving each thread its own share.
/// Threads take the tasks in index order: put the longest first. Kernels inside a
/// task find the pool busy and run their parts in turn on that thread, split as
/// they would be on their own, so a task computes the same floats as the same
/// calls outside one. In order on the caller when the pool is busy or there is one thread.
public func parallelTasks(_ count: Int, _ body: (Int) -> Void) {
    guard count > 0 else { return }
    let threads = min(computeThreads(), WorkerPool.maxThreads)
    if threads <= 1 || count <= 1 { for i in 0..<count { body(i) }; return }
    WorkerPool.shared.run((0..<count).map { $0..<($0 + 1) }, threads: threads, coarse: true) { r in for i in r { body(i) } }
}

/// A fixed set of pthreads that sleep on a condition variable between jobs.
final class WorkerPool: @unchecked Sendable {
    static let maxThreads = 64
    static let shared = WorkerPool()

    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var finished = pthread_cond_t()
    private var busy = false
    private var workers = 0
    // The current job: ranges still to take, ranges not yet done.
    private var job: ((Range<Int>) -> Void)?
    private var ranges: [Range<Int>] = []
    private var nextRange = 0
    private var pending = 0
    /// Workers that may still join the current job (threads − 1 at its start).
    private var openSeats = 0
    /// Counts jobs, so that a worker joins each job at most once.
    private var generation = 0
    /// The CPU the current coarse job's caller ran on when it started the job, −1 for the
    /// kernels' jobs (`run(_:threads:coarse:_:)`).
    private var callerCPU: Int32 = -1

    private init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        pthread_cond_init(&finished, nil)
    }

    /// Runs `body` on every range, on the caller and up to `threads − 1` workers.
    /// `coarse`: a few long ranges (`parallelTasks`), for which a worker woken on the
    /// caller's CPU moves off it (`liberi_step_off_cpu`); for the short jobs of the
    /// kernels, moving costs more than it saves.
    func run(_ work: [Range<Int>], threads: Int, coarse: Bool = false, _ body: (Range<Int>) -> Void) {
        pthread_mutex_lock(&mutex)
        if busy {
            pthread_mutex_unlock(&mutex)
            for r in work { body(r) }
            return
        }
        busy = true
        while workers < min(work.count, threads) - 1 && spawnWorker() { workers += 1 }
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            ranges = work
            nextRange = 0
            pending = work.count
            openSeats = threads - 1
            generation &+= 1
            callerCPU = coarse ? liberi_current_cpu() : -1
            pthread_cond_broadcast(&wake)
            // The caller works too: holding the mutex, it takes range 0 before
            // any worker wakes, then whatever no worker has taken (all of it
            // when there are no worker threads at all).
            takeRanges()
            while pending > 0 { pthread_cond_wait(&finished, &mutex) }
            job = nil
            ranges = []
        }
        busy = false
        pthread_mutex_unlock(&mutex)
    }

    /// Called with the mutex held.
    private func spawnWorker() -> Bool {
        var thread = pthread_t()
        let context = Unmanaged.passUnretained(self).toOpaque()
        return pthread_create(&thread, nil, { context in
            Unmanaged<WorkerPool>.fromOpaque(context!).takeUnretainedValue().workerLoop()
            return nil
        }, context) == 0 && pthread_detach(thread) == 0
    }

    /// A worker joins a job if a seat is open (so a job for n threads never
    /// runs on more, however many workers earlier jobs started), then takes
    /// ranges until none is left.
    private func workerLoop() {
        pthread_mutex_lock(&mutex)
        var joined = 0
        while true {
            while job == nil || nextRange >= ranges.count || joined == generation || openSeats == 0 {
                pthread_cond_wait(&wake, &mutex)
            }
            joined = generation
            openSeats -= 1
            // Woken on the caller's CPU, it moves (unlocked: a syscall); the caller may
            // meanwhile have done the whole job, or started the next one.
            if callerCPU >= 0 && liberi_current_cpu() == callerCPU {
                let cpu = callerCPU
                pthread_mutex_unlock(&mutex)
                _ = liberi_step_off_cpu(cpu)
                pthread_mutex_lock(&mutex)
                if job == nil || joined != generation { continue }
            }
            takeRanges()
            if pending == 0 { pthread_cond_signal(&finished) }
        }
    }

    /// Runs the current job on its ranges, one at a time, until none is left
    /// to take: the loop of the caller of `run` and of every worker. Called,
    /// and returns, with the mutex held; it is released while the job runs,
    /// so that other threads take ranges meanwhile.
    private func takeRanges() {
        let body = job!
        while nextRange < ranges.count {
            let r = ranges[nextRange]
            nextRange += 1
            pthread_mutex_unlock(&mutex)
            body(r)
            pthread_mutex_lock(&mutex)
            pending -= 1
        }
    }
}
