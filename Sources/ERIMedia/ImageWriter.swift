import CFFmpeg
import ERICore

/// Writes an RGB24 image (width × height × 3 bytes, rows packed) as a PNG
/// file with FFmpeg's PNG encoder, atomically (`writeFileAtomically`).
/// For `eri faces --preview` and other diagnostics.
public func writePNG(path: String, rgb: [UInt8], width: Int, height: Int) throws {
    guard width >= 1, height >= 1, width <= MediaLimits.maxSide, height <= MediaLimits.maxSide, rgb.count == width * height * 3 else {
        throw ERIError.invalidArgument("\(path): a PNG of \(width)×\(height) needs \(width * height * 3) bytes, got \(rgb.count)")
    }
    guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else { throw ERIError(.unsupported, "\(path): FFmpeg has no PNG encoder") }
    var context = avcodec_alloc_context3(codec)
    var frame = av_frame_alloc()
    var packet = av_packet_alloc()
    defer {
        avcodec_free_context(&context)
        av_frame_free(&frame)
        av_packet_free(&packet)
    }
    guard let context, let frame, let packet else { throw ERIError(.outOfMemory, "\(path): cannot allocate the PNG encoder") }
    context.pointee.width = Int32(width)
    context.pointee.height = Int32(height)
    context.pointee.pix_fmt = AV_PIX_FMT_RGB24
    context.pointee.time_base = AVRational(num: 1, den: 1)
    guard avcodec_open2(context, codec, nil) >= 0 else { throw ERIError(.internal, "\(path): cannot open the PNG encoder") }
    frame.pointee.format = AV_PIX_FMT_RGB24.rawValue
    frame.pointee.width = Int32(width)
    frame.pointee.height = Int32(height)
    guard av_frame_get_buffer(frame, 0) >= 0 else { throw ERIError(.outOfMemory, "\(path): cannot allocate a \(width)×\(height) frame") }
    let stride = Int(frame.pointee.linesize.0)
    rgb.withUnsafeBytes { src in
        for y in 0..<height {
            (frame.pointee.data.0! + y * stride).update(from: src.baseAddress!.assumingMemoryBound(to: UInt8.self) + y * width * 3,
                                                         count: width * 3)
        }
    }
    var bytes: [UInt8] = []
    guard avcodec_send_frame(context, frame) >= 0, avcodec_send_frame(context, nil) >= 0 else {
        throw ERIError(.internal, "\(path): the PNG encoder refused the image")
    }
    while avcodec_receive_packet(context, packet) >= 0 {
        bytes += UnsafeBufferPointer(start: packet.pointee.data, count: Int(packet.pointee.size))
        av_packet_unref(packet)
    }
    guard !bytes.isEmpty else { throw ERIError(.internal, "\(path): the PNG encoder wrote nothing") }
    try bytes.withUnsafeBytes { try writeFileAtomically(path: path, chunks: [$0]) }
}
