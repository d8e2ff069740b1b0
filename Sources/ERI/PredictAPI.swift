import CERISupport
import ERICore
import ERIFaces
import ERIFeatures
import ERIPipeline

// eri_predict_*: argument checks and conversion of the C structs into the
// pipeline's views, which validate themselves (ERIFeatures/Inputs.swift).

/// Converts the caller's eri_image array; making each `ImageView` checks
/// sizes, strides and boxes.
/// `count` is the caller's size_t, read as unsigned (a count of 2^63 or more
/// is a huge count, not a negative one).
func imageViews(_ frames: UnsafePointer<eri_image>?, _ n: UInt, function: String) throws -> [ImageView]? {
    if n == 0 {
        return nil
    }
    guard let frames else { throw ERIError.invalidArgument("\(function): frames is NULL but n_frames is \(n)") }
    guard n <= UInt(InputLimits.maxFrames) else {
        throw ERIError.invalidArgument("\(function): n_frames \(n) is more than the \(InputLimits.maxFrames) frames one call reads")
    }
    let count = Int(n)
    var views: [ImageView] = []
    views.reserveCapacity(count)
    for i in 0..<count {
        let f = frames[i]
        guard let data = f.data else { throw ERIError.invalidArgument("\(function): frames[\(i)].data is NULL") }
        guard let format = PixelFormat(rawValue: f.format) else {
            throw ERIError.invalidArgument("\(function): frames[\(i)].format \(f.format) is not an eri_pixel_format")
        }
        let box = f.has_box != 0 ? FaceBox(x: f.box_x, y: f.box_y, w: f.box_w, h: f.box_h) : nil
        let stride = f.stride == 0 ? Int(f.width) * format.bytesPerPixel : Int(f.stride)
        do {
            views.append(try ImageView(data: UnsafeRawPointer(data), width: Int(f.width), height: Int(f.height),
                                       stride: stride, format: format, box: box, chroma: f.chroma.map { UnsafeRawPointer($0) },
                                       chromaV: f.chroma_v.map { UnsafeRawPointer($0) }, chromaStride: Int(f.chroma_stride)))
        } catch let e as ERIError {
            throw ERIError(e.code, "\(function): frames[\(i)]: \(e.message)")
        }
    }
    return views
}

/// Converts the caller's PCM; making the `PCMView` checks rate, channels and samples.
/// Nil for no samples at all (NULL and 0), where a call may take frames alone.
/// `n` is the caller's size_t, read as unsigned.
func pcmView(_ samples: UnsafePointer<Float>?, _ n: UInt, _ rate: Int32, _ channels: Int32, function: String) throws -> PCMView? {
    if n == 0 && samples == nil { return nil }
    guard let samples else { throw ERIError.invalidArgument("\(function): samples is NULL but n_samples_per_channel is \(n)") }
    guard n > 0 else { throw ERIError.invalidArgument("\(function): no samples (n_samples_per_channel is 0)") }
    let (values, overflow) = n.multipliedReportingOverflow(by: UInt(max(1, Int(channels))))
    guard !overflow, values <= UInt(InputLimits.maxSamples) else {
        throw ERIError.invalidArgument("\(function): \(n) samples × \(channels) channels is more than the \(InputLimits.maxSamples) values one call reads")
    }
    let total = Int(values)
    do {
        return try PCMView(samples: UnsafeBufferPointer(start: samples, count: total), sampleRate: Int(rate), channels: Int(channels))
    } catch let e as ERIError {
        throw ERIError(e.code, "\(function): \(e.message)")
    }
}

func predict(_ model: OpaquePointer?, _ out: UnsafeMutablePointer<Float>?, function: String,
             _ inputs: () throws -> ([ImageView]?, PCMView?)) -> eri_status {
    guarded {
        guard let model else { return invalid("\(function): model is NULL") }
        guard let out else { return invalid("\(function): out is NULL") }
        let (frames, audio) = try inputs()
        let y = try ModelHandle.from(model).model.predict(frames: frames, audio: audio)
        for i in 0..<ERIConfig.emotionCount { out[i] = y[i] }
        return ERI_OK
    }
}

