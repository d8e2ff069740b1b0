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
///   rejects odd n; for n ≡ 0 mod 4 it is right, but its post-processing is
///   scalar C and costs as much as the FFT itself. So it is not used.
/// - `AV_TX_FLOAT_FFT` is right for every n (with SIMD codelets) but falls back
///   to an O(n²) DFT unless n = 2^a · {1, 3, 5, 7, 9, 15}: n = 400 takes 6 ms,
///   n = 40000 takes 40 s, per frame.
///
/// So: for even n whose half is a fast size, the classic packed real FFT — the
/// n real samples read as n/2 complex ones, one complex FFT of n/2 points, then
/// a vectorised split into the even and odd samples' spectra, folded straight
/// into |X_k|² (`packedReal`); the complex FFT for the other fast sizes; and
/// Bluestein's chirp-z algorithm over a power-of-two complex FFT for everything
/// else (n_fft = 400 among them), which keeps every size O(n log n).
enum SpectrumPlan: Sendable {
    /// `twiddles` holds W^k = exp(−2πik/n) for k ≤ n/4 as separate planes:
    /// cos at [k], −sin at [stride + k], stride = n/4 + 1.
    case packedReal(twiddles: [Float])
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
        if n % 2 == 0, n >= 4, avTxIsFast(n / 2) {
            let quarter = n / 4, stride = quarter + 1
            var twiddles = [Float](repeating: 0, count: 2 * stride)
            for k in 0...quarter {
                let angle = 2 * Double.pi * Double(k) / Double(n)
                twiddles[k] = Float(cos(angle))
                twiddles[stride + k] = Float(-sin(angle))
            }
            return .packedReal(twiddles: twiddles)
        }
        if avTxIsFast(n) { return .complexFFT }
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
/// buffers. `input` holds the windowed frame (n floats) on entry to `power`,
/// which never writes it: a caller may keep constant parts (zero padding)
/// there from frame to frame.
final class SpectrumWorkspace {
    let size: Int
    let plan: SpectrumPlan
    let input: AlignedFloats
    private let transform: AVTransform
    private let complexIn: AlignedFloats
    private let complexOut: AlignedFloats
    /// The packed real FFT's twiddles, copied out of the plan so that the
    /// frame loop reads them without retaining an array (empty otherwise).
    private let twiddles: AlignedFloats

    init(size: Int, plan: SpectrumPlan) throws {
        self.size = size
        self.plan = plan
        input = AlignedFloats(count: size)
        if case .packedReal(let table) = plan {
            twiddles = AlignedFloats(count: table.count)
            twiddles.pointer.update(from: table, count: table.count)
        } else {
            twiddles = AlignedFloats(count: 0)
        }
        switch plan {
        case .packedReal:
            transform = try AVTransform(type: AV_TX_FLOAT_FFT, size: size / 2)
            complexIn = AlignedFloats(count: 0)
            complexOut = AlignedFloats(count: size + 16)  // n/2 complex values, and slack for SIMD loads
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

    /// What `power(into:)` gives over |X_k|²: 4 for the packed real FFT (an
    /// exact factor, cheaper left in and folded into the mel weights), else 1.
    var powerScale: Float {
        if case .packedReal = plan { return 4 }
        return 1
    }

    /// Writes powerScale·|X_k|² for k = 0…n/2 of the real frame in `input` to `power`.
    /// Bin 0 (and bin n/2 for even n) is real in theory, so only its real
    /// part is squared, as numpy's rfft gives exact zeros there.
    func power(into power: UnsafeMutablePointer<Float>) {
        let n = size, bins = n / 2 + 1
        let x = input.pointer
        switch plan {
        case .packedReal:
            let out = complexOut.pointer
            transform.run(output: out, input: x, stride: 8)  // x as n/2 complex (x₂ⱼ + i·x₂ⱼ₊₁); x is not written
            packedRealPower(out, twiddles: twiddles.pointer, into: power)
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

    /// 4·|X_k|², k = 0…n/2, from Z = FFT_{n/2}(x₂ⱼ + i·x₂ⱼ₊₁). With h = n/2,
    /// E_k = (Z_k + conj Z_{h−k})/2 and O_k = (Z_k − conj Z_{h−k})/(2i) are the
    /// spectra of the even and odd samples, and T_k = W^k·O_k (W = e^{−2πi/n}):
    /// X_k = E_k + T_k and X_{h−k} = conj(E_k − T_k). So each k ≤ h/2 gives two
    /// bins, k and h − k; SIMD4 over k, the h − k side loaded and stored reversed.
    /// The halves are left out (2E, 2T), hence the factor 4, which is exact.
    private func packedRealPower(_ z: UnsafeMutablePointer<Float>, twiddles: UnsafePointer<Float>,
                                 into power: UnsafeMutablePointer<Float>) {
        let h = size / 2, quarter = h / 2, stride = size / 4 + 1
        // k = 0: E = Re Z₀, T = Im Z₀ (both real).
        power[0] = 4 * ((z[0] + z[1]) * (z[0] + z[1]))
        power[h] = 4 * ((z[0] - z[1]) * (z[0] - z[1]))
        var k = 1
        let raw = UnsafeMutableRawPointer(z)
        // Blocks of 4: k … k+3 on the left, h−k−3 … h−k on the right, while they do not cross.
        while k + 3 <= h - k - 3 {
            let left = raw.loadUnaligned(fromByteOffset: 8 * k, as: SIMD8<Float>.self)
            let right = raw.loadUnaligned(fromByteOffset: 8 * (h - k - 3), as: SIMD8<Float>.self)
            let ar = left.evenHalf, ai = left.oddHalf                      // A = Z_k
            let rre = right.evenHalf, rim = right.oddHalf
            let rr = SIMD4(rre[3], rre[2], rre[1], rre[0]), ri = SIMD4(rim[3], rim[2], rim[1], rim[0])  // Z_{h−k}
            let er = ar + rr, ei = ai - ri                                  // 2E = A + conj Z_{h−k}
            let or = ai + ri, oi = rr - ar                                  // 2O = (A − conj Z_{h−k})/i
            let wr = UnsafeRawPointer(twiddles).loadUnaligned(fromByteOffset: 4 * k, as: SIMD4<Float>.self)
            let wi = UnsafeRawPointer(twiddles).loadUnaligned(fromByteOffset: 4 * (stride + k), as: SIMD4<Float>.self)
            let tr = wr * or - wi * oi, ti = wr * oi + wi * or
            let pr = er + tr, pi = ei + ti, mr = er - tr, mi = ei - ti
            let plus = pr * pr + pi * pi, minus = mr * mr + mi * mi
            UnsafeMutableRawPointer(power).storeBytes(of: plus, toByteOffset: 4 * k, as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(power).storeBytes(of: SIMD4(minus[3], minus[2], minus[1], minus[0]),
                                                      toByteOffset: 4 * (h - k - 3), as: SIMD4<Float>.self)
            k += 4
        }
        while k <= quarter {
            let ar = z[2 * k], ai = z[2 * k + 1]
            let rr = z[2 * (h - k)], ri = z[2 * (h - k) + 1]
            let er = ar + rr, ei = ai - ri
            let or = ai + ri, oi = rr - ar
            let wr = twiddles[k], wi = twiddles[stride + k]
            let tr = wr * or - wi * oi, ti = wr * oi + wi * or
            let pr = er + tr, pi = ei + ti, mr = er - tr, mi = ei - ti
            power[k] = pr * pr + pi * pi
            power[h - k] = mr * mr + mi * mi
            k += 1
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
