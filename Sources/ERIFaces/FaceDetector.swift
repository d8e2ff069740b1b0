import CERISupport
import ERICore
import ERIFeatures

/// One detected face: its box (x1, y1) – (x2, y2) in image pixels, the
/// O-Net probability, and five landmarks (left eye, right eye, nose, left
/// and right mouth corner, image coordinates), as facenet-pytorch reports them.
public struct DetectedFace: Sendable, Equatable {
    public var x1: Float, y1: Float, x2: Float, y2: Float
    public var score: Float
    /// (x, y) of the left eye, right eye, nose, left and right mouth corner.
    public var landmarks: [SIMD2<Float>]

    public init(x1: Float, y1: Float, x2: Float, y2: Float, score: Float, landmarks: [SIMD2<Float>]) {
        self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2; self.score = score; self.landmarks = landmarks
    }

    /// SPEC §4.1a: the detector's box as a face box (x1, y1, x2 − x1, y2 − y1).
    public var box: FaceBox { FaceBox(x: x1, y: y1, w: x2 - x1, h: y2 - y1) }
    public var area: Float { max(0, x2 - x1) * max(0, y2 - y1) }

    /// Intersection over union with another face's box.
    public func overlap(_ other: DetectedFace) -> Float { iou(box, other.box) }
}

/// Intersection over union of two boxes (0 when either is empty).
public func iou(_ a: FaceBox, _ b: FaceBox) -> Float {
    let w = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x)), h = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    let inter = w * h, union = a.w * a.h + b.w * b.h - inter
    return union > 0 ? inter / union : 0
}

/// How the cascade runs (SPEC §4.1a; facenet-pytorch's MTCNN defaults).
public struct FaceDetectorOptions: Sendable, Equatable {
    /// Smallest face searched for, in pixels of the image (20: facenet-pytorch's default); in an
    /// image reduced to `maxSide`, in pixels of the reduced copy.
    public var minFace: Float = 20
    /// P-Net, R-Net and O-Net probability thresholds.
    public var thresholds: (Float, Float, Float) = (0.6, 0.7, 0.7)
    /// Pyramid step between scales.
    public var factor: Double = 0.709
    /// Images larger than this on either side are first reduced to it (area
    /// resampling): detection time and memory stay bounded whatever the camera.
    public var maxSide = 1920
    /// Candidate boxes kept after each stage at most (the strongest): bounds time on crowded or noisy images.
    public var maxCandidates = 2048
    public init() {}
    public static func == (a: Self, b: Self) -> Bool {
        a.minFace == b.minFace && a.thresholds == b.thresholds && a.factor == b.factor && a.maxSide == b.maxSide
            && a.maxCandidates == b.maxCandidates
    }

    func validate() throws {
        guard minFace.isFinite, minFace >= 4, minFace <= 1e5 else { throw ERIError.invalidArgument("minimum face \(minFace) px is outside 4…100000") }
        for t in [thresholds.0, thresholds.1, thresholds.2] where !(t >= 0 && t <= 1) {
            throw ERIError.invalidArgument("detector threshold \(t) is outside 0…1")
        }
        guard factor.isFinite, factor >= 0.1, factor <= 0.95 else { throw ERIError.invalidArgument("pyramid factor \(factor) is outside 0.1…0.95") }
        guard (64...16384).contains(maxSide) else { throw ERIError.invalidArgument("detector max side \(maxSide) is outside 64…16384") }
        guard (1...100_000).contains(maxCandidates) else { throw ERIError.invalidArgument("max candidates \(maxCandidates) is outside 1…100000") }
    }
}

/// MTCNN face detection (SPEC §4.1a), a faithful port of facenet-pytorch
/// 2.6.0's `detect_face` for one image, float32 as it computes: the image
/// pyramid (area resampling), P-Net proposals per scale with NMS 0.5 per
/// scale and 0.7 over all, box regression, squaring; R-Net on 24 × 24 crops,
/// threshold, NMS 0.7, regression, squaring; O-Net on 48 × 48 crops,
/// threshold, landmarks, regression, and a last NMS by the smaller box's
/// area. Immutable: share one between threads.
public final class FaceDetector: @unchecked Sendable {
    public let options: FaceDetectorOptions
    let networks: MTCNNNetworks
    /// Scratch for detections; one over 256 MB (a large image's first pyramid level) is not kept.
    let arenas = ArenaPool(keepingAtMost: 256 << 20)