@_cdecl("eri_predict_frames")
public func eri_predict_frames(_ model: OpaquePointer?, _ frames: UnsafePointer<eri_image>?, _ count: UInt,
                               _ out: UnsafeMutablePointer<Float>?) -> eri_status {
    predict(model, out, function: "eri_predict_frames") {
        guard count > 0 else { throw ERIError.invalidArgument("eri_predict_frames: n_frames is 0") }
        return (try imageViews(frames, count, function: "eri_predict_frames"), nil)
    }
}

@_cdecl("eri_predict_pcm")
public func eri_predict_pcm(_ model: OpaquePointer?, _ samples: UnsafePointer<Float>?, _ count: UInt,
                            _ rate: Int32, _ channels: Int32, _ out: UnsafeMutablePointer<Float>?) -> eri_status {
    predict(model, out, function: "eri_predict_pcm") {
        return (nil, try pcmView(samples, count, rate, channels, function: "eri_predict_pcm"))
    }
}

@_cdecl("eri_predict_av")
public func eri_predict_av(_ model: OpaquePointer?, _ frames: UnsafePointer<eri_image>?, _ frameCount: UInt,
                           _ samples: UnsafePointer<Float>?, _ sampleCount: UInt, _ rate: Int32, _ channels: Int32,
                           _ out: UnsafeMutablePointer<Float>?) -> eri_status {
    predict(model, out, function: "eri_predict_av") {
        let views = try imageViews(frames, frameCount, function: "eri_predict_av")
        return (views, try pcmView(samples, sampleCount, rate, channels, function: "eri_predict_av"))
    }
}

@_cdecl("eri_predict_file")
public func eri_predict_file(_ model: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<Float>?) -> eri_status {
    guarded {
        guard let model else { return invalid("eri_predict_file: model is NULL") }
        let file = try mediaPath(path, function: "eri_predict_file")
        guard let out else { return invalid("eri_predict_file: out is NULL") }
        let y = try ModelHandle.from(model).model.predict(file: file)
        for i in 0..<ERIConfig.emotionCount { out[i] = y[i] }
        return ERI_OK
    }
}

// MARK: - The whole record

let predictOptionsV1Size = UInt32(MemoryLayout<eri_predict_options>.size)
let predictionV1Size = UInt32(MemoryLayout<eri_prediction>.size)

@_cdecl("eri_predict_options_init")
public func eri_predict_options_init(_ options: UnsafeMutablePointer<eri_predict_options>?) -> eri_status {
    guarded {
        guard let options else { return invalid("eri_predict_options_init: options is NULL") }
        options.pointee = eri_predict_options(struct_size: predictOptionsV1Size, progress: nil, progress_user_data: nil,
                                              long_input: Int32(ERI_LONG_INPUT_WHOLE), window_s: 0, faces: Int32(ERI_FACES_AUTO))
        return ERI_OK
    }
}

/// The pipeline's options from the caller's (nil: the defaults).
func predictOptions(_ options: UnsafePointer<eri_predict_options>?, function: String) throws -> PredictOptions {
    var settings = PredictOptions()
    guard let options else { return settings }
    try checkStructSize(structSize(options), atLeast: predictOptionsV1Size, function: function, argument: "options",
                        filledBy: "eri_predict_options_init", type: "eri_predict_options")
    let o = options.pointee  // the whole struct: its size was checked
    if let callback = o.progress {
        let context = UInt(bitPattern: o.progress_user_data)  // a plain integer crosses into the closure
        settings.progress = { fraction in callback(fraction, UnsafeMutableRawPointer(bitPattern: context)) == 0 }
    }
    switch o.long_input {
    case Int32(ERI_LONG_INPUT_WHOLE): settings.longInput = .whole
    case Int32(ERI_LONG_INPUT_WINDOWS):
        guard !o.window_s.isNaN, o.window_s == 0 || (o.window_s >= 0.1 && o.window_s <= 3600) else {
            throw ERIError.invalidArgument("\(function): options->window_s \(o.window_s) is outside 0.1…3600 s (0: the model's clip length)")
        }
        settings.longInput = .windows(seconds: o.window_s == 0 ? nil : o.window_s)
    default:
        throw ERIError.invalidArgument("\(function): options->long_input \(o.long_input) is not ERI_LONG_INPUT_WHOLE or _WINDOWS")
    }
    settings.faces = try faceMode(o.faces, function: function)
    return settings
}

