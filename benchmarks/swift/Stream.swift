// The streaming rows of the benchmark: ERIModel.ModelStream fed by a synthetic
// live source as fast as it will go, media time taken from the timestamps.
//
// The source: 25 fps RGB24 frames of 320 × 240 and 16 kHz mono PCM in 20 ms
// chunks, pushed in timestamp order (at a shared timestamp the frame first).
// The frames are views into one larger texture that pans slowly (a pixel
// every other frame, bouncing), with a face box that drifts with it, so
// making a frame costs nothing: what is timed is liberi's work, not the
// source's. The PCM repeats the loaded `pcm FILE` (or a synthesised voice).
// The host reads every `readEvery` seconds of media time.

import ERICore
import ERIFeatures
import ERIModel
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

/// User + system CPU time of this process, seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Current resident set size in KiB: /proc/self/statm's second field (pages), not the peak.
func currentRSSKiB() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return -1 }
    defer { fclose(f) }
    var size = 0, resident = 0
    guard fscanf_statm(f, &size, &resident) else { return -1 }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
}

private func fscanf_statm(_ f: UnsafeMutablePointer<FILE>, _ size: inout Int, _ resident: inout Int) -> Bool {
    var buffer = [CChar](repeating: 0, count: 256)
    guard fgets(&buffer, Int32(buffer.count), f) != nil else { return false }
    let fields = String(cString: buffer).split(separator: " ")
    guard fields.count >= 2, let s = Int(fields[0]), let r = Int(fields[1]) else { return false }
    size = s
    resident = r
    return true
}

/// Nearest-rank percentile of sorted values.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

/// The synthetic live source.
final class LiveSource {
    static let fps = 25
    static let chunksPerSecond = 50           // 20 ms PCM chunks
    let width: Int, height: Int
    let pan: Int                              // texture margin: the view pans over it
    let textureWidth: Int, textureHeight: Int
    let texture: UnsafeMutableBufferPointer<UInt8>
    let pcm: [Float]                          // a whole number of chunks at `rate`
    let rate: Int
    let chunk: Int
    /// Frames carry a face box (the host's); false for a photograph whose face the stream must find.
    let boxes: Bool

    /// `photograph`: raw RGB24 pixels and their size; the view pans over it
    /// (80 px each way less than it) and frames carry no box. Nil: a
    /// synthetic 320 × 240 texture with a drifting box.
    init(rate: Int, pcm loaded: [Float], photograph: (pixels: [UInt8], width: Int, height: Int)? = nil) {
        self.rate = rate
        chunk = rate / LiveSource.chunksPerSecond
        var rng = SeededGenerator(seed: 5)
        if let photograph {
            pan = 80
            width = photograph.width - pan
            height = photograph.height - pan
            textureWidth = photograph.width
            textureHeight = photograph.height
            texture = .allocate(capacity: textureWidth * textureHeight * 3)
            _ = texture.initialize(from: photograph.pixels)
            boxes = false
        } else {
            width = 320
            height = 240
            pan = 160
            textureWidth = width + pan
            textureHeight = height + pan / 2
            texture = .allocate(capacity: textureWidth * textureHeight * 3)
            boxes = true
            // Smooth blobs + stripes + noise, so that crops differ frame to frame.
            for y in 0..<textureHeight {
                for x in 0..<textureWidth {
                    for c in 0..<3 {
                        let fx = Double(x), fy = Double(y), fc = Double(c)
                        let wave = sin(fx / (7 + 2 * fc) + fc) * cos(fy / (9 - fc))
                        let blob = sin(fx / 53 + 0.7 * fc) * sin(fy / 41 - fc)
                        let v = 128 + 60 * wave + 30 * blob + 20 * Double(rng.uniform(-1, 1))
                        texture[(y * textureWidth + x) * 3 + c] = UInt8(max(0, min(255, v.rounded())))
                    }
                }
            }
        }
        var samples = loaded
        if samples.count < rate {
            // A voice-like signal: a gliding harmonic tone under a 4 Hz syllable envelope, plus noise.
            samples = (0..<(10 * rate)).map { i in
                let t = Double(i) / Double(rate)
                let f0 = 140 + 40 * sin(2 * Double.pi * 0.3 * t)
                var v = 0.0
                for h in 1...6 { v += sin(2 * Double.pi * f0 * Double(h) * t) / Double(h) }
                let envelope = 0.5 + 0.5 * sin(2 * Double.pi * 4 * t)
                return Float(0.2 * envelope * v + 0.01 * Double(rng.uniform(-1, 1)))
            }
        }
        pcm = Array(samples[0..<(samples.count / chunk * chunk)])
    }

    deinit { texture.deallocate() }

