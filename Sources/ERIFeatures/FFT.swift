import CFFmpeg
import ERICore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How the power spectrum |X_k|², k = 0…n/2, of one real frame of n samples
/// is computed (SPEC §4.2 step 2, librosa's `np.fft.rfft`). Chosen once per
/// size, because libavutil 5.1's transforms are neither all correct nor all
/// fast:
///
/// - `AV_TX_FLOAT_RDFT` is wrong when n/2 is odd (n ≡ 2 mod 4: bins 1…n/2−1
///   come out wrong, checked against a float64 DFT for every n ≤ 1100) and it
///   rejects odd n; for n ≡ 0 mod 4 it is right, except that it never writes
///   the imaginary part of bin n/2, which we therefore never read.
/// - `AV_TX_FLOAT_FFT` is right for every n but falls back to an O(n²) DFT
///   unless n = 2^a · {1, 3, 5, 7, 9, 15}: n = 400 takes 6 ms, n = 40000 takes
///   40 s, per frame.
///
/// So: the RDFT for fast sizes with n ≡ 0 mod 4, the complex FFT for the other
/// fast sizes, and Bluestein's chirp-z algorithm over a power-of-two complex
/// FFT for everything else (n_fft = 400 among them), which keeps every size
/// O(n log n).
enum SpectrumPlan: Sendable {
    case realFFT
    case complexFFT
    /// `length` is the power-of-two FFT size m ≥ 2n − 1; `chirp` holds
    /// c_k = exp(−iπk²/n), k < n, interleaved (re, im); `kernelSpectrum` is
    /// FFT_m(conj c, wrapped) / m, interleaved.
    case bluestein(length: Int, chirp: [Float], kernelSpectrum: [Float])

    /// Whether libavutil's complex FFT of `n` points has a fast codelet path.
    static func avTxIsFast(_ n: Int) -> Bool {
        var odd = n
        while odd % 2 == 0 { odd /= 2 }
        return [1, 3, 5, 7, 9, 15].contains(odd)
    }

    static func make(size n: Int) throws -> SpectrumPlan {
        guard n >= 2, n <= 1 << 24 else { throw ERIError.unsupported("FFT size \(n) is outside 2…\(1 << 24)") }
        if avTxIsFast(n) { return n % 4 == 0 ? .realFFT : .complexFFT }
        var m = 1
        while m < 2 * n - 1 { m <<= 1 }
        var chirp = [Float](repeating: 0, count: 2 * n)
        // The wrapped, conjugated chirp b_q = exp(+iπq²/n) for q < n and b_{m−q} = b_q.
        let kernel = AlignedFloats(count: 2 * m)
        let b = kernel.pointer
        for k in 0..<n {
            // k² mod 2n in integers keeps the angle exact for large k.
            let angle = Double.pi * Double((k * k) % (2 * n)) / Double(n)
            let re = Float(cos(angle)), im = Float(sin(angle))
            chirp[2 * k] = re
            chirp[2 * k + 1] = -im
            b[2 * k] = re
            b[2 * k + 1] = im
            if k > 0 {
                b[2 * (m - k)] = re
                b[2 * (m - k) + 1] = im
            }
        }
        let transform = try AVTransform(type: AV_TX_FLOAT_FFT, size: m)
        let spectrum = AlignedFloats(count: 2 * m)
        transform.run(output: spectrum.pointer, input: b, stride: 8)
        let scale = 1 / Float(m)  // the inverse FFT's 1/m, folded in once
        let kernelSpectrum = (0..<2 * m).map { spectrum.pointer[$0] * scale }
        return .bluestein(length: m, chirp: chirp, kernelSpectrum: kernelSpectrum)
    }
}

/// A 64-byte aligned float buffer: av_tx needs SIMD-aligned input and output.
final class AlignedFloats {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: count)
    }

    deinit { pointer.deallocate() }
}

/// One libavutil transform context. Not thread-safe (some codelets keep
/// scratch in the context), so every caller owns its own.
final class AVTransform {
    private var context: OpaquePointer?
    private let function: av_tx_fn

    init(type: AVTXType, size: Int) throws {
        var scale: Float = 1
        var fn: av_tx_fn?
        let status = av_tx_init(&context, &fn, type, 0, Int32(size), &scale, 0)
        guard status >= 0, context != nil, let fn else {
            av_tx_uninit(&context)
            throw ERIError.unsupported("libavutil cannot build a \(size)-point FFT (av_tx_init: \(status))")
        }
        function = fn
    }

