import ERICore
import ERIFaces
import ERIFeatures

#if canImport(Glibc)
import Glibc
#endif

// `detector WEIGHTS MIN_FACE` and `detect FILE W H [REPEATS]`: MTCNN on one raw RGB24 image.

/// CPU time of the calling thread (ms): with one compute thread, a timing that other processes on the machine disturb less.
func threadCPUMilliseconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
}

/// Opens the detector the pipeline uses (facenet-pytorch's thresholds and pyramid step).
func openDetector(words: [String]) throws -> FaceDetector {
    guard words.count == 3, let minFace = Float(words[2]) else { throw ERIError.invalidArgument("usage: detector WEIGHTS MIN_FACE") }
    var options = FaceDetectorOptions()
    options.minFace = minFace
    return try FaceDetector(weights: words[1], options: options)
}

/// Times `repeats` detections of one image; replies the median ms and the faces found (boxes and scores).
func detectReply(detector: FaceDetector, words: [String]) throws -> String {
    guard words.count >= 4, let w = Int(words[2]), let h = Int(words[3]), w > 0, h > 0 else {
        throw ERIError.invalidArgument("usage: detect FILE W H [REPEATS]")
    }
    let repeats = words.count == 5 ? max(1, Int(words[4]) ?? 1) : 1
    let bytes = try readBytes(words[1])
    guard bytes.count == w * h * 3 else { throw ERIError.invalidArgument("\(words[1]) holds \(bytes.count) bytes, not \(w)×\(h)×3") }
    return try bytes.withUnsafeBufferPointer { raw -> String in
        let image = try ImageView(data: UnsafeRawPointer(raw.baseAddress!), width: w, height: h, stride: w * 3, format: .rgb24)
        var faces = detector.detect(image)   // warm-up (arenas)
        var times: [Double] = [], cpu: [Double] = []
        for _ in 0..<repeats {
            let start = nowMilliseconds(), startCPU = threadCPUMilliseconds()
            faces = detector.detect(image)
            times.append(nowMilliseconds() - start)
            cpu.append(threadCPUMilliseconds() - startCPU)
        }
        times.sort()
        cpu.sort()
        let list = faces.map { f in [f.x1, f.y1, f.x2, f.y2, f.score].map { "\($0)" }.joined(separator: ",") }.joined(separator: ";")
        return "ok ms=\(times[times.count / 2]) cpu_ms=\(cpu[cpu.count / 2]) faces=\(faces.count) boxes=\(list.isEmpty ? "-" : list)"
    }
}
