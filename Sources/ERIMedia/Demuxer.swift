import CFFmpeg
import ERICore

/// An open container (libavformat). The context is closed when the demuxer
/// goes away, on every path.
final class Demuxer {
    let path: String
    let context: UnsafeMutablePointer<AVFormatContext>
    private(set) var packetsRead = 0

    /// Opens `path` with the `file` protocol only: a playlist or a path with a
    /// colon can never make FFmpeg reach the network or another protocol.
    init(path: String) throws {
        _ = ffmpegLogging
        self.path = path
        var options: OpaquePointer? = nil
        defer { av_dict_free(&options) }
        av_dict_set(&options, "protocol_whitelist", "file", 0)
        guard let allocated = avformat_alloc_context() else {
            throw ERIError(.outOfMemory, "\(path): cannot allocate a demuxer")
        }
        // Watched from the start, so that a failure to open can say why.
        let key = FFmpegErrors.key(UnsafeMutableRawPointer(allocated)), thread = FFmpegErrors.currentThread
        FFmpegErrors.watch(key)
        FFmpegErrors.watch(thread)
        defer { FFmpegErrors.unwatch(thread) }
        var opened: UnsafeMutablePointer<AVFormatContext>? = allocated
        let status = avformat_open_input(&opened, "file:" + path, nil, &options)
        guard status >= 0, let opened else {
            // avformat_open_input frees the context itself when it fails.
            let logged = FFmpegErrors.first(for: key) ?? FFmpegErrors.first(for: thread)
            FFmpegErrors.unwatch(key)
            throw Demuxer.openError(path: path, status: status, logged: logged)
        }
        let infoStatus = avformat_find_stream_info(opened, nil)
        if infoStatus < 0 {
            FFmpegErrors.unwatch(key)
            var context: UnsafeMutablePointer<AVFormatContext>? = opened
            avformat_close_input(&context)
            let logged = FFmpegErrors.first(for: thread).map { " (\($0))" } ?? ""
            throw ERIError(.format, "\(path): cannot read the stream parameters: \(avErrorString(infoStatus))\(logged)")
        }
        context = opened
        FFmpegErrors.watch(key)   // from here on, only errors met while reading count
    }

    deinit {
        FFmpegErrors.unwatch(FFmpegErrors.key(UnsafeMutableRawPointer(context)))
        var context: UnsafeMutablePointer<AVFormatContext>? = self.context
        avformat_close_input(&context)
    }

    /// The path was checked before (`checkMediaFile`), so a failure here is
    /// almost always a file FFmpeg does not understand; demuxers return odd
    /// codes for it (y4m: EBUSY), so the logged reason is preferred.
    static func openError(path: String, status: Int32, logged: String?) -> ERIError {
        switch status {
        case -ENOENT: return ERIError(.io, "\(path): no such file")
        case -EACCES: return ERIError(.io, "\(path): permission denied")
        case -EISDIR: return ERIError(.io, "\(path): is a directory")
        case -EIO: return ERIError(.io, "\(path): read error")
        default: return ERIError(.format, "\(path): not a media file FFmpeg can read (\(logged ?? avErrorString(status)))")
        }
    }

    var streamCount: Int { Int(context.pointee.nb_streams) }

    func stream(_ index: Int32) -> UnsafeMutablePointer<AVStream> {
        context.pointee.streams[Int(index)]!
    }

    /// The container's duration in seconds, when it states one.
    var duration: Double? {
        let ticks = context.pointee.duration
        guard ticks != noTimestamp, ticks > 0 else { return nil }
        return Double(ticks) / Double(AV_TIME_BASE)
    }

