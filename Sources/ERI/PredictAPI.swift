import CERISupport
import ERICore
import ERIFeatures
import ERIModel

// eri_predict_*: argument checks and conversion of the C structs into the
// Swift views; the preprocessing and the network live in ERIFeatures/ERIModel.

/// Converts the caller's eri_image array; ImageView's own validation checks
/// sizes, strides, formats and boxes.
func imageViews(_ frames: UnsafePointer<eri_image>?, _ count: Int, function: String) throws -> [ImageView]? {
    if count == 0 {
        return nil
    }
    guard let frames else { throw ERIError.invalidArgument("\(function): frames is NULL but n_frames is \(count)") }
    guard count <= 100_000_000 else { throw ERIError.invalidArgument("\(function): n_frames \(count) is absurd") }
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
        let view = ImageView(data: UnsafeRawPointer(data), width: Int(f.width), height: Int(f.height),
                             stride: stride, format: format, box: box)
        do { try view.validate() } catch let e as ERIError {
            throw ERIError(e.code, "\(function): frames[\(i)]: \(e.message)")
        }
        views.append(view)
    }
    return views
}

func pcmView(_ samples: UnsafePointer<Float>?, _ count: Int, _ rate: Int32, _ channels: Int32, function: String) throws -> PCMView? {
    if count == 0 && samples == nil { return nil }
    guard let samples else { throw ERIError.invalidArgument("\(function): samples is NULL but n_samples_per_channel is \(count)") }
    guard count > 0 else { throw ERIError.invalidArgument("\(function): no samples (n_samples_per_channel is 0)") }
    guard (1...8).contains(channels) else { throw ERIError.invalidArgument("\(function): channels \(channels) is outside 1…8") }
    guard (1...768_000).contains(rate) else { throw ERIError.invalidArgument("\(function): sample_rate \(rate) is outside 1…768000 Hz") }
    let (total, overflow) = count.multipliedReportingOverflow(by: Int(channels))
    guard !overflow, total <= 1 << 40 else { throw ERIError.invalidArgument("\(function): \(count) samples × \(channels) channels is absurd") }
    return PCMView(samples: UnsafeBufferPointer(start: samples, count: total), sampleRate: Int(rate), channels: Int(channels))
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
public func eri_predict_frames(_ model: OpaquePointer?, _ frames: UnsafePointer<eri_image>?, _ count: Int,
                               _ out: UnsafeMutablePointer<Float>?) -> eri_status {
    predict(model, out, function: "eri_predict_frames") {
        guard count > 0 else { throw ERIError.invalidArgument("eri_predict_frames: n_frames is 0") }
        return (try imageViews(frames, count, function: "eri_predict_frames"), nil)
    }
}

@_cdecl("eri_predict_pcm")
public func eri_predict_pcm(_ model: OpaquePointer?, _ samples: UnsafePointer<Float>?, _ count: Int,
                            _ rate: Int32, _ channels: Int32, _ out: UnsafeMutablePointer<Float>?) -> eri_status {
    predict(model, out, function: "eri_predict_pcm") {
        guard count > 0 else { throw ERIError.invalidArgument("eri_predict_pcm: no samples (n_samples_per_channel is 0)") }
        return (nil, try pcmView(samples, count, rate, channels, function: "eri_predict_pcm"))
    }
}

@_cdecl("eri_predict_av")
public func eri_predict_av(_ model: OpaquePointer?, _ frames: UnsafePointer<eri_image>?, _ frameCount: Int,
                           _ samples: UnsafePointer<Float>?, _ sampleCount: Int, _ rate: Int32, _ channels: Int32,
                           _ out: UnsafeMutablePointer<Float>?) -> eri_status {
    predict(model, out, function: "eri_predict_av") {
        let views = try imageViews(frames, frameCount, function: "eri_predict_av")
        let pcm = try pcmView(samples, sampleCount, rate, channels, function: "eri_predict_av")
        guard views != nil || pcm != nil else {
            throw ERIError(.missingModality, "eri_predict_av: no input: give frames, samples or both")
        }
        return (views, pcm)
    }
}

@_cdecl("eri_predict_file")
public func eri_predict_file(_ model: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<Float>?) -> eri_status {
    guarded {
        guard let model else { return invalid("eri_predict_file: model is NULL") }
        guard let path else { return invalid("eri_predict_file: media_path is NULL") }
        guard let out else { return invalid("eri_predict_file: out is NULL") }
        let y = try ModelHandle.from(model).model.predict(file: String(cString: path))
        for i in 0..<ERIConfig.emotionCount { out[i] = y[i] }
        return ERI_OK
    }
}
