import CERISupport
import ERICore
import ERIFeatures
import ERIPipeline

// eri_stream_*: argument checks and error mapping around ERIPipeline.ModelStream.

/// What an `eri_stream *` points to. It holds the model handle, so closing
/// the model first is safe, and the last span's timestamps for the C side.
final class StreamHandle {
    let modelHandle: ModelHandle
    let stream: ModelStream
    /// The last span's frame timestamps, handed to C; reused while large enough.
    var timestamps = UnsafeMutableBufferPointer<Double>(start: nil, count: 0)

    init(modelHandle: ModelHandle, stream: ModelStream) {
        self.modelHandle = modelHandle
        self.stream = stream
    }

    deinit { timestamps.deallocate() }

    func holdTimestamps(_ values: [Double]) -> UnsafePointer<Double>? {
        guard !values.isEmpty else { return nil }
        if timestamps.count < values.count {
            timestamps.deallocate()
            timestamps = .allocate(capacity: values.count)
        }
        _ = timestamps.initialize(from: values)
        return UnsafePointer(timestamps.baseAddress)
    }

    static func from(_ p: OpaquePointer) -> StreamHandle {
        Unmanaged<StreamHandle>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
    }
}

let streamOptionsSize = UInt32(MemoryLayout<eri_stream_options>.size)
/// liberi 0.1's eri_stream_options ended before `faces`.
let streamOptionsV1Size = UInt32(MemoryLayout<eri_stream_options>.offset(of: \eri_stream_options.faces)!)
/// liberi 0.1's eri_stream_span ended before `face_coverage`.
let streamSpanV1Size = UInt32(MemoryLayout<eri_stream_span>.offset(of: \eri_stream_span.face_coverage)!)

@_cdecl("eri_stream_options_init")
public func eri_stream_options_init(_ options: UnsafeMutablePointer<eri_stream_options>?) -> eri_status {
    guarded {
        guard let options else { return invalid("eri_stream_options_init: options is NULL") }
        options.pointee = eri_stream_options(struct_size: streamOptionsSize, window_s: 0, max_frame_gap_s: -1,
                                             faces: Int32(ERI_FACES_AUTO), redetect_every: 5)
        return ERI_OK
    }
}

@_cdecl("eri_stream_open")
public func eri_stream_open(_ model: OpaquePointer?, _ options: UnsafePointer<eri_stream_options>?,
                            _ out: UnsafeMutablePointer<OpaquePointer?>?) -> eri_status {
    guarded {
        guard let out else { return invalid("eri_stream_open: out is NULL") }
        out.pointee = nil
        guard let model else { return invalid("eri_stream_open: model is NULL") }
        var settings = StreamOptions()
        if let options {
            let size = structSize(options)
            try checkStructSize(size, atLeast: streamOptionsV1Size, current: UInt32(MemoryLayout<eri_stream_options>.size), function: "eri_stream_open", argument: "options",
                                filledBy: "eri_stream_options_init", type: "eri_stream_options")
            let o = readVersioned(options, size: size, defaults: eri_stream_options())
            guard !o.window_s.isNaN, !o.max_frame_gap_s.isNaN else { return invalid("eri_stream_open: options hold NaN") }
            if o.window_s != 0 { settings.window = o.window_s }
            if o.max_frame_gap_s >= 0 { settings.maxFrameGap = o.max_frame_gap_s }
            if o.struct_size >= streamOptionsSize {
                settings.faces = try faceMode(o.faces, function: "eri_stream_open")
                settings.redetectEvery = Int(o.redetect_every)
            }
        }
        let handle = ModelHandle.from(model)
        let stream = try ModelStream(model: handle.model, options: settings)
        out.pointee = OpaquePointer(Unmanaged.passRetained(StreamHandle(modelHandle: handle, stream: stream)).toOpaque())
        return ERI_OK
    }
}

@_cdecl("eri_stream_push_frame")
public func eri_stream_push_frame(_ s: OpaquePointer?, _ frame: UnsafePointer<eri_image>?, _ timestamp: Double) -> eri_status {
    guarded {
        guard let s else { return invalid("eri_stream_push_frame: stream is NULL") }
        guard let frame else { return invalid("eri_stream_push_frame: frame is NULL") }
        let view = try imageViews(frame, 1, function: "eri_stream_push_frame")![0]
        try StreamHandle.from(s).stream.pushFrame(view, timestamp: timestamp)
        return ERI_OK
    }
}