    /// Frame i: a view of the texture, panned, with a drifting face box (synthetic) or none (photograph).
    func frame(_ i: Int) -> ImageView {
        func bounce(_ v: Int, _ range: Int) -> Int { let p = v % (2 * range); return p < range ? p : 2 * range - p }
        let dx = bounce(i / 2, pan), dy = bounce(i / 4, textureHeight - height)
        let t = Double(i) / Double(LiveSource.fps)
        let box = boxes ? FaceBox(x: Float(90 + 30 * sin(0.4 * t)), y: Float(40 + 15 * sin(0.25 * t)), w: 140, h: 150) : nil
        return try! ImageView(data: UnsafeRawPointer(texture.baseAddress! + (dy * textureWidth + dx) * 3),
                         width: width, height: height, stride: textureWidth * 3, format: .rgb24, box: box)
    }

    /// PCM chunk k (20 ms), repeating the loaded signal.
    func withChunk<R>(_ k: Int, _ body: (PCMView) throws -> R) throws -> R {
        let n = pcm.count / chunk
        let start = (k % n) * chunk
        return try pcm.withUnsafeBufferPointer {
            try body(try PCMView(samples: UnsafeBufferPointer(rebasing: $0[start..<(start + chunk)]), sampleRate: rate, channels: 1))
        }
    }
}

struct StreamStats {
    var mediaSeconds = 0.0
    var cpuSeconds = 0.0
    var wallSeconds = 0.0
    var reads: [Double] = []          // ms per read
    var framePushes: [Double] = []    // ms per pushFrame
    var pcmPushes: [Double] = []      // ms per pushPCM
    var rss: [(media: Double, kib: Int)] = []
    var faceCoverage = Double.nan     // mean over reads of the share of frames used with a face of their own
    var tcnRowsReused = Double.nan    // share of the TCN convolutions' output rows taken from the previous read
    var audioTCNRowsReused = Double.nan  // the same, of the audio branch's TCN alone
}

/// Streams `warmup` + `seconds` of media into a new ModelStream on `model`, reading every
/// `readEvery` s of media time; timings and CPU time cover the part after the warm-up.
/// `rssEvery` > 0 samples the current RSS every that many media seconds (from 0, warm-up included).
func runStream(model: Model, pcm: [Float], seconds: Double, warmup: Double, readEvery: Double,
               rssEvery: Double = 0, timeCalls: Bool = true,
               photograph: (pixels: [UInt8], width: Int, height: Int)? = nil) throws -> StreamStats {
    guard let audio = model.config.audio, model.config.video != nil else {
        throw ERIError.invalidArgument("the stream benchmark needs a model with both branches")
    }
    let source = LiveSource(rate: audio.sampleRate, pcm: pcm, photograph: photograph)
    // A photograph's face is found by the stream (a full detection every 5 frames used, refined in between).
    let stream = try ModelStream(model: model, options: StreamOptions(faces: photograph == nil ? .none : .detect))
    let perSecond = LiveSource.chunksPerSecond
    let ticksPerFrame = perSecond / LiveSource.fps
    let warmTicks = Int((warmup * Double(perSecond)).rounded())
    let totalTicks = warmTicks + Int((seconds * Double(perSecond)).rounded())
    let readTicks = max(1, Int((readEvery * Double(perSecond)).rounded()))
    let rssTicks = rssEvery > 0 ? max(1, Int((rssEvery * Double(perSecond)).rounded())) : 0
    var stats = StreamStats()
    if timeCalls {
        stats.reads.reserveCapacity(totalTicks / readTicks + 1)
        stats.framePushes.reserveCapacity(totalTicks / ticksPerFrame + 1)
        stats.pcmPushes.reserveCapacity(totalTicks + 1)
    }
    if rssTicks > 0 { stats.rss.reserveCapacity(totalTicks / rssTicks + 2); stats.rss.append((0, currentRSSKiB())) }
    var cpu0 = processCPUSeconds(), wall0 = nowMilliseconds()
    var sink: Float = 0, coverage = 0.0, coverageReads = 0
    for k in 0..<totalTicks {
        if k == warmTicks { cpu0 = processCPUSeconds(); wall0 = nowMilliseconds() }
        let timed = timeCalls && k >= warmTicks
        let t = Double(k) / Double(perSecond)
        if k % ticksPerFrame == 0 {
            let image = source.frame(k / ticksPerFrame)
            let s = timed ? nowMilliseconds() : 0
            try stream.pushFrame(image, timestamp: t)
            if timed { stats.framePushes.append(nowMilliseconds() - s) }
        }
        try source.withChunk(k) { chunk in
            let s = timed ? nowMilliseconds() : 0
            try stream.pushPCM(chunk, timestamp: t)
            if timed { stats.pcmPushes.append(nowMilliseconds() - s) }
        }
        if (k + 1) % readTicks == 0 {
            let s = timed ? nowMilliseconds() : 0
            let estimate = try stream.read()
            if timed { stats.reads.append(nowMilliseconds() - s) }
            sink += estimate.intensities[0]
            if let c = estimate.faceCoverage { coverage += Double(c); coverageReads += 1 }
        }
        if rssTicks > 0 && (k + 1) % rssTicks == 0 {
            stats.rss.append((Double(k + 1) / Double(perSecond), currentRSSKiB()))
        }
    }
    stats.cpuSeconds = processCPUSeconds() - cpu0
    stats.wallSeconds = (nowMilliseconds() - wall0) / 1e3
    stats.mediaSeconds = Double(totalTicks - warmTicks) / Double(perSecond)
    stats.faceCoverage = coverageReads > 0 ? coverage / Double(coverageReads) : .nan
    func share(_ rows: (computed: Int, reused: Int)) -> Double {
        rows.computed + rows.reused > 0 ? Double(rows.reused) / Double(rows.computed + rows.reused) : 0
    }
    stats.tcnRowsReused = share(stream.temporalRows())
    stats.audioTCNRowsReused = share(stream.temporalRows(of: "audio"))
    if !sink.isFinite { throw ERIError(.internal, "stream estimates are not finite") }
    return stats
}

