import ArgumentParser
import ERICore
import ERIModel
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

/// `eri timeline`: how a clip's seven intensities evolve, as an SVG chart (and CSV).
struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Chart the seven intensities over a media file's time (SVG, optionally CSV).",
        discussion: """
        The file is replayed into a stream (as `eri stream --fast`) and read every --hop seconds; each point is \
        the estimate over the --window seconds ending there. Windows shorter than W at the start use what has \
        arrived so far.

        A stream's windows end on a grid of W/F seconds (F: the model's frames; an audio-only model's grid is \
        its pooled MFCC hop instead), so --hop is rounded to a whole number of those steps, at least one: with W = 2 s and \
        F = 8, W/F = 0.25 s and --hop 0.1 becomes 0.25. The points are at k·hop, k = 1, 2, …: each is read as \
        soon as the media time reaches it, so its window ends exactly there, and no window appears twice. \
        Where the input jumps over a point (a camera dropout, or a video-only model whose frames lie further \
        apart than W/F), that read waits for the next input and its window ends later than the point. A file \
        shorter than one hop gets a single point, at the last grid point it reaches.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Window length in seconds (default: the model's training clip length, else 10).") var window: Double?
    @Option(help: "Seconds between points, rounded to a multiple of the stream's step W/F (at least one step).")
    var hop: Double = 0.5
    @Option(name: .shortAndLong, help: "The SVG file to write.") var output: String
    @Option(help: "Also write the points as CSV here.") var csv: String?
    @Argument(help: "A media file.") var path: String

    func validate() throws {
        if !(hop > 0 && hop <= 3600) { throw ValidationError("--hop must be in (0, 3600] seconds") }
        if let window, !(window >= 0.1 && window <= 3600) { throw ValidationError("--window must be in 0.1…3600 seconds") }
    }

    func run() throws {
        try reportingErrors {
            let m = try modelOptions.open()
            let stream = try ModelStream(model: m, options: StreamOptions(window: window, faces: modelOptions.faceMode))
            var warnings = StreamWarnings(model: m, path: path, faces: modelOptions.faceMode)
            var points: [(Double, [Float])] = []
            try replay(path, into: stream, every: hop, realTime: false) { e in
                points.append((e.windowEnd, e.intensities))
                warnings.add(e)
            }
            warnings.finish()
            guard !points.isEmpty else { throw ERIError(.decode, "\(path): no estimate: the file gave no usable frame or audio") }
            let name = path.split(separator: "/").last.map(String.init) ?? path
            var svg = timelineSVG(points, title: "\(name) — \(m.presetName), window \(formatValue(stream.window)) s")
            try svg.withUTF8 { try writeFileAtomically(path: output, chunks: [UnsafeRawBufferPointer($0)]) }
            if let csv {
                var text = (["window_end_s"] + ERIConfig.emotionNames).joined(separator: ",") + "\n"
                for (t, y) in points { text += ([formatTime(t)] + y.map { formatValue(Double($0)) }).joined(separator: ",") + "\n" }
                try text.withUTF8 { try writeFileAtomically(path: csv, chunks: [UnsafeRawBufferPointer($0)]) }
            }
            let every = Double(readSteps(every: hop, step: stream.step)) * stream.step
            print("wrote \(output): \(points.count) points, \(formatTime(points.first!.0))…\(formatTime(points.last!.0)) s, "
                  + "every \(formatTime(every)) s (--hop \(formatTime(hop)) rounded to a multiple of W/F = \(formatTime(stream.step)) s)")
        }
    }
}

/// The chart: time on x (seconds, the window ends), intensity 0…1 on y, one
/// coloured line per emotion, a legend on the right.
func timelineSVG(_ points: [(Double, [Float])], title: String) -> String {
    let colors = ["#e6194b", "#3cb44b", "#f0a30a", "#4363d8", "#f58231", "#911eb4", "#17becf"]
    let width = 980.0, height = 440.0, left = 64.0, top = 48.0, plotW = 720.0, plotH = 320.0
    let t0 = points.first!.0, t1 = max(points.last!.0, t0 + 1e-6)
    func x(_ t: Double) -> Double { left + (t - t0) / (t1 - t0) * plotW }
    func y(_ v: Double) -> Double { top + plotH - max(0, min(1, v)) * plotH }
    func f(_ v: Double) -> String { String(Double(Int((v * 10).rounded())) / 10) }
    var s = #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" viewBox="0 0 \#(Int(width)) \#(Int(height))" font-family="DejaVu Sans, sans-serif" font-size="13">"#
    s += "\n" + #"<rect width="100%" height="100%" fill="white"/>"#
    s += "\n" + #"<text x="\#(left)" y="28" font-size="16" font-weight="bold">\#(xmlEscaped(title))</text>"#
    // Horizontal grid and y labels.
    for k in 0...5 {
        let v = Double(k) / 5, yy = y(v)
        s += "\n" + #"<line x1="\#(left)" y1="\#(f(yy))" x2="\#(left + plotW)" y2="\#(f(yy))" stroke="rgb(221,221,221)"/>"#
        s += #"<text x="\#(left - 8)" y="\#(f(yy + 4))" text-anchor="end">\#(String(format1(v)))</text>"#
    }
    // Time ticks: a round step giving 5–10 ticks.
    let span = t1 - t0
    let steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]
    let step = steps.first { span / $0 <= 10 } ?? 3600
    var tick = (t0 / step).rounded(.up) * step
    while tick <= t1 + 1e-9 {
        let xx = x(tick)
        s += "\n" + #"<line x1="\#(f(xx))" y1="\#(top + plotH)" x2="\#(f(xx))" y2="\#(top + plotH + 5)" stroke="black"/>"#
        s += #"<text x="\#(f(xx))" y="\#(top + plotH + 20)" text-anchor="middle">\#(formatTick(tick))</text>"#
        tick += step
    }
    // Axes and their labels.
    s += "\n" + #"<line x1="\#(left)" y1="\#(top)" x2="\#(left)" y2="\#(top + plotH)" stroke="black"/>"#
    s += #"<line x1="\#(left)" y1="\#(top + plotH)" x2="\#(left + plotW)" y2="\#(top + plotH)" stroke="black"/>"#
    s += "\n" + #"<text x="\#(left + plotW / 2)" y="\#(top + plotH + 44)" text-anchor="middle">time (s, end of each window)</text>"#
    s += "\n" + #"<text transform="translate(18 \#(top + plotH / 2)) rotate(-90)" text-anchor="middle">intensity</text>"#
    // One line per emotion (a dot when there is a single point).
    for e in 0..<ERIConfig.emotionCount {
        if points.count == 1 {
            s += "\n" + #"<circle cx="\#(f(x(points[0].0)))" cy="\#(f(y(Double(points[0].1[e]))))" r="4" fill="\#(colors[e])"/>"#
        } else {
            let coords = points.map { "\(f(x($0.0))),\(f(y(Double($0.1[e]))))" }.joined(separator: " ")
            s += "\n" + #"<polyline fill="none" stroke="\#(colors[e])" stroke-width="2" stroke-linejoin="round" points="\#(coords)"/>"#
        }
    }
    // Legend.
    let legendX = left + plotW + 30
    s += "\n" + #"<text x="\#(legendX)" y="\#(top + 4)" font-weight="bold">emotion</text>"#
    for (e, name) in ERIConfig.emotionNames.enumerated() {
        let yy = top + 26 + Double(e) * 24
        s += "\n" + #"<line x1="\#(legendX)" y1="\#(yy - 4)" x2="\#(legendX + 24)" y2="\#(yy - 4)" stroke="\#(colors[e])" stroke-width="4"/>"#
        s += #"<text x="\#(legendX + 32)" y="\#(yy)">\#(name)</text>"#
    }
    return s + "\n</svg>\n"
}

private func format1(_ v: Double) -> String { String(Double(Int((v * 10).rounded())) / 10) }

private func formatTick(_ t: Double) -> String {
    t == t.rounded() ? String(Int(t)) : String(Double(Int((t * 10).rounded())) / 10)
}

func xmlEscaped(_ text: String) -> String {
    var out = ""
    for c in text {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}