@_cdecl("eri_stream_push_pcm")
public func eri_stream_push_pcm(_ s: OpaquePointer?, _ samples: UnsafePointer<Float>?, _ count: UInt,
                                _ rate: Int32, _ channels: Int32, _ timestamp: Double) -> eri_status {
    guarded {
        guard let s else { return invalid("eri_stream_push_pcm: stream is NULL") }
        let function = "eri_stream_push_pcm"
        let pcm: PCMView
        if count == 0 {  // an empty chunk is allowed: it moves the audio clock
            do { pcm = try PCMView(samples: UnsafeBufferPointer(start: nil, count: 0), sampleRate: Int(rate), channels: Int(channels)) }
            catch let e as ERIError { throw ERIError(e.code, "\(function): \(e.message)") }
        } else {
            pcm = try pcmView(samples, count, rate, channels, function: function)!
        }
        try StreamHandle.from(s).stream.pushPCM(pcm, timestamp: timestamp)
        return ERI_OK
    }
}

@_cdecl("eri_stream_read")
public func eri_stream_read(_ s: OpaquePointer?, _ out: UnsafeMutablePointer<Float>?,
                            _ windowEnd: UnsafeMutablePointer<Double>?) -> eri_status {
    guarded {
        guard let s else { return invalid("eri_stream_read: stream is NULL") }
        guard let out else { return invalid("eri_stream_read: out is NULL") }
        let handle = StreamHandle.from(s)
        let e = try handle.stream.read()
        for i in 0..<ERIConfig.emotionCount { out[i] = e.intensities[i] }
        windowEnd?.pointee = e.windowEnd
        return ERI_OK
    }
}

@_cdecl("eri_stream_last_span")
public func eri_stream_last_span(_ s: OpaquePointer?, _ span: UnsafeMutablePointer<eri_stream_span>?) -> eri_status {
    guarded {
        guard let s else { return invalid("eri_stream_last_span: stream is NULL") }
        guard let span else { return invalid("eri_stream_last_span: out_span is NULL") }
        try checkStructSize(structSize(span), atLeast: streamSpanV1Size, function: "eri_stream_last_span", argument: "out_span",
                            type: "eri_stream_span")
        let handle = StreamHandle.from(s)
        guard let e = handle.stream.lastEstimate else {
            throw ERIError(.missingModality, "eri_stream_last_span: no read yet")
        }
        let pointer = handle.holdTimestamps(e.frameTimestamps)
        let size = structSize(span)
        let record = eri_stream_span(
            struct_size: 0, window_start_s: e.windowStart, window_end_s: e.windowEnd,
            n_frames: Int32(e.frameTimestamps.count), frame_timestamps_s: pointer,
            audio_start_s: e.audioStart, audio_first_sample: UInt64(e.audioFirstSample),
            n_audio_samples: UInt64(e.audioSampleCount), audio_sample_rate: Int32(e.audioSampleRate),
            face_coverage: e.faceCoverage ?? -1)
        writeVersioned(record, to: span, size: size)
        return ERI_OK
    }
}

@_cdecl("eri_stream_copy_audio")
public func eri_stream_copy_audio(_ s: OpaquePointer?, _ out: UnsafeMutablePointer<Float>?, _ capacity: UInt,
                                  _ count: UnsafeMutablePointer<UInt>?) -> eri_status {
    guarded {
        guard let s else { return invalid("eri_stream_copy_audio: stream is NULL") }
        guard let count else { return invalid("eri_stream_copy_audio: out_count is NULL") }
        count.pointee = 0
        let stream = StreamHandle.from(s).stream
        guard let e = stream.lastEstimate else { throw ERIError(.missingModality, "eri_stream_copy_audio: no read yet") }
        let samples = stream.lastWindowAudio()
        guard samples.count == e.audioSampleCount else {
            throw ERIError(.missingModality, "eri_stream_copy_audio: the last read's audio was dropped by a later push")
        }
        count.pointee = UInt(samples.count)
        guard capacity >= UInt(samples.count) else {
            return invalid("eri_stream_copy_audio: capacity \(capacity) is less than the \(samples.count) samples")
        }
        guard out != nil || samples.isEmpty else { return invalid("eri_stream_copy_audio: out is NULL") }
        if let out, !samples.isEmpty { samples.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: samples.count) } }
        return ERI_OK
    }
}

@_cdecl("eri_stream_reset")
public func eri_stream_reset(_ s: OpaquePointer?) {
    liberi_set_last_error(nil)
    guard let s else { return }
    StreamHandle.from(s).stream.reset()
}

@_cdecl("eri_stream_close")
public func eri_stream_close(_ s: OpaquePointer?) {
    closeHandle(s, as: StreamHandle.self)
}