    /// Loads the converted weights (`make models`: PREFIX/share/eri/face-mtcnn.safetensors).
    public init(weights path: String, options: FaceDetectorOptions = FaceDetectorOptions()) throws {
        try options.validate()
        BLASKernels.selectFastKernels()
        self.options = options
        networks = try MTCNNNetworks(path: path)
    }

    /// A candidate through the cascade: box, score and the regression that goes with it.
    struct Candidate { var x1, y1, x2, y2, score: Float; var reg: SIMD4<Float> }

    /// The faces of `image` (any size and format), strongest first.
    public func detect(_ image: ImageView) -> [DetectedFace] {
        var faces = arenas.withArena { arena -> [DetectedFace] in
            let (table, toTable) = areaTable(image, arena: arena)
            var faces = detect(table, minFace: options.minFace)
            if toTable != 1 {  // back to the caller's pixels
                let back = Float(1 / toTable)
                for i in faces.indices {
                    faces[i].x1 *= back; faces[i].y1 *= back; faces[i].x2 *= back; faces[i].y2 *= back
                    faces[i].landmarks = faces[i].landmarks.map { $0 * back }
                }
            }
            return faces
        }
        faces.sort { $0.score > $1.score }
        return faces
    }

    /// The image's integral image, and the scale from the image's pixels to the table's: packed
    /// 8-bit RGB/BGR(A) straight from its bytes; any other format, or an image larger than
    /// `maxSide`, from `ImageView.rgbPlanes` (reduced to `maxSide`). In a reduced image the
    /// minimum face is counted in the reduced copy's pixels: P-Net's first level is 12 / minFace
    /// of the copy, so time and memory stay bounded by maxSide. (Scaled down with the copy, the
    /// minimum made that level 12 / minFace of the original whatever maxSide: 4800 × 4800 for an
    /// 8000 × 8000 image, 51 s and 20 GB.) Faces under minFace / scale of the original's pixels
    /// are then not searched.
    func areaTable(_ image: ImageView, arena: Arena) -> (table: AreaTable, scale: Double) {
        let layouts: [PixelFormat: (bpp: Int32, r: Int32, g: Int32, b: Int32)] =
            [.rgb24: (3, 0, 1, 2), .bgr24: (3, 2, 1, 0), .rgba32: (4, 0, 1, 2), .bgra32: (4, 2, 1, 0)]
        if let layout = layouts[image.format], max(image.width, image.height) <= options.maxSide {
            return (AreaTable(packed: image.data.assumingMemoryBound(to: UInt8.self), width: image.width, height: image.height,
                              stride: image.stride, layout: layout, arena: arena), 1)
        }
        let (planes, w, h, scale) = image.rgbPlanes(maxSide: options.maxSide)
        return (planes.withUnsafeBufferPointer { AreaTable(planes: $0.baseAddress!, width: w, height: h, arena: arena) }, scale)
    }