/// `stream-bench SECONDS READ_EVERY [WARMUP]`: RTF, read latency, push costs (on `photograph`, with face detection).
func streamBenchReply(model: Model, pcm: [Float], words: [String],
                      photograph: (pixels: [UInt8], width: Int, height: Int)? = nil) throws -> String {
    guard words.count >= 3, let seconds = Double(words[1]), let readEvery = Double(words[2]), seconds > 0, readEvery > 0 else {
        throw ERIError.invalidArgument("usage: stream-bench SECONDS READ_EVERY [WARMUP]")
    }
    let warmup = words.count > 3 ? Double(words[3]) ?? 15 : 15
    let s = try runStream(model: model, pcm: pcm, seconds: seconds, warmup: warmup, readEvery: readEvery, photograph: photograph)
    let reads = s.reads.sorted(), frames = s.framePushes.sorted(), chunks = s.pcmPushes.sorted()
    func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
    let fields: [(String, Double)] = [
        ("media_s", s.mediaSeconds), ("cpu_s", s.cpuSeconds), ("wall_s", s.wallSeconds),
        ("rtf", s.cpuSeconds / s.mediaSeconds), ("reads", Double(reads.count)),
        ("read_mean_ms", mean(reads)), ("read_p50_ms", percentile(reads, 50)), ("read_p99_ms", percentile(reads, 99)),
        ("read_max_ms", reads.last ?? .nan), ("read_total_s", reads.reduce(0, +) / 1e3),
        ("frames", Double(frames.count)), ("frame_mean_ms", mean(frames)), ("frame_p50_ms", percentile(frames, 50)),
        ("frame_p99_ms", percentile(frames, 99)), ("frame_max_ms", frames.last ?? .nan),
        ("frame_total_s", frames.reduce(0, +) / 1e3),
        ("pcm_chunks", Double(chunks.count)), ("pcm_mean_ms", mean(chunks)), ("pcm_p99_ms", percentile(chunks, 99)),
        ("pcm_total_s", chunks.reduce(0, +) / 1e3), ("face_coverage", s.faceCoverage), ("tcn_rows_reused", s.tcnRowsReused),
        ("audio_tcn_rows_reused", s.audioTCNRowsReused),
    ]
    return "ok " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
}

/// `stream-memory SECONDS EVERY [READ_EVERY]`: the current RSS every EVERY media seconds over a
/// stream of SECONDS (reads every READ_EVERY, default 0.5 s). Replies rss=media:KiB,… and the CPU time.
func streamMemoryReply(model: Model, pcm: [Float], words: [String]) throws -> String {
    guard words.count >= 3, let seconds = Double(words[1]), let every = Double(words[2]), seconds > 0, every > 0 else {
        throw ERIError.invalidArgument("usage: stream-memory SECONDS EVERY [READ_EVERY]")
    }
    let readEvery = words.count > 3 ? Double(words[3]) ?? 0.5 : 0.5
    let s = try runStream(model: model, pcm: pcm, seconds: seconds, warmup: 0, readEvery: readEvery,
                          rssEvery: every, timeCalls: false)
    return "ok media_s=\(s.mediaSeconds) cpu_s=\(s.cpuSeconds) wall_s=\(s.wallSeconds) rtf=\(s.cpuSeconds / s.mediaSeconds) rss="
        + s.rss.map { "\($0.media):\($0.kib)" }.joined(separator: ",")
}
