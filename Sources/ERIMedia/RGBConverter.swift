import CFFmpeg
import ERICore

/// Converts decoded frames to packed RGB24 at their native size with swscale,
/// configured as the ffmpeg 5.1 command line configures its automatically
/// inserted scaler (`-f rawvideo -pix_fmt rgb24`), so that both agree:
/// `flags=bicubic` (the CLI's default `sws_flags`), MPEG-2 chroma siting for
/// yuv420p, and vf_scale's per-frame colour setup (the frame's matrix, BT.601
/// when unspecified, and its range). Then turns the frame upright.
final class RGBConverter {
    let path: String
    private var scaler: OpaquePointer? = nil
    private var scalerKey: (width: Int32, height: Int32, format: Int32) = (0, 0, -1)
    private var colourKey: (space: UInt32, range: UInt32) = (.max, .max)
    private var output: UnsafeMutablePointer<AVFrame>? = nil
    /// Decided by the first decoded frame (its display matrix, else the
    /// stream's), as the CLI configures its filters from the first frame.
    private var orientation: Orientation? = nil
    private let streamMatrix: UnsafePointer<Int32>?

    init(path: String, stream: UnsafeMutablePointer<AVStream>) {
        self.path = path
        streamMatrix = streamDisplayMatrix(stream)
    }

    deinit {
        sws_freeContext(scaler)
        av_frame_free(&output)
    }

    /// Sees every decoded frame, converted or not, so that the orientation
    /// comes from the first one.
    func observe(_ frame: UnsafeMutablePointer<AVFrame>) {
        if orientation == nil {
            orientation = Orientation(displayMatrix: frameDisplayMatrix(frame) ?? streamMatrix)
        }
    }

    func convert(_ frame: UnsafeMutablePointer<AVFrame>, index: Int, timeBase: AVRational) throws -> DecodedFrame {
        let width = Int(frame.pointee.width), height = Int(frame.pointee.height)
        guard MediaLimits.sizeIsValid(width: width, height: height) else {
            throw ERIError(.format, "\(path): video frame \(index) is \(width)×\(height), outside the supported range "
                + "(1…\(MediaLimits.maxSide) per side, at most \(MediaLimits.maxPixels) pixels)")
        }
        observe(frame)
        try prepareScaler(for: frame)
        guard let output else { throw ERIError(.internal, "\(path): no output frame") }
        let status = sws_scale_frame(scaler, output, frame)
        guard status >= 0 else {
            throw ERIError(.decode, "\(path): cannot convert video frame \(index) to RGB: \(avErrorString(status))")
        }
        let rotated = orientation!.swapsSides
        let pixels = orient(output, width: width, height: height)
        var timestamp = seconds(frame.pointee.best_effort_timestamp, timeBase)
        if timestamp == nil { timestamp = seconds(frame.pointee.pts, timeBase) }
        return DecodedFrame(width: rotated ? height : width, height: rotated ? width : height,
                            pixels: pixels, index: index, timestamp: timestamp)
    }

