import CFFmpeg
import ERICore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A decoder (libavcodec) for one stream, video or audio. Frames are handed
/// to the caller one at a time and unreferenced right after, so at most the
/// decoder's own reference frames stay in memory.
final class StreamDecoder {
    let path: String
    let kind: String                 // "video" or "audio", for messages
    let stream: UnsafeMutablePointer<AVStream>
    let context: UnsafeMutablePointer<AVCodecContext>
    private let frame: UnsafeMutablePointer<AVFrame>
    /// Frames output so far: the decoded-frame index of the next one.
    private(set) var framesDecoded = 0
    /// Errors met before the first frame came out (see `decode`).
    private(set) var leadingErrors = 0
    private var flushed = false

    init(demuxer: Demuxer, streamIndex: Int32) throws {
        path = demuxer.path
        stream = demuxer.stream(streamIndex)
        let parameters = stream.pointee.codecpar!
        let isVideo = parameters.pointee.codec_type == AVMEDIA_TYPE_VIDEO
        kind = isVideo ? "video" : "audio"
        if isVideo {
            let width = Int(parameters.pointee.width), height = Int(parameters.pointee.height)
            // Zero means "not in the header": the decoder finds out and the frames are checked.
            if (width != 0 || height != 0) && !MediaLimits.sizeIsValid(width: width, height: height) {
                throw ERIError(.format, "\(path): video size \(width)×\(height) is outside the supported range "
                    + "(1…\(MediaLimits.maxSide) per side, at most \(MediaLimits.maxPixels) pixels)")
            }
        } else {
            let channels = Int(parameters.pointee.ch_layout.nb_channels)
            if channels > MediaLimits.maxChannels {
                throw ERIError(.format, "\(path): \(channels) audio channels (at most \(MediaLimits.maxChannels))")
            }
        }
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw ERIError(.unsupported, "\(path): no decoder for the \(kind) codec \(codecName(parameters.pointee.codec_id))")
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw ERIError(.outOfMemory, "\(path): cannot allocate a decoder")
        }
        guard let frame = av_frame_alloc() else {
            var owned: UnsafeMutablePointer<AVCodecContext>? = context
            avcodec_free_context(&owned)
            throw ERIError(.outOfMemory, "\(path): cannot allocate a frame")
        }
        self.context = context
        self.frame = frame
        // From here on deinit frees both, whatever throws below.
        var status = avcodec_parameters_to_context(context, parameters)
        guard status >= 0 else {
            throw ERIError(.format, "\(path): bad \(kind) stream parameters: \(avErrorString(status))")
        }
        context.pointee.pkt_timebase = stream.pointee.time_base
        if isVideo {
            context.pointee.thread_count = Int32(min(max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1), Int(MediaLimits.maxDecoderThreads)))
            context.pointee.max_pixels = Int64(MediaLimits.maxPixels)
        }
        status = avcodec_open2(context, codec, nil)
        guard status >= 0 else {
            throw ERIError(.decode, "\(path): cannot open the \(codecName(parameters.pointee.codec_id)) decoder: \(avErrorString(status))")
        }
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = self.context
        avcodec_free_context(&context)
        var frame: UnsafeMutablePointer<AVFrame>? = self.frame
        av_frame_free(&frame)
    }

    /// Sends `packet` (nil: the end of the stream) and passes every frame the
    /// decoder then outputs to `body` with its decoded-frame index. Returns
    /// false when `body` asked to stop. Once a frame has come out, any error
    /// the decoder reports, and any frame it flags as damaged or concealed, is
    /// a `.decode` error. Before that, errors are skipped (up to a limit): a
    /// stream cut in the middle of a GOP, a transport stream recording for
    /// one, starts with packets no decoder can use, and FFmpeg drops them too.
    @discardableResult
    func decode(_ packet: UnsafeMutablePointer<AVPacket>?,
                _ body: (UnsafeMutablePointer<AVFrame>, Int) throws -> Bool) throws -> Bool {
        if packet == nil {
            if flushed { return true }
            flushed = true
        }
        var status = avcodec_send_packet(context, packet)
        if status == AVErrorCode.tryAgain {
            // Cannot happen when every send is drained, but the API allows it.
            guard try receiveAll(body) else { return false }
            status = avcodec_send_packet(context, packet)
        }
        if status < 0 && status != AVErrorCode.endOfFile {
            try tolerateLeading(status)
        }
        return try receiveAll(body)
    }

    /// Skips an error before the first frame, or throws it.
    private func tolerateLeading(_ status: Int32) throws {
        if framesDecoded == 0 && leadingErrors < MediaLimits.maxLeadingErrors {
            leadingErrors += 1
            return
        }
        throw ERIError(.decode, "\(path): \(kind) stream is damaged near frame \(framesDecoded): \(avErrorString(status))")
    }

    private func receiveAll(_ body: (UnsafeMutablePointer<AVFrame>, Int) throws -> Bool) throws -> Bool {
        var produced = 0
        while true {
            let status = avcodec_receive_frame(context, frame)
            if status == AVErrorCode.tryAgain || status == AVErrorCode.endOfFile { return true }
            if status < 0 {
                try tolerateLeading(status)
                continue
            }
            defer { av_frame_unref(frame) }
            if frame.pointee.decode_error_flags != 0 || frame.pointee.flags & AV_FRAME_FLAG_CORRUPT != 0 {
                throw ERIError(.decode, "\(path): \(kind) frame \(framesDecoded) is damaged (the decoder concealed errors)")
            }
            produced += 1
            if produced > MediaLimits.maxFramesPerPacket {
                throw ERIError(.decode, "\(path): the \(kind) decoder produced more than \(MediaLimits.maxFramesPerPacket) frames from one packet")
            }
            let index = framesDecoded
            framesDecoded += 1
            if try !body(frame, index) { return false }
        }
    }
}
