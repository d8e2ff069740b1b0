#if canImport(Glibc)
import Glibc
#endif
import CBLAS

/// OpenBLAS 0.3.21 (Debian 12) does not know CPUs newer than it (Sapphire
/// Rapids, Zen 4, …) and falls back to its generic "Prescott" SSE3 kernels,
/// which run sgemm about 4.8× slower than its AVX-512 ones on the same chip
/// (measured by `make bench`: 30 vs 146 GFLOP/s on one core). Since liberi
/// spends nearly all its time in sgemm, it re-selects the kernels once when
/// (a) OpenBLAS fell back to Prescott, (b) the CPU reports the AVX-512
/// subsets the SkylakeX kernels use (or at least AVX2/FMA for Haswell's), and
/// (c) neither OPENBLAS_CORETYPE nor ERI_OPENBLAS_KEEP is set, so a host that
/// chose its kernels keeps them. It uses OpenBLAS's own dynamic-arch switch
/// (gotoblas_dynamic_quit/init with OPENBLAS_CORETYPE), found with dlsym so a
/// non-dynamic OpenBLAS is simply left alone.
public enum BLASKernels {
    /// The kernel family OpenBLAS uses now ("SkylakeX", "Prescott", …).
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// What `selectFastKernels` did, for `eri info`-style diagnostics.
    public static let selection: String = {
        let before = coreName
        guard before.lowercased() == "prescott" else { return "OpenBLAS kernels: \(before)" }
        guard getenv("OPENBLAS_CORETYPE") == nil, getenv("ERI_OPENBLAS_KEEP") == nil else {
            return "OpenBLAS kernels: \(before) (kept: OPENBLAS_CORETYPE or ERI_OPENBLAS_KEEP is set)"
        }
        let flags = cpuFlags()
        let target: String
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(flags.contains) {
            target = "SkylakeX"
        } else if ["avx2", "fma"].allSatisfy(flags.contains) {
            target = "Haswell"
        } else {
            return "OpenBLAS kernels: \(before) (the CPU has no AVX2)"
        }
        // RTLD_DEFAULT is the null handle on glibc: search every loaded object.
        guard let quit = dlsym(nil, "gotoblas_dynamic_quit"),
              let initialise = dlsym(nil, "gotoblas_dynamic_init") else {
            return "OpenBLAS kernels: \(before) (not a dynamic-arch OpenBLAS)"
        }
        typealias VoidFunction = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", target, 0)
        unsafeBitCast(quit, to: VoidFunction.self)()
        unsafeBitCast(initialise, to: VoidFunction.self)()
        unsetenv("OPENBLAS_CORETYPE")
        return "OpenBLAS kernels: \(coreName) (OpenBLAS 0.3.21 fell back to \(before) on this CPU; liberi selected \(target))"
    }()

    /// Runs the selection once (thread-safe: a Swift global is initialised once).
    public static func selectFastKernels() { _ = selection }

    /// The `flags` line of /proc/cpuinfo, read without Foundation.
    static func cpuFlags() -> Set<String> {
        firstLine(ofFile: "/proc/cpuinfo") { text in
            text.hasPrefix("flags")
                ? Set(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == ":" }).map(String.init)) : nil
        } ?? []
    }
}