    /// The cascade on an image's integral image (R, G, B of 0…255).
    func detect(_ table: AreaTable, minFace: Float) -> [DetectedFace] {
        let w = table.width, h = table.height
        return arenas.withArena { arena in
            // The pyramid, as facenet-pytorch builds it (in double, as Python does).
            let m = 12.0 / Double(minFace)
            var minl = Double(min(h, w)) * m, scale = m
            var scales: [Double] = []
            while minl >= 12 { scales.append(scale); scale *= options.factor; minl *= options.factor }

            // Stage 1: P-Net proposals.
            let levels = scales.map { s in (scale: s, height: Int(Double(h) * s + 1), width: Int(Double(w) * s + 1)) }
                .filter { $0.height >= 12 && $0.width >= 12 && $0.height * $0.width <= 1 << 26 }
            // The levels side by side on the compute threads (the first, as large as the rest
            // together, on one; the others on the rest), each with its maps in an arena of its own.
            var perLevel = [[Candidate]](repeating: [], count: levels.count)
            perLevel.withUnsafeMutableBufferPointer { results in
                parallelFor(levels.count) { index in
                    let (s, hs, ws) = levels[index]
                    let found: [Candidate] = arenas.withArena { levelArena in
                        let level = MTCNNNetworks.map(3 * hs * ws, arena: levelArena)   // (3, hs, ws)
                        table.resample(rows: 0..<h, columns: 0..<w, outHeight: hs, outWidth: ws, into: level, planeStride: hs * ws)
                        let p = networks.proposals(level, height: hs, width: ws, arena: levelArena)
                        let fs = Float(s), n = p.height * p.width
                        var found: [Candidate] = []
                        for y in 0..<p.height {
                            for x in 0..<p.width where p.probability[y * p.width + x] >= options.thresholds.0 {
                                let i = y * p.width + x
                                let bx = Float(x), by = Float(y)
                                found.append(Candidate(x1: ((2 * bx + 1) / fs).rounded(.down), y1: ((2 * by + 1) / fs).rounded(.down),
                                                       x2: ((2 * bx + 12) / fs).rounded(.down), y2: ((2 * by + 12) / fs).rounded(.down),
                                                       score: p.probability[i],
                                                       reg: SIMD4(p.regression[i], p.regression[n + i], p.regression[2 * n + i],
                                                                  p.regression[3 * n + i])))
                            }
                        }
                        return found
                    }
                    let strong = strongest(found)
                    results[index] = nms(strong, threshold: 0.5).map { strong[$0] }
                }
            }
            let all = perLevel.flatMap { $0 }
            var boxes = nms(all, threshold: 0.7).map { all[$0] }
            boxes = strongest(boxes.map { c in
                let rw = c.x2 - c.x1, rh = c.y2 - c.y1
                return Candidate(x1: c.x1 + c.reg[0] * rw, y1: c.y1 + c.reg[1] * rh, x2: c.x2 + c.reg[2] * rw, y2: c.y2 + c.reg[3] * rh,
                                 score: c.score, reg: .zero)
            }.map(squared))
            guard !boxes.isEmpty else { return [] }

            // Stage 2: R-Net on 24 × 24 crops.
            boxes = boxes.filter { crop($0, width: w, height: h) != nil }
            guard !boxes.isEmpty else { return [] }
            let refineInput = crops(boxes, layout: MTCNNNetworks.refineLayout, table: table, arena: arena)
            let r = networks.refine(refineInput, count: boxes.count, arena: arena)
            var kept: [Candidate] = []
            for (k, b) in boxes.enumerated() where r.probability[k] > options.thresholds.1 {
                kept.append(Candidate(x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2, score: r.probability[k],
                                      reg: SIMD4(r.regression[4 * k], r.regression[4 * k + 1], r.regression[4 * k + 2], r.regression[4 * k + 3])))
            }
            boxes = nms(kept, threshold: 0.7).map { squared(regressed(kept[$0])) }
            boxes = boxes.filter { crop($0, width: w, height: h) != nil }
            guard !boxes.isEmpty else { return [] }

            // Stage 3: O-Net on 48 × 48 crops: probability, landmarks, regression, NMS by the smaller area.
            let outputInput = crops(boxes, layout: MTCNNNetworks.outputLayout, table: table, arena: arena)
            let o = networks.output(outputInput, count: boxes.count, arena: arena)
            var faces: [DetectedFace] = []
            for (k, b) in boxes.enumerated() where o.probability[k] > options.thresholds.2 {
                let wi = b.x2 - b.x1 + 1, hi = b.y2 - b.y1 + 1
                let points = (0..<5).map { j in
                    SIMD2(wi * o.landmarks[10 * k + j] + b.x1 - 1, hi * o.landmarks[10 * k + 5 + j] + b.y1 - 1)
                }
                let c = regressed(Candidate(x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2, score: o.probability[k],
                                            reg: SIMD4(o.regression[4 * k], o.regression[4 * k + 1], o.regression[4 * k + 2],
                                                       o.regression[4 * k + 3])))
                faces.append(DetectedFace(x1: c.x1, y1: c.y1, x2: c.x2, y2: c.y2, score: c.score, landmarks: points))
            }
            return nmsByMinimum(faces, threshold: 0.7).map { faces[$0] }
        }
    }

