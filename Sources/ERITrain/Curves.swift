import ERICore

/// Training curves as a small SVG: train loss per epoch (left) and
/// validation PCC per emotion and their mean (right).
func curvesSVG(_ history: [EpochRecord]) -> String {
    let colors = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#42d4f4"]
    let w = 900.0, h = 360.0, panel = 380.0, top = 40.0, plotH = 250.0
    var svg = #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(w))" height="\#(Int(h))" font-family="sans-serif" font-size="12">"#
    svg += #"<rect width="100%" height="100%" fill="white"/>"#
    let epochs = max(history.count, 1)
    func x(_ i: Int, _ left: Double) -> Double { left + (epochs == 1 ? panel / 2 : Double(i) * panel / Double(epochs - 1)) }
    func axes(_ left: Double, _ title: String, _ low: Double, _ high: Double) {
        svg += #"<text x="\#(left)" y="24" font-size="14">\#(title)</text>"#
        svg += #"<line x1="\#(left)" y1="\#(top + plotH)" x2="\#(left + panel)" y2="\#(top + plotH)" stroke="black"/>"#
        svg += #"<line x1="\#(left)" y1="\#(top)" x2="\#(left)" y2="\#(top + plotH)" stroke="black"/>"#
        for k in 0...4 {
            let v = low + (high - low) * Double(k) / 4, y = top + plotH - plotH * Double(k) / 4
            svg += #"<text x="\#(left - 6)" y="\#(y + 4)" text-anchor="end">\#(Double(Int(v * 100)) / 100)</text>"#
        }
        svg += #"<text x="\#(left + panel / 2)" y="\#(top + plotH + 30)" text-anchor="middle">epoch (1…\#(epochs))</text>"#
    }
    func line(_ values: [Double], _ left: Double, _ low: Double, _ high: Double, _ color: String, _ width: Double, dash: String? = nil) {
        guard !values.isEmpty else { return }
        let points = values.enumerated().map { i, v in "\(x(i, left)),\(top + plotH - plotH * (v - low) / max(high - low, 1e-9))" }
        let dashing = dash.map { #" stroke-dasharray="\#($0)""# } ?? ""
        svg += #"<polyline fill="none" stroke="\#(color)" stroke-width="\#(width)"\#(dashing) points="\#(points.joined(separator: " "))"/>"#
    }
    let losses = history.map { Double($0.trainLoss) }
    let lossHigh = (losses.max() ?? 1) * 1.05, lossLow = min(0, losses.min() ?? 0)
    axes(60, "train loss", lossLow, lossHigh)
    line(losses, 60, lossLow, lossHigh, "black", 2)
    // A two-branch run also records the mean with each modality withheld (dashed: video withheld, dotted: audio withheld).
    let withheld = history.allSatisfy { $0.withoutVideo != nil && $0.withoutAudio != nil } && !history.isEmpty
    let pccs = history.flatMap { $0.validation.map(Double.init) }
        + (withheld ? history.flatMap { [Double($0.withoutVideo!), Double($0.withoutAudio!)] } : [])
    let pLow = min(-0.1, pccs.min() ?? 0), pHigh = max(0.5, pccs.max() ?? 0.5)
    axes(500, "validation PCC", pLow, pHigh)
    for e in 0..<ERIConfig.emotionCount { line(history.map { Double($0.validation[e]) }, 500, pLow, pHigh, colors[e], 1.2) }
    line(history.map { Double($0.meanValidation) }, 500, pLow, pHigh, "black", 2.5)
    if withheld {
        line(history.map { Double($0.withoutVideo!) }, 500, pLow, pHigh, "black", 1.5, dash: "8,4")
        line(history.map { Double($0.withoutAudio!) }, 500, pLow, pHigh, "black", 1.5, dash: "2,3")
    }
    for (e, name) in (ERIConfig.emotionNames + ["mean"]).enumerated() {
        let lx = 60 + Double(e) * 105
        svg += #"<rect x="\#(lx)" y="\#(h - 22)" width="12" height="12" fill="\#(e < ERIConfig.emotionCount ? colors[e] : "black")"/>"#
        svg += #"<text x="\#(lx + 16)" y="\#(h - 12)">\#(name)</text>"#
    }
    if withheld {
        for (k, (name, dash)) in [("mean, video withheld", "8,4"), ("mean, audio withheld", "2,3")].enumerated() {
            let ly = 12 + Double(k) * 15
            svg += #"<line x1="640" y1="\#(ly)" x2="664" y2="\#(ly)" stroke="black" stroke-width="1.5" stroke-dasharray="\#(dash)"/>"#
            svg += #"<text x="670" y="\#(ly + 4)" font-size="11">\#(name)</text>"#
        }
    }
    return svg + "</svg>\n"
}

func writeCurves(_ history: [EpochRecord], to path: String) throws {
    var text = curvesSVG(history)
    try text.withUTF8 { try writeFileAtomically(path: path, chunks: [UnsafeRawBufferPointer($0)]) }
}
