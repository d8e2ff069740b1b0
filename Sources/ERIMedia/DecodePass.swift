import CFFmpeg
import ERICore

/// What one pass over a file produced.
struct DecodePassResult {
    /// Frames the video decoder output in all (up to the stop, if any).
    var decodedFrames: Int
    var audio: DecodedAudio?
}

/// One pass over a freshly opened file: decodes the `video` stream, converting
/// only the frames whose index is in `wanted` (nil: all) and handing each to
/// `onFrame`, stopping after frame `stopAfter`; and decodes the `audio` stream
/// to `audioRate`. Decoded frames not wanted are dropped at once: memory holds
/// the decoders' reference frames and what `onFrame` keeps, nothing else.
func decodePass(demuxer: Demuxer, video: Int32?, wanted: Set<Int>?, stopAfter: Int? = nil,
                audio: Int32?, audioRate: Int?, mono: Bool = false,
                onFrame: (DecodedFrame) throws -> Void = { _ in }) throws -> DecodePassResult {
    let path = demuxer.path
    let streams = [video, audio].compactMap { $0 }
    demuxer.keepOnly(streams)
    try demuxer.checkIndex(of: streams)
    let videoDecoder = try video.map { try StreamDecoder(demuxer: demuxer, streamIndex: $0) }
    let converter = videoDecoder.map { RGBConverter(path: path, stream: $0.stream) }
    var audioDecoder: StreamDecoder? = nil
    var resampler: Resampler? = nil
    if let audio, let audioRate {
        audioDecoder = try StreamDecoder(demuxer: demuxer, streamIndex: audio)
        resampler = Resampler(path: path, outputRate: audioRate, mono: mono)
    }
    guard let packet = av_packet_alloc() else { throw ERIError(.outOfMemory, "\(path): cannot allocate a packet") }
    var ownedPacket: UnsafeMutablePointer<AVPacket>? = packet
    defer { av_packet_free(&ownedPacket) }

    let timeBase = videoDecoder?.stream.pointee.time_base ?? AVRational(num: 0, den: 1)
    func takeVideo(_ frame: UnsafeMutablePointer<AVFrame>, _ index: Int) throws -> Bool {
        converter!.observe(frame)
        if wanted?.contains(index) ?? true {
            try onFrame(try converter!.convert(frame, index: index, timeBase: timeBase))
        }
        return stopAfter.map { index < $0 } ?? true
    }
    var audioFrames = 0
    func takeAudio(_ frame: UnsafeMutablePointer<AVFrame>, _ index: Int) throws -> Bool {
        guard let resampler, let audioDecoder else { return true }
        let layout: UnsafePointer<AVChannelLayout> = frame.pointee.ch_layout.nb_channels > 0
            ? UnsafeRawPointer(frame).advanced(by: MemoryLayout<AVFrame>.offset(of: \AVFrame.ch_layout)!)
                .assumingMemoryBound(to: AVChannelLayout.self)
            : UnsafeRawPointer(audioDecoder.context).advanced(by: MemoryLayout<AVCodecContext>.offset(of: \AVCodecContext.ch_layout)!)
                .assumingMemoryBound(to: AVChannelLayout.self)
        let planes = UnsafeRawPointer(frame.pointee.extended_data).map { $0.assumingMemoryBound(to: UnsafePointer<UInt8>?.self) }
        try resampler.push(planes, count: Int(frame.pointee.nb_samples), format: frame.pointee.format,
                           rate: frame.pointee.sample_rate, layout: layout)
        if audioFrames == 0 {
            let stream = audioDecoder.stream.pointee
            try resampler.reserve(seconds: seconds(stream.duration, stream.time_base) ?? demuxer.duration ?? 0)
        }
        audioFrames += 1
        return true
    }

    var stopped = false
    while try demuxer.read(into: packet) {
        defer { av_packet_unref(packet) }
        let index = packet.pointee.stream_index
        let decoder = index == video ? videoDecoder : index == audio ? audioDecoder : nil
        // An empty packet would tell the decoder the stream has ended.
        guard let decoder, packet.pointee.size > 0 else { continue }
        if packet.pointee.flags & AV_PKT_FLAG_CORRUPT != 0 {
            // Damage before the stream's first frame is a cut, skipped; after it, an error.
            if decoder.framesDecoded == 0 { continue }
            throw ERIError(.decode, "\(path): packet \(demuxer.packetsRead - 1) of stream \(index) is corrupt or truncated")
        }
        if index == video, let videoDecoder {
            if try !videoDecoder.decode(packet, takeVideo) {
                stopped = true
                break
            }
        } else if index == audio, let audioDecoder {
            try audioDecoder.decode(packet, takeAudio)
        }
    }
    if !stopped {
        try videoDecoder?.decode(nil, takeVideo)
        try audioDecoder?.decode(nil, takeAudio)
    }
    return DecodePassResult(decodedFrames: videoDecoder?.framesDecoded ?? 0, audio: try resampler?.finish())
}