    /// The face near `previous` in `image`, found without the P-Net pyramid:
    /// R-Net and O-Net on the previous face's square (a stream between full
    /// detections, where the face moved little). Nil when they do not find it there.
    public func refine(_ image: ImageView, around previous: DetectedFace) -> DetectedFace? {
        arenas.withArena { arena -> DetectedFace? in
            let (table, toTable) = areaTable(image, arena: arena)
            let w = table.width, h = table.height, s = Float(toTable)
            let start = squared(Candidate(x1: previous.x1 * s, y1: previous.y1 * s, x2: previous.x2 * s, y2: previous.y2 * s,
                                          score: previous.score, reg: .zero))
            guard crop(start, width: w, height: h) != nil else { return nil }
            let r = networks.refine(crops([start], layout: MTCNNNetworks.refineLayout, table: table, arena: arena), count: 1, arena: arena)
            guard r.probability[0] > options.thresholds.1 else { return nil }
            let box = squared(regressed(Candidate(x1: start.x1, y1: start.y1, x2: start.x2, y2: start.y2, score: r.probability[0],
                                                  reg: SIMD4(r.regression[0], r.regression[1], r.regression[2], r.regression[3]))))
            guard crop(box, width: w, height: h) != nil else { return nil }
            let o = networks.output(crops([box], layout: MTCNNNetworks.outputLayout, table: table, arena: arena), count: 1, arena: arena)
            guard o.probability[0] > options.thresholds.2 else { return nil }
            let wi = box.x2 - box.x1 + 1, hi = box.y2 - box.y1 + 1, back = 1 / s
            let points = (0..<5).map { j in SIMD2(wi * o.landmarks[j] + box.x1 - 1, hi * o.landmarks[5 + j] + box.y1 - 1) * back }
            let c = regressed(Candidate(x1: box.x1, y1: box.y1, x2: box.x2, y2: box.y2, score: o.probability[0],
                                        reg: SIMD4(o.regression[0], o.regression[1], o.regression[2], o.regression[3])))
            return DetectedFace(x1: c.x1 * back, y1: c.y1 * back, x2: c.x2 * back, y2: c.y2 * back, score: c.score, landmarks: points)
        }
    }

    /// The strongest `maxCandidates` (all when fewer), keeping their order.
    private func strongest(_ c: [Candidate]) -> [Candidate] {
        guard c.count > options.maxCandidates else { return c }
        let cut = c.map(\.score).sorted(by: >)[options.maxCandidates - 1]
        var out: [Candidate] = []
        for x in c where x.score >= cut && out.count < options.maxCandidates { out.append(x) }
        return out
    }

    /// facenet-pytorch's `bbreg`: the regression scaled by the box's size + 1.
    private func regressed(_ c: Candidate) -> Candidate {
        let w = c.x2 - c.x1 + 1, h = c.y2 - c.y1 + 1
        return Candidate(x1: c.x1 + c.reg[0] * w, y1: c.y1 + c.reg[1] * h, x2: c.x2 + c.reg[2] * w, y2: c.y2 + c.reg[3] * h,
                         score: c.score, reg: .zero)
    }

    /// facenet-pytorch's `rerec`: the square of side max(w, h) on the same centre.
    private func squared(_ c: Candidate) -> Candidate {
        let h = c.y2 - c.y1, w = c.x2 - c.x1, l = max(w, h)
        let x1 = c.x1 + w * 0.5 - l * 0.5, y1 = c.y1 + h * 0.5 - l * 0.5
        return Candidate(x1: x1, y1: y1, x2: x1 + l, y2: y1 + l, score: c.score, reg: c.reg)
    }

