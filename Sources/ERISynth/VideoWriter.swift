// H.264 in MP4 through libavformat/libavcodec: RGB24 frames in, converted
// to yuv420p by swscale, encoded by libx264 one at a time (nothing but the
// current frame is held), muxed as they come out.

import CFFmpeg
import ERICore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// FFmpeg's error codes, which Swift cannot import (function-like macros).
private enum AVStatus {
    static let tryAgain = -EAGAIN                                         // AVERROR(EAGAIN)
    static let endOfFile = -Int32(bitPattern: 0x45 | 0x4F << 8 | 0x46 << 16 | 0x20 << 24)  // AVERROR_EOF, 'EOF '

    static func describe(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        return buffer.withUnsafeMutableBufferPointer { text -> String in
            if av_strerror(code, text.baseAddress, text.count) < 0 { return "error \(code)" }
            return String(cString: text.baseAddress!)
        }
    }
}

/// x264 logs its settings at info level through FFmpeg's log, whose default
/// callback prints; liberi never prints, so FFmpeg's level comes down to
/// warnings, as ERIMedia sets it (any callback ERIMedia installed is kept).
private let quietFFmpegLog: Void = {
    if av_log_get_level() > AV_LOG_WARNING { av_log_set_level(AV_LOG_WARNING) }
}()

/// Writes one MP4 file: H.264 (libx264, yuv420p, BT.601 limited range),
/// constant frame rate, no audio. Single-threaded x264, so that the same
/// frames always give the same bytes (the corpus runs clips in parallel
/// instead). `finish()` completes the file; without it, `deinit` frees
/// everything and leaves an unfinished file for the caller to remove.
final class H264Writer {
    let path: String
    let width: Int
    let height: Int

    static let preset = "ultrafast"
    static let constantRateFactor = "23"

    private var format: UnsafeMutablePointer<AVFormatContext>? = nil
    private var encoder: UnsafeMutablePointer<AVCodecContext>? = nil
    private var stream: UnsafeMutablePointer<AVStream>? = nil
    private var frame: UnsafeMutablePointer<AVFrame>? = nil
    private var packet: UnsafeMutablePointer<AVPacket>? = nil
    private var scaler: OpaquePointer? = nil
    private var fileIsOpen = false
    private var nextTimestamp: Int64 = 0

    init(path: String, width: Int, height: Int, framesPerSecond: Int32) throws {
        self.path = path
        self.width = width
        self.height = height
        _ = quietFFmpegLog
        guard width >= 16, height >= 16, width % 2 == 0, height % 2 == 0 else {
            throw ERIError(.invalidArgument, "\(path): frame size \(width)×\(height) must be even and at least 16")
        }
        do {
            try open(framesPerSecond: framesPerSecond)
        } catch {
            release()
            throw error
        }
    }

    deinit { release() }

    private func check(_ status: Int32, _ what: String) throws {
        if status < 0 { throw ERIError(.io, "\(path): \(what): \(AVStatus.describe(status))") }
    }

