import CERISupport
import ERICore
import ERIFeatures
import ERIPipeline

// eri_predict_*: argument checks and conversion of the C structs into the
// pipeline's views, which validate themselves (ERIFeatures/Inputs.swift).

/// Converts the caller's eri_image array; making each `ImageView` checks
/// sizes, strides and boxes.
func imageViews(_ frames: UnsafePointer<eri_image>?, _ count: Int, function: String) throws -> [ImageView]? {
    if count == 0 {
        return nil
    }
    guard let frames else { throw ERIError.invalidArgument("\(function): frames is NULL but n_frames is \(count)") }
    guard count <= InputLimits.maxFrames else { throw ERIError.invalidArgument("\(function): n_frames \(count) is absurd") }
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
                                       stride: stride, format: format, box: box))
        } catch let e as ERIError {
            throw ERIError(e.code, "\(function): frames[\(i)]: \(e.message)")
        }
    }
    return views
}

/// Converts the caller's PCM; making the `PCMView` checks rate, channels and samples.
/// Nil for no samples at all (NULL and 0), where a call may take frames alone.
func pcmView(_ samples: UnsafePointer<Float>?, _ count: Int, _ rate: Int32, _ channels: Int32, function: String) throws -> PCMView? {
    if count == 0 && samples == nil { return nil }
    guard let samples else { throw ERIError.invalidArgument("\(function): samples is NULL but n_samples_per_channel is \(count)") }
    guard count > 0 else { throw ERIError.invalidArgument("\(function): no samples (n_samples_per_channel is 0)") }
    let (total, overflow) = count.multipliedReportingOverflow(by: max(1, Int(channels)))
    guard !overflow, total <= InputLimits.maxSamples else {
        throw ERIError.invalidArgument("\(function): \(count) samples × \(channels) channels is absurd")
    }
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
        return (nil, try pcmView(samples, count, rate, channels, function: "eri_predict_pcm"))
    }
}

@_cdecl("eri_predict_av")
public func eri_predict_av(_ model: OpaquePointer?, _ frames: UnsafePointer<eri_image>?, _ frameCount: Int,
                           _ samples: UnsafePointer<Float>?, _ sampleCount: Int, _ rate: Int32, _ channels: Int32,
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
        guard let path else { return invalid("eri_predict_file: media_path is NULL") }
        guard let out else { return invalid("eri_predict_file: out is NULL") }
        let y = try ModelHandle.from(model).model.predict(file: String(cString: path))
        for i in 0..<ERIConfig.emotionCount { out[i] = y[i] }
        return ERI_OK
    }
}