    /// facenet-pytorch's `pad` and crop: the box's corners truncated to whole
    /// pixels, clipped to the image (1-based, as it writes them), and the
    /// in-image rows y−1 ..< ey and columns x−1 ..< ex; nil when empty.
    private func crop(_ c: Candidate, width w: Int, height h: Int) -> (rows: Range<Int>, columns: Range<Int>)? {
        func truncated(_ v: Float) -> Int { v.isFinite ? Int(max(-1e9, min(1e9, v)).rounded(.towardZero)) : 0 }
        let x = max(truncated(c.x1), 1), y = max(truncated(c.y1), 1), ex = min(truncated(c.x2), w), ey = min(truncated(c.y2), h)
        guard ey > y - 1, ex > x - 1, x - 1 < w, y - 1 < h else { return nil }
        return ((y - 1)..<ey, (x - 1)..<ex)
    }

    /// Each box's crop resized to side × side (area) and normalised, in the chunked CNHW layout
    /// R-Net or O-Net reads (`layout`: `MTCNNNetworks.refineLayout` or `outputLayout`).
    private func crops(_ boxes: [Candidate], layout: MTCNNNetworks.CropLayout, table: AreaTable, arena: Arena) -> UnsafeMutablePointer<Float> {
        let n = boxes.count, side = layout.side
        let out = MTCNNNetworks.map(3 * n * side * side, arena: arena)
        let spans = boxes.map { crop($0, width: table.width, height: table.height)! }
        parallelRanges(n, grain: 16) { range in
            for k in range {
                let (offset, planeStride) = layout.place(k, of: n)
                table.resample(rows: spans[k].rows, columns: spans[k].columns, outHeight: side, outWidth: side, into: out + offset,
                               planeStride: planeStride)
            }
        }
        return out
    }

    /// torchvision's `nms`: by descending score, each kept box suppresses the
    /// later ones whose IoU (areas (x2 − x1)·(y2 − y1), no +1) exceeds the
    /// threshold. Returns the kept indices in that order.
    func nms(_ c: [Candidate], threshold: Float) -> [Int] {
        let order = c.indices.sorted { c[$0].score > c[$1].score || (c[$0].score == c[$1].score && $0 < $1) }
        let area = c.map { ($0.x2 - $0.x1) * ($0.y2 - $0.y1) }
        var suppressed = [Bool](repeating: false, count: c.count), keep: [Int] = []
        for (position, i) in order.enumerated() where !suppressed[i] {
            keep.append(i)
            for j in order[(position + 1)...] where !suppressed[j] {
                let w = max(0, min(c[i].x2, c[j].x2) - max(c[i].x1, c[j].x1)), h = max(0, min(c[i].y2, c[j].y2) - max(c[i].y1, c[j].y1))
                let inter = w * h
                if inter / (area[i] + area[j] - inter) > threshold { suppressed[j] = true }
            }
        }
        return keep
    }

    /// facenet-pytorch's last NMS (`nms_numpy`, method "Min"): areas and
    /// intersections with +1, overlap = intersection / the smaller area,
    /// suppressed when over the threshold; by descending score.
    func nmsByMinimum(_ f: [DetectedFace], threshold: Float) -> [Int] {
        var order = f.indices.sorted { f[$0].score < f[$1].score || (f[$0].score == f[$1].score && $0 < $1) }
        let area = f.map { ($0.x2 - $0.x1 + 1) * ($0.y2 - $0.y1 + 1) }
        var keep: [Int] = []
        while let i = order.popLast() {
            keep.append(i)
            order = order.filter { j in
                let w = max(0, min(f[i].x2, f[j].x2) - max(f[i].x1, f[j].x1) + 1)
                let h = max(0, min(f[i].y2, f[j].y2) - max(f[i].y1, f[j].y1) + 1)
                return w * h / min(area[i], area[j]) <= threshold
            }
        }
        return keep
    }
}