/// Writes a prediction to the caller's record; the warnings' text goes to the thread's buffer.
func write(_ p: Prediction, to out: UnsafeMutablePointer<eri_prediction>, size: UInt32) {
    liberi_set_warning_text(p.messages.joined(separator: "; "))
    var record = eri_prediction()
    withUnsafeMutableBytes(of: &record.intensities) { raw in
        let values = raw.bindMemory(to: Float.self)
        for i in 0..<ERIConfig.emotionCount { values[i] = p.intensities[i] }
    }
    record.n_frames_given = Int32(clamping: p.framesGiven)
    record.n_frames_used = Int32(clamping: p.framesUsed)
    record.video_start_s = p.videoSpan?.lowerBound ?? 0
    record.video_end_s = p.videoSpan?.upperBound ?? 0
    record.audio_used = p.audioUsed ? 1 : 0
    record.audio_start_s = p.audioSpan?.lowerBound ?? 0
    record.audio_end_s = p.audioSpan?.upperBound ?? 0
    record.duration_s = p.duration ?? 0
    record.n_windows = Int32(clamping: p.windows)
    record.window_s = p.window ?? 0
    record.face_coverage = p.faceCoverage ?? -1
    record.warnings = p.warnings.rawValue
    record.warning_text = liberi_warning_text()
    writeVersioned(record, to: out, size: size)
}

@_cdecl("eri_predict_file_ex")
public func eri_predict_file_ex(_ model: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ options: UnsafePointer<eri_predict_options>?,
                                _ out: UnsafeMutablePointer<eri_prediction>?) -> eri_status {
    guarded {
        let function = "eri_predict_file_ex"
        guard let model else { return invalid("\(function): model is NULL") }
        let file = try mediaPath(path, function: function)
        guard let out else { return invalid("\(function): out is NULL") }
        let size = structSize(out)
        try checkStructSize(size, atLeast: predictionV1Size, function: function, argument: "out", type: "eri_prediction")
        let settings = try predictOptions(options, function: function)
        write(try ModelHandle.from(model).model.prediction(file: file, options: settings), to: out, size: size)
        return ERI_OK
    }
}

@_cdecl("eri_predict_av_ex")
public func eri_predict_av_ex(_ model: OpaquePointer?, _ frames: UnsafePointer<eri_image>?, _ frameCount: UInt,
                              _ samples: UnsafePointer<Float>?, _ sampleCount: UInt, _ rate: Int32, _ channels: Int32,
                              _ options: UnsafePointer<eri_predict_options>?, _ out: UnsafeMutablePointer<eri_prediction>?) -> eri_status {
    guarded {
        let function = "eri_predict_av_ex"
        guard let model else { return invalid("\(function): model is NULL") }
        guard let out else { return invalid("\(function): out is NULL") }
        let size = structSize(out)
        try checkStructSize(size, atLeast: predictionV1Size, function: function, argument: "out", type: "eri_prediction")
        let settings = try predictOptions(options, function: function)
        let views = try imageViews(frames, frameCount, function: function)
        let pcm = try pcmView(samples, sampleCount, rate, channels, function: function)
        write(try ModelHandle.from(model).model.prediction(frames: views, audio: pcm, options: settings), to: out, size: size)
        return ERI_OK
    }
}

@_cdecl("eri_timeline_file")
public func eri_timeline_file(_ model: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ window: Double, _ hop: Double,
                              _ fn: eri_timeline_callback?, _ userData: UnsafeMutableRawPointer?) -> eri_status {
    guarded {
        let function = "eri_timeline_file"
        guard let model else { return invalid("\(function): model is NULL") }
        let file = try mediaPath(path, function: function)
        guard let fn else { return invalid("\(function): fn is NULL") }
        guard !window.isNaN, window == 0 || (window >= 0.1 && window <= 3600) else {
            return invalid("\(function): window_s \(window) is outside 0.1…3600 s (0: the model's clip length)")
        }
        guard hop.isFinite, hop > 0, hop <= 3600 else { return invalid("\(function): hop_s \(hop) is outside (0, 3600] s") }
        try ModelHandle.from(model).model.timeline(file: file, window: window == 0 ? nil : window, hop: hop) { e in
            e.intensities.withUnsafeBufferPointer { fn(e.windowEnd, $0.baseAddress, userData) == 0 }
        }
        return ERI_OK
    }
}