    /// (Re)creates the scaler when the frame's size or pixel format changes,
    /// and its colour details when the frame's matrix or range changes.
    private func prepareScaler(for frame: UnsafeMutablePointer<AVFrame>) throws {
        let width = frame.pointee.width, height = frame.pointee.height, format = frame.pointee.format
        if scaler == nil || scalerKey != (width, height, format) {
            sws_freeContext(scaler)
            scaler = nil
            av_frame_free(&output)
            colourKey = (.max, .max)
            guard let context = sws_alloc_context() else { throw ERIError(.outOfMemory, "\(path): cannot allocate a scaler") }
            scaler = context
            let object = UnsafeMutableRawPointer(context)
            av_opt_set_int(object, "srcw", Int64(width), 0)
            av_opt_set_int(object, "srch", Int64(height), 0)
            av_opt_set_int(object, "src_format", Int64(format), 0)
            av_opt_set_int(object, "dstw", Int64(width), 0)
            av_opt_set_int(object, "dsth", Int64(height), 0)
            av_opt_set_int(object, "dst_format", Int64(AV_PIX_FMT_RGB24.rawValue), 0)
            av_opt_set_int(object, "sws_flags", Int64(SWS_BICUBIC), 0)
            if format == AV_PIX_FMT_YUV420P.rawValue {
                av_opt_set_int(object, "src_v_chr_pos", 128, 0)   // vf_scale's MPEG-2 siting override
            }
            let status = sws_init_context(context, nil, nil)
            guard status >= 0 else {
                let name = av_get_pix_fmt_name(AVPixelFormat(rawValue: format)).map { String(cString: $0) } ?? "\(format)"
                throw ERIError(.unsupported, "\(path): cannot convert pixel format \(name) to RGB: \(avErrorString(status))")
            }
            guard let out = av_frame_alloc() else { throw ERIError(.outOfMemory, "\(path): cannot allocate a frame") }
            output = out
            out.pointee.width = width
            out.pointee.height = height
            out.pointee.format = AV_PIX_FMT_RGB24.rawValue
            // Aligned rows, like the CLI's frame pool: swscale picks its SIMD paths by alignment.
            let bufferStatus = av_frame_get_buffer(out, 0)
            guard bufferStatus >= 0 else { throw ERIError(.outOfMemory, "\(path): cannot allocate a \(width)×\(height) frame") }
            scalerKey = (width, height, format)
        }
        let space = frame.pointee.colorspace.rawValue, range = frame.pointee.color_range.rawValue
        if colourKey != (space, range) {
            // vf_scale's scale_frame() with in_color_matrix=auto and no other colour options.
            var inverseTable: UnsafeMutablePointer<Int32>? = nil, table: UnsafeMutablePointer<Int32>? = nil
            var sourceFull: Int32 = 0, destinationFull: Int32 = 0
            var brightness: Int32 = 0, contrast: Int32 = 0, saturation: Int32 = 0
            sws_getColorspaceDetails(scaler, &inverseTable, &sourceFull, &table, &destinationFull,
                                     &brightness, &contrast, &saturation)
            var matrix = Int32(bitPattern: space)
            if matrix < 1 || matrix > 10 || matrix == 8 { matrix = Int32(bitPattern: AVCOL_SPC_BT470BG.rawValue) }
            let coefficients = sws_getCoefficients(matrix)
            if frame.pointee.color_range != AVCOL_RANGE_UNSPECIFIED {
                sourceFull = frame.pointee.color_range == AVCOL_RANGE_JPEG ? 1 : 0
            }
            // A failure here only means the format has no YUV matrix (RGB or gray input).
            _ = sws_setColorspaceDetails(scaler, coefficients, sourceFull, coefficients, destinationFull,
                                         brightness, contrast, saturation)
            colourKey = (space, range)
        }
    }

    /// Copies the padded RGB24 rows of `frame` into a packed array, rotated or
    /// flipped as `orientation` says (out(r, c) in terms of in(row, col), as
    /// libavfilter's transpose/hflip/vflip define them).
    private func orient(_ frame: UnsafeMutablePointer<AVFrame>, width: Int, height: Int) -> [UInt8] {
        let stride = Int(frame.pointee.linesize.0)
        let source = UnsafePointer(frame.pointee.data.0!)
        let orientation = self.orientation ?? .upright
        let outWidth = orientation.swapsSides ? height : width
        let outHeight = orientation.swapsSides ? width : height
        // Unsafe buffers: a 1080p frame is 6 MB, and bounds checks per byte would dominate.
        return [UInt8](unsafeUninitializedCapacity: width * height * 3) { buffer, count in
            let out = buffer.baseAddress!
            func pixel(_ row: Int, _ column: Int) -> UnsafePointer<UInt8> { source + row * stride + column * 3 }
            switch orientation {
            case .upright, .flipped:
                for row in 0..<height {
                    let from = orientation == .flipped ? height - 1 - row : row
                    (out + row * width * 3).update(from: source + from * stride, count: width * 3)
                }
            default:
                for r in 0..<outHeight {
                    var o = out + r * outWidth * 3
                    for c in 0..<outWidth {
                        let p: UnsafePointer<UInt8>
                        switch orientation {
                        case .clockwise: p = pixel(height - 1 - c, r)
                        case .counterClockwise: p = pixel(c, width - 1 - r)
                        case .transposed: p = pixel(c, r)
                        case .antiTransposed: p = pixel(height - 1 - c, width - 1 - r)
                        case .mirrored: p = pixel(r, width - 1 - c)
                        default: p = pixel(height - 1 - r, width - 1 - c)   // upsideDown
                        }
                        o[0] = p[0]; o[1] = p[1]; o[2] = p[2]
                        o += 3
                    }
                }
            }
            count = width * height * 3
        }
    }
}
