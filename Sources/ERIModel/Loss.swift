import ERICore

/// The training loss of SPEC §5: MSE(y, t) over all B·7 values plus
/// pcc_weight · (1 − mean over emotions of Pearson's r across the batch).
/// A column with zero variance has r = 0 and no gradient (as the metric of SPEC §1).
/// Returns the loss and dL/dy (B × 7).
public func eriLoss(predictions y: [Float], targets t: [Float], batch: Int, pccWeight: Float) -> (loss: Float, gradient: [Float]) {
    let k = ERIConfig.emotionCount
    precondition(y.count == batch * k && t.count == batch * k)
    var gradient = [Float](repeating: 0, count: batch * k)
    var mse = 0.0
    for i in 0..<(batch * k) {
        let d = Double(y[i] - t[i])
        mse += d * d
        gradient[i] = Float(2 * d / Double(batch * k))
    }
    mse /= Double(batch * k)
    var meanR = 0.0
    for e in 0..<k {
        var my = 0.0, mt = 0.0
        for b in 0..<batch { my += Double(y[b * k + e]); mt += Double(t[b * k + e]) }
        my /= Double(batch); mt /= Double(batch)
        var num = 0.0, sy = 0.0, st = 0.0
        for b in 0..<batch {
            let dy = Double(y[b * k + e]) - my, dt = Double(t[b * k + e]) - mt
            num += dy * dt; sy += dy * dy; st += dt * dt
        }
        guard sy * st > 0 else { continue }
        let den = (sy * st).squareRoot()
        let r = num / den
        meanR += r / Double(k)
        // ∂r/∂y_b = dt_b/den − r·dy_b/Σdy²; the loss has −pcc_weight/7 · r.
        for b in 0..<batch {
            let dy = Double(y[b * k + e]) - my, dt = Double(t[b * k + e]) - mt
            gradient[b * k + e] += Float(-Double(pccWeight) / Double(k) * (dt / den - r * dy / sy))
        }
    }
    return (Float(mse + Double(pccWeight) * (1 - meanR)), gradient)
}

/// Pearson's r per emotion between predictions and labels across clips
/// (N × 7 each, `ERIConfig.emotionCount`); a column with zero variance scores 0 (SPEC §1).
public func pearsonPerEmotion(predictions y: [Float], labels t: [Float], count n: Int) -> [Float] {
    let k = ERIConfig.emotionCount
    return (0..<k).map { e in
        var my = 0.0, mt = 0.0
        for i in 0..<n { my += Double(y[i * k + e]); mt += Double(t[i * k + e]) }
        my /= Double(max(n, 1)); mt /= Double(max(n, 1))
        var num = 0.0, sy = 0.0, st = 0.0
        for i in 0..<n {
            let a = Double(y[i * k + e]) - my, b = Double(t[i * k + e]) - mt
            num += a * b; sy += a * a; st += b * b
        }
        return sy * st > 0 ? Float(num / (sy * st).squareRoot()) : 0
    }
}
