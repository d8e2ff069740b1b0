import Testing
@testable import ERICore
import ERITestSupport

/// Every backward kernel against central finite differences of its forward:
/// L = Σ r·y for a fixed random r, dL/dx numerically (h = 1e-2, float32
/// forward evaluated in double where it sums) versus the kernel's dx.
@Suite struct GradientCheckTests {
    var rng = SeededGenerator(seed: 2024)

    mutating func random(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in rng.uniform(-scale, scale) } }

    /// Compares the analytic gradient with (L(x + h e_i) − L(x − h e_i)) / 2h on up to 40 coordinates.
    func checkGradient(_ name: String, x: [Float], analytic: [Float], h: Float = 1e-2, tolerance: Float = 2e-2,
                       loss: ([Float]) -> Double, sourceLocation: SourceLocation = #_sourceLocation) {
        let scale = max(analytic.map(abs).max() ?? 0, 1e-3)
        let coordinates = Array(Swift.stride(from: 0, to: x.count, by: max(1, x.count / 40)))
        let numeric = coordinates.map { i -> Float in
            var up = x, down = x
            up[i] += h; down[i] -= h
            return Float((loss(up) - loss(down)) / Double(2 * h))
        }
        // Divided by max |analytic|, floored at 1e-3.
        check(name, coordinates.map { analytic[$0] }, numeric, tolerance: tolerance, scale: .dividedBy(Double(scale)),
              sourceLocation: sourceLocation)
    }

    func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    @Test mutating func linearLayer() {
        let rows = 3, n = 5, m = 4
        let x = random(rows * n), w = random(m * n), b = random(m), r = random(rows * m)
        func forward(_ x: [Float], _ w: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: rows * m)
            linear(x, rows: rows, inputs: n, weight: w, bias: b, outputs: m, into: &y)
            return y
        }
        var dx = [Float](repeating: 0, count: rows * n), dw = [Float](repeating: 0, count: m * n), db = [Float](repeating: 0, count: m)
        linearBackward(r, x, rows: rows, inputs: n, outputs: m, weight: w, dx: &dx, dWeight: &dw, dBias: &db)
        checkGradient("linear dx", x: x, analytic: dx) { dot(forward($0, w), r) }
        checkGradient("linear dW", x: w, analytic: dw) { dot(forward(x, $0), r) }
    }

    @Test mutating func layerNormAndActivations() {
        let rows = 3, d = 8
        let x = random(rows * d, scale: 2), g = random(d), b = random(d), r = random(rows * d)
        func ln(_ x: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: rows * d)
            layerNorm(x, rows: rows, width: d, weight: g, bias: b, into: &y)
            return y
        }
        var y = [Float](repeating: 0, count: rows * d), xhat = y, inv = [Float](repeating: 0, count: rows)
        layerNorm(x, rows: rows, width: d, weight: g, bias: b, into: &y, normalised: &xhat, inverseStd: &inv)
        var dx = [Float](repeating: 0, count: rows * d), dg = [Float](repeating: 0, count: d), dbeta = dg
        layerNormBackward(r, rows: rows, width: d, weight: g, normalised: xhat, inverseStd: inv, dx: &dx, accumulate: false, dWeight: &dg, dBias: &dbeta)
        checkGradient("layerNorm dx", x: x, analytic: dx, h: 1e-2, tolerance: 3e-2) { dot(ln($0), r) }

        var s = x
        softmaxRows(&s, rows: rows, width: d)
        var ds = r
        softmaxRowsBackward(s, &ds, rows: rows, width: d)
        checkGradient("softmax dx", x: x, analytic: ds) { v in var t = v; softmaxRows(&t, rows: rows, width: d); return dot(t, r) }

        var dgelu = r
        geluBackward(x, &dgelu, x.count)
        checkGradient("gelu dx", x: x, analytic: dgelu) { v in var t = v; gelu(&t, t.count); return dot(t, r) }
    }

    @Test mutating func attention() {
        let seqs = 2, len = 5, d = 8, heads = 2
        let qkv = random(seqs * len * 3 * d), r = random(seqs * len * d)
        let valid = [5, 3]
        func forward(_ q: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: seqs * len * d), scores = [Float](repeating: 0, count: len * len)
            multiHeadAttention(qkv: q, sequences: seqs, length: len, width: d, heads: heads, validLengths: valid,
                               probabilities: &scores, keep: false, into: &out)
            return out
        }
        var probs = [Float](repeating: 0, count: seqs * heads * len * len), out = [Float](repeating: 0, count: seqs * len * d)
        multiHeadAttention(qkv: qkv, sequences: seqs, length: len, width: d, heads: heads, validLengths: valid,
                           probabilities: &probs, keep: true, into: &out)
        #expect(out == forward(qkv))
        var dqkv = [Float](repeating: 0, count: qkv.count), scratch = [Float](repeating: 0, count: len * len)
        multiHeadAttentionBackward(qkv: qkv, probabilities: probs, dOut: r, sequences: seqs, length: len, width: d, heads: heads,
                                   scratch: &scratch, dQKV: &dqkv)
        checkGradient("attention d[QKV]", x: qkv, analytic: dqkv) { dot(forward($0), r) }
    }

    @Test mutating func conv1d() {
        let sequences = 2, t = 7, n = 3, m = 4, k = 3, dilation = 2
        let x = random(sequences * t * n), w = random(m * n * k), b = random(m), r = random(sequences * t * m)
        var columns = [Float](repeating: 0, count: sequences * t * n * k)
        func forward(_ x: [Float], _ w: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: sequences * t * m), scratch = columns
            ERICore.conv1d(x, sequences: sequences, steps: t, inputs: n, outputs: m, kernel: k, dilation: dilation,
                           weight: w, bias: b, columns: &scratch, into: &y)
            return y
        }
        var dx = [Float](repeating: 0, count: sequences * t * n), dw = [Float](repeating: 0, count: w.count), db = [Float](repeating: 0, count: m)
        conv1dBackward(r, input: x, sequences: sequences, steps: t, inputs: n, outputs: m, kernel: k, dilation: dilation,
                       weight: w, dWeight: &dw, dBias: &db, dx: &dx, columns: &columns)
        checkGradient("conv1d dx", x: x, analytic: dx) { dot(forward($0, w), r) }
        checkGradient("conv1d dW", x: w, analytic: dw) { dot(forward(x, $0), r) }
    }

    @Test mutating func conv2dBatchNormAndPooling() {
        for shape in [Conv2dShape(inputs: 2, outputs: 3, kernel: 3, stride: 2, padding: 1),
                      Conv2dShape(inputs: 2, outputs: 3, kernel: 3, stride: 1, padding: 1),
                      Conv2dShape(inputs: 2, outputs: 3, kernel: 1, stride: 2, padding: 0)] {
            let images = 2, side = 5, out = shape.outputSide(side)
            let x = random(shape.inputs * images * side * side), w = random(shape.outputs * shape.patch)
            let r = random(shape.outputs * images * out * out)
            var columns = [Float](repeating: 0, count: shape.patch * images * out * out)
            func forward(_ x: [Float], _ w: [Float]) -> [Float] {
                var y = [Float](repeating: 0, count: r.count), cols = columns
                conv2d(x, shape: shape, images: images, height: side, width: side, weight: w, bias: [Float](repeating: 0, count: shape.outputs),
                       relu: false, columns: &cols, into: &y)
                return y
            }
            var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: w.count), flipped = dw
            conv2dBackward(r, x, shape: shape, images: images, height: side, width: side, weight: w, dWeight: &dw, dx: &dx, columns: &columns,
                           weightScratch: &flipped)
            checkGradient("conv2d k\(shape.kernel) s\(shape.stride) dx", x: x, analytic: dx) { dot(forward($0, w), r) }
            checkGradient("conv2d k\(shape.kernel) s\(shape.stride) dW", x: w, analytic: dw) { dot(forward(x, $0), r) }
        }
        // Training BatchNorm over (N, H, W) per channel.
        let c = 3, m = 10
        let x = random(c * m, scale: 2), g = random(c), b = random(c), r = random(c * m)
        func bn(_ x: [Float]) -> [Float] {
            var y = x, xhat = x, inv = [Float](repeating: 0, count: c), rm = [Float](repeating: 0, count: c), rv = [Float](repeating: 1, count: c)
            batchNormTraining(&y, channels: c, perChannel: m, gamma: g, beta: b, runningMean: &rm, runningVar: &rv, normalised: &xhat, inverseStd: &inv)
            return y
        }
        var y = x, xhat = x, inv = [Float](repeating: 0, count: c), rm = [Float](repeating: 0, count: c), rv = [Float](repeating: 1, count: c)
        batchNormTraining(&y, channels: c, perChannel: m, gamma: g, beta: b, runningMean: &rm, runningVar: &rv, normalised: &xhat, inverseStd: &inv)
        var dy = r, dg = [Float](repeating: 0, count: c), dbeta = dg
        batchNormBackward(&dy, channels: c, perChannel: m, gamma: g, normalised: xhat, inverseStd: inv, dGamma: &dg, dBeta: &dbeta)
        checkGradient("batchNorm dx", x: x, analytic: dy, tolerance: 3e-2) { dot(bn($0), r) }
        // Max-pool: distinct values so the arg-max is stable under ±h.
        let planes = 2, side = 6, pooled = MaxPool2dShape.outputSide(side)
        let px = (0..<(planes * side * side)).map { Float(($0 * 37) % 101) / 10 }
        let pr = random(planes * pooled * pooled)
        var py = [Float](repeating: 0, count: pr.count), arg = [Int32](repeating: 0, count: pr.count)
        maxPool3x3s2Training(px, planes: planes, height: side, width: side, into: &py, argmax: &arg)
        var reference = py
        maxPool3x3s2(px, planes: planes, height: side, width: side, into: &reference)
        #expect(py == reference)
        var pdx = [Float](repeating: 0, count: px.count)
        maxPoolBackward(pr, argmax: arg, outputs: pr.count, into: &pdx)
        checkGradient("maxPool dx", x: px, analytic: pdx, h: 1e-3) { v in
            var out = [Float](repeating: 0, count: pr.count)
            maxPool3x3s2(v, planes: planes, height: side, width: side, into: &out)
            return dot(out, pr)
        }
    }
}