    /// The best video stream (libavformat's choice), skipping cover art: an
    /// attached picture in an audio file is not video.
    func bestVideoStream() -> Int32? {
        let best = av_find_best_stream(context, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard best >= 0 else { return nil }
        if !isAttachedPicture(best) { return best }
        for index in 0..<Int32(streamCount) {
            let parameters = stream(index).pointee.codecpar.pointee
            if parameters.codec_type == AVMEDIA_TYPE_VIDEO && !isAttachedPicture(index) { return index }
        }
        return nil
    }

    /// The best audio stream, preferring one of the same program as `video`.
    func bestAudioStream(relatedTo video: Int32?) -> Int32? {
        let best = av_find_best_stream(context, AVMEDIA_TYPE_AUDIO, -1, video ?? -1, nil, 0)
        return best >= 0 ? best : nil
    }

    private func isAttachedPicture(_ index: Int32) -> Bool {
        stream(index).pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0
    }

    /// Tells the demuxer to skip every stream but `kept`, so unused tracks cost
    /// no reading and their damage no errors.
    func keepOnly(_ kept: [Int32]) {
        for index in 0..<Int32(streamCount) {
            stream(index).pointee.discard = kept.contains(index) ? AVDISCARD_DEFAULT : AVDISCARD_ALL
        }
    }

    /// Reads the next packet into `packet` (which the caller unrefs); false at
    /// the end of the file. A read error, or an error the demuxer only logged,
    /// is a `.decode` error: liberi refuses damaged files rather than
    /// predicting on concealed garbage. (Packets marked corrupt are judged by
    /// `decodePass`, which knows whether the stream has started.)
    func read(into packet: UnsafeMutablePointer<AVPacket>) throws -> Bool {
        let status = av_read_frame(context, packet)
        if status == AVErrorCode.endOfFile {
            // Some demuxers only log the damage and then report a normal end.
            if let logged = FFmpegErrors.first(for: FFmpegErrors.key(UnsafeMutableRawPointer(context))) {
                throw ERIError(.decode, "\(path): damaged or truncated after packet \(packetsRead): \(logged)")
            }
            return false
        }
        if status < 0 {
            throw ERIError(.decode, "\(path): cannot read packet \(packetsRead): \(avErrorString(status)) (truncated or damaged file?)")
        }
        packetsRead += 1
        if packetsRead > MediaLimits.maxPackets {
            av_packet_unref(packet)
            throw ERIError(.decode, "\(path): more than \(MediaLimits.maxPackets) packets; giving up")
        }
        return true
    }

    /// Checks that the index of each stream in `streams` stays inside the file:
    /// an MP4 cut short after its index reads as a normal, shorter file
    /// otherwise (the demuxer meets the end of the file where the next sample
    /// should be, and reports just that).
    func checkIndex(of streams: [Int32]) throws {
        guard let io = context.pointee.pb else { return }
        let size = avio_size(io)
        guard size > 0 else { return }
        for index in streams {
            let stream = self.stream(index)
            var end: Int64 = 0
            for i in 0..<avformat_index_get_entries_count(stream) {
                guard let entry = avformat_index_get_entry(stream, i) else { continue }
                end = max(end, entry.pointee.pos + Int64(entry.pointee.size))
            }
            if end > size {
                throw ERIError(.decode, "\(path): truncated: stream \(index) has data up to byte \(end), the file ends at \(size)")
            }
        }
    }

    /// The first pass of SPEC §4.1 sampling: counts the packets of `video`
    /// without decoding them (demuxing only, so cheap). Empty packets, and
    /// packets the container marks as discarded (before an edit list's start),
    /// produce no frame and are not counted. The count is an estimate of the
    /// frames the decoder will output; `decodeMedia` corrects it if need be.
    func countPackets(of video: Int32) throws -> Int {
        keepOnly([video])
        try checkIndex(of: [video])
        guard let packet = av_packet_alloc() else { throw ERIError(.outOfMemory, "\(path): cannot allocate a packet") }
        var owned: UnsafeMutablePointer<AVPacket>? = packet
        defer { av_packet_free(&owned) }
        var count = 0
        while try read(into: packet) {
            let flags = packet.pointee.flags
            if packet.pointee.stream_index == video && packet.pointee.size > 0 && flags & AV_PKT_FLAG_DISCARD == 0 {
                count += 1
            }
            av_packet_unref(packet)
        }
        return count
    }
}
