import CERISupport
import ERICore
import ERIFaces
import ERIFeatures
import ERIPipeline

#if canImport(Glibc)
import Glibc
#endif

// eri_detector_* and eri_detect_faces: argument checks and conversions around ERIFaces.FaceDetector.

/// An `ERI_FACES_*` value as the pipeline's mode.
func faceMode(_ value: Int32, function: String) throws -> FaceMode {
    guard let mode = FaceMode(rawValue: value) else {
        throw ERIError.invalidArgument("\(function): faces \(value) is not ERI_FACES_AUTO, _DETECT or _NONE")
    }
    return mode
}

let detectorOptionsSize = UInt32(MemoryLayout<eri_detector_options>.size)

@_cdecl("eri_detector_options_init")
public func eri_detector_options_init(_ options: UnsafeMutablePointer<eri_detector_options>?) -> eri_status {
    guarded {
        guard let options else { return invalid("eri_detector_options_init: options is NULL") }
        let d = FaceDetectorOptions()
        options.pointee = eri_detector_options(struct_size: detectorOptionsSize, weights_path: nil, min_face: d.minFace,
                                               thresholds: (d.thresholds.0, d.thresholds.1, d.thresholds.2),
                                               scale_factor: d.factor, max_side: Int32(d.maxSide))
        return ERI_OK
    }
}

@_cdecl("eri_detector_open")
public func eri_detector_open(_ options: UnsafePointer<eri_detector_options>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> eri_status {
    guarded {
        let function = "eri_detector_open"
        guard let out else { return invalid("\(function): out is NULL") }
        out.pointee = nil
        var settings = FaceDetectorOptions()
        var path: String?
        if let options {
            try checkStructSize(structSize(options), atLeast: detectorOptionsSize, function: function, argument: "options",
                                filledBy: "eri_detector_options_init", type: "eri_detector_options")
            let o = options.pointee  // the whole struct: its size was checked
            path = o.weights_path.map { String(cString: $0) }
            settings.minFace = o.min_face
            settings.thresholds = (o.thresholds.0, o.thresholds.1, o.thresholds.2)
            settings.factor = o.scale_factor
            settings.maxSide = Int(o.max_side)
        }
        let candidates = path.map { [$0] } ?? ([environment("ERI_FACE_MODEL")].compactMap { $0 } + installedFaceModels())
        guard let found = candidates.first(where: { access($0, R_OK) == 0 }) ?? path else {
            throw ERIError.io("\(function): no face detector weights at \(candidates.joined(separator: ", ")); run `make models` or set ERI_FACE_MODEL")
        }
        let detector = try FaceDetector(weights: found, options: settings)
        out.pointee = OpaquePointer(Unmanaged.passRetained(detector).toOpaque())
        return ERI_OK
    }
}

@_cdecl("eri_detector_close")
public func eri_detector_close(_ detector: OpaquePointer?) {
    closeHandle(detector, as: FaceDetector.self)
}

@_cdecl("eri_detect_faces")
public func eri_detect_faces(_ detector: OpaquePointer?, _ image: UnsafePointer<eri_image>?, _ faces: UnsafeMutablePointer<eri_face>?,
                             _ capacity: UInt, _ count: UnsafeMutablePointer<UInt>?) -> eri_status {
    guarded {
        let function = "eri_detect_faces"
        guard let detector else { return invalid("\(function): detector is NULL") }
        guard let count else { return invalid("\(function): n_faces is NULL") }
        count.pointee = 0
        guard let image else { return invalid("\(function): image is NULL") }
        guard faces != nil || capacity == 0 else { return invalid("\(function): faces is NULL but capacity is \(capacity)") }
        var unboxed = image.pointee
        unboxed.has_box = 0
        let view = try withUnsafePointer(to: &unboxed) { try imageViews($0, 1, function: function)![0] }
        let found = Unmanaged<FaceDetector>.fromOpaque(UnsafeRawPointer(detector)).takeUnretainedValue().detect(view)
        count.pointee = UInt(found.count)
        for (i, f) in found.prefix(Int(min(capacity, UInt(found.count)))).enumerated() {
            let l = f.landmarks
            faces![i] = eri_face(x: f.x1, y: f.y1, w: f.x2 - f.x1, h: f.y2 - f.y1, score: f.score,
                                 landmarks: (l[0].x, l[0].y, l[1].x, l[1].y, l[2].x, l[2].y, l[3].x, l[3].y, l[4].x, l[4].y))
        }
        return ERI_OK
    }
}