    private func open(framesPerSecond: Int32) throws {
        try check(avformat_alloc_output_context2(&format, nil, "mp4", path), "cannot set up an MP4 muxer")
        guard let format else { throw ERIError(.internal, "\(path): no MP4 muxer") }
        guard let codec = avcodec_find_encoder_by_name("libx264") else {
            throw ERIError(.internal, "\(path): this FFmpeg has no libx264 encoder")
        }
        guard let stream = avformat_new_stream(format, nil) else { throw ERIError(.internal, "\(path): cannot add a video stream") }
        self.stream = stream
        guard let encoder = avcodec_alloc_context3(codec) else { throw ERIError(.internal, "\(path): cannot allocate the encoder") }
        self.encoder = encoder

        let timeBase = AVRational(num: 1, den: framesPerSecond)
        encoder.pointee.width = Int32(width)
        encoder.pointee.height = Int32(height)
        encoder.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        encoder.pointee.time_base = timeBase
        encoder.pointee.framerate = AVRational(num: framesPerSecond, den: 1)
        encoder.pointee.gop_size = 2 * framesPerSecond
        encoder.pointee.max_b_frames = 0
        encoder.pointee.thread_count = 1
        encoder.pointee.color_range = AVCOL_RANGE_MPEG
        encoder.pointee.colorspace = AVCOL_SPC_SMPTE170M   // BT.601, swscale's default matrix
        encoder.pointee.color_primaries = AVCOL_PRI_SMPTE170M
        encoder.pointee.color_trc = AVCOL_TRC_SMPTE170M
        if (format.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER) != 0 {
            encoder.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
        }
        // x264's own log lines (cpu flags, stats) are info level: keep errors only.
        let options: [(String, String)] = [("preset", Self.preset), ("crf", Self.constantRateFactor), ("x264-params", "log=0")]
        for (key, value) in options {
            try check(av_opt_set(encoder.pointee.priv_data, key, value, 0), "cannot set the libx264 option \(key)=\(value)")
        }
        try check(avcodec_open2(encoder, codec, nil), "cannot open libx264 for \(width)×\(height)")
        try check(avcodec_parameters_from_context(stream.pointee.codecpar, encoder), "cannot copy the encoder parameters")
        stream.pointee.time_base = timeBase
        stream.pointee.avg_frame_rate = encoder.pointee.framerate
        // No library version strings in the file: the same frames give the same bytes.
        format.pointee.flags |= AVFMT_FLAG_BITEXACT

        try check(avio_open(&format.pointee.pb, path, AVIO_FLAG_WRITE), "cannot create the file")
        fileIsOpen = true
        try check(avformat_write_header(format, nil), "cannot write the MP4 header")

        guard let frame = av_frame_alloc(), let packet = av_packet_alloc() else {
            throw ERIError(.internal, "\(path): cannot allocate a frame")
        }
        self.frame = frame
        self.packet = packet
        frame.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        try check(av_frame_get_buffer(frame, 0), "cannot allocate a \(width)×\(height) frame")
        scaler = sws_getContext(Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height),
                                AV_PIX_FMT_YUV420P, SWS_BILINEAR, nil, nil, nil)
        guard scaler != nil else { throw ERIError(.internal, "\(path): cannot set up RGB24 → yuv420p conversion") }
    }

    /// Encodes one frame of packed RGB24 (`3 · width` bytes a row, top row first).
    func append(rgb pixels: UnsafeBufferPointer<UInt8>) throws {
        guard let frame, let encoder, let base = pixels.baseAddress, pixels.count >= width * height * 3 else {
            throw ERIError(.internal, "\(path): append after finish or with a short frame")
        }
        try check(av_frame_make_writable(frame), "cannot reuse the frame buffer")
        let source: [UnsafePointer<UInt8>?] = [base, nil, nil, nil]
        let sourceStride: [Int32] = [Int32(3 * width), 0, 0, 0]
        let planes: [UnsafeMutablePointer<UInt8>?] = [frame.pointee.data.0, frame.pointee.data.1, frame.pointee.data.2, nil]
        let strides: [Int32] = [frame.pointee.linesize.0, frame.pointee.linesize.1, frame.pointee.linesize.2, 0]
        let rows = sws_scale(scaler, source, sourceStride, 0, Int32(height), planes, strides)
        guard rows == Int32(height) else { throw ERIError(.internal, "\(path): RGB24 → yuv420p conversion failed") }
        frame.pointee.pts = nextTimestamp
        nextTimestamp += 1
        try check(avcodec_send_frame(encoder, frame), "cannot encode frame \(nextTimestamp - 1)")
        try drain()
    }

    /// Flushes the encoder, writes the MP4 index and closes the file.
    func finish() throws {
        guard let encoder, let format else { throw ERIError(.internal, "\(path): finished twice") }
        try check(avcodec_send_frame(encoder, nil), "cannot flush the encoder")
        try drain()
        try check(av_write_trailer(format), "cannot finish the MP4 file")
        fileIsOpen = false
        try check(avio_closep(&format.pointee.pb), "cannot close the file")
        release()
    }

    /// Moves every packet the encoder has ready into the file.
    private func drain() throws {
        guard let encoder, let packet, let stream, let format else { return }
        while true {
            let status = avcodec_receive_packet(encoder, packet)
            if status == AVStatus.tryAgain || status == AVStatus.endOfFile { return }
            try check(status, "cannot encode")
            av_packet_rescale_ts(packet, encoder.pointee.time_base, stream.pointee.time_base)
            packet.pointee.stream_index = stream.pointee.index
            // Takes the packet's data whether it succeeds or not.
            try check(av_interleaved_write_frame(format, packet), "cannot write a video packet")
        }
    }

    private func release() {
        sws_freeContext(scaler)
        scaler = nil
        av_frame_free(&frame)
        av_packet_free(&packet)
        avcodec_free_context(&encoder)
        if let format {
            if fileIsOpen { avio_closep(&format.pointee.pb) }
            avformat_free_context(format)   // frees the stream too
        }
        fileIsOpen = false
        format = nil
        stream = nil
    }
}