    deinit { av_tx_uninit(&context) }

    func run(output: UnsafeMutablePointer<Float>, input: UnsafeMutablePointer<Float>, stride: Int) {
        function(context, output, input, stride)
    }
}

/// Per-call state for `SpectrumPlan`: the transform contexts and aligned
/// buffers. `input` holds the windowed frame (n floats) on entry to `power`.
final class SpectrumWorkspace {
    let size: Int
    let plan: SpectrumPlan
    let input: AlignedFloats
    private let transform: AVTransform
    private let complexIn: AlignedFloats
    private let complexOut: AlignedFloats

    init(size: Int, plan: SpectrumPlan) throws {
        self.size = size
        self.plan = plan
        input = AlignedFloats(count: size)
        switch plan {
        case .realFFT:
            transform = try AVTransform(type: AV_TX_FLOAT_RDFT, size: size)
            complexIn = AlignedFloats(count: 0)
            complexOut = AlignedFloats(count: size + 2)  // n/2 + 1 complex values
        case .complexFFT:
            transform = try AVTransform(type: AV_TX_FLOAT_FFT, size: size)
            complexIn = AlignedFloats(count: 2 * size)
            complexOut = AlignedFloats(count: 2 * size)
        case .bluestein(let m, _, _):
            transform = try AVTransform(type: AV_TX_FLOAT_FFT, size: m)
            complexIn = AlignedFloats(count: 2 * m)
            complexOut = AlignedFloats(count: 2 * m)
        }
    }

    /// Writes |X_k|² for k = 0…n/2 of the real frame in `input` to `power`.
    /// Bin 0 (and bin n/2 for even n) is real in theory, so only its real
    /// part is squared, as numpy's rfft gives exact zeros there.
    func power(into power: UnsafeMutablePointer<Float>) {
        let n = size, bins = n / 2 + 1
        let x = input.pointer
        switch plan {
        case .realFFT:
            let out = complexOut.pointer
            transform.run(output: out, input: x, stride: 4)
            squaredMagnitudes(out, bins: bins, into: power)
        case .complexFFT:
            let z = complexIn.pointer, out = complexOut.pointer
            for i in 0..<n {
                z[2 * i] = x[i]
                z[2 * i + 1] = 0
            }
            transform.run(output: out, input: z, stride: 8)
            squaredMagnitudes(out, bins: bins, into: power)
        case .bluestein(let m, let chirp, let kernelSpectrum):
            // X_k = c_k · Σ_j (x_j c_j) · conj(c_{k−j}): a circular convolution
            // done as FFT, product, inverse FFT. The inverse is a forward FFT of
            // the conjugate, and since |c_k| = 1 only |·|² of it is needed.
            let a = complexIn.pointer, spectrum = complexOut.pointer
            chirp.withUnsafeBufferPointer { c in
                for j in 0..<n {
                    a[2 * j] = x[j] * c[2 * j]
                    a[2 * j + 1] = x[j] * c[2 * j + 1]
                }
            }
            (a + 2 * n).update(repeating: 0, count: 2 * (m - n))
            transform.run(output: spectrum, input: a, stride: 8)
            kernelSpectrum.withUnsafeBufferPointer { b in
                for j in 0..<m {
                    let re = spectrum[2 * j], im = spectrum[2 * j + 1]
                    let bre = b[2 * j], bim = b[2 * j + 1]
                    a[2 * j] = re * bre - im * bim
                    a[2 * j + 1] = -(re * bim + im * bre)  // conjugated for the inverse
                }
            }
            transform.run(output: spectrum, input: a, stride: 8)
            for k in 0..<bins {
                let re = spectrum[2 * k], im = spectrum[2 * k + 1]
                power[k] = re * re + im * im
            }
            return
        }
    }

    private func squaredMagnitudes(_ z: UnsafeMutablePointer<Float>, bins: Int, into power: UnsafeMutablePointer<Float>) {
        power[0] = z[0] * z[0]
        for k in 1..<bins {
            let re = z[2 * k], im = z[2 * k + 1]
            power[k] = re * re + im * im
        }
        if size % 2 == 0 {
            let re = z[2 * (bins - 1)]
            power[bins - 1] = re * re  // RDFT leaves this imaginary part unwritten
        }
    }
}
