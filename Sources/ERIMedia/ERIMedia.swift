// ERIMedia: media files in, the inputs of SPEC §4 out — RGB24 frames at the
// SPEC §4.1 sampling indices and interleaved float PCM at the model's rate.
//
//     let probe = try probeMedia(path: "clip.mp4")
//     let (frames, audio) = try decodeMedia(path: "clip.mp4", frames: 32, audioRate: 16000)
//     // frames: 32 DecodedFrame (RGB24, native size, upright); audio: DecodedAudio?
//
// FFmpeg 5.1 demuxes every container it knows and decodes; swscale converts
// to RGB24 and swresample to float, both set up as the ffmpeg command line
// sets them up, so that `ffmpeg -i F -f rawvideo -pix_fmt rgb24 -` and
// `ffmpeg -i F -ar RATE -f f32le -` are the oracles. libsndfile reads files
// without video (WAV, FLAC, OGG…). Every failure is an ERIError whose message
// starts with the path: .io (missing, unreadable, a directory), .format (not
// media, no usable stream, an absurd frame size), .decode (truncated or
// damaged data), .unsupported (no decoder), .invalidArgument.

import CFFmpeg
import ERICore

/// One video frame, converted to RGB24 at the stream's native size and turned
/// upright as its rotation metadata says.
public struct DecodedFrame: Sendable, Equatable {
    /// Width in pixels, after rotation.
    public var width: Int
    /// Height in pixels, after rotation.
    public var height: Int
    /// RGB24 pixels, top row first; each row is `3 · width` bytes, no padding.
    public var pixels: [UInt8]
    /// The frame's position, from 0, among all frames the decoder outputs
    /// (presentation order) — the index SPEC §4.1 samples.
    public var index: Int
    /// Presentation time in seconds, or nil when the stream has no timestamps.
    public var timestamp: Double?

    public init(width: Int, height: Int, pixels: [UInt8], index: Int, timestamp: Double?) {
        self.width = width
        self.height = height
        self.pixels = pixels
        self.index = index
        self.timestamp = timestamp
    }
}

/// Decoded audio: float32 samples, channels interleaved and kept as they are
/// in the file (SPEC §4.2 step 1 averages them: that is the caller's step).
public struct DecodedAudio: Sendable, Equatable {
    /// `frameCount · channels` values, channel by channel within each sample.
    public var samples: [Float]
    public var channels: Int
    public var sampleRate: Int

    /// Samples per channel.
    public var frameCount: Int { channels > 0 ? samples.count / channels : 0 }

    public init(samples: [Float], channels: Int, sampleRate: Int) {
        self.samples = samples
        self.channels = channels
        self.sampleRate = sampleRate
    }
}

/// What a media file holds, from its headers (nothing is decoded).
public struct MediaProbe: Sendable, Equatable {
    /// Whether there is a video stream (cover art does not count).
    public var hasVideo: Bool
    public var hasAudio: Bool
    /// The frame count the container states, nil when it does not know it.
    /// `decodeMedia` never relies on it: it counts packets, then frames.
    public var frameCount: Int?
    /// Duration in seconds, when known.
    public var duration: Double?
    /// Frame size as decoded frames will come out, i.e. after rotation; 0 without video.
    public var width: Int
    public var height: Int
    /// Average frames per second, when known.
    public var frameRate: Double?
    /// The audio stream's own rate and channel count, when there is one.
    public var sampleRate: Int?
    public var channels: Int?

    public init(hasVideo: Bool, hasAudio: Bool, frameCount: Int?, duration: Double?, width: Int, height: Int,
                frameRate: Double?, sampleRate: Int?, channels: Int?) {
        self.hasVideo = hasVideo
        self.hasAudio = hasAudio
        self.frameCount = frameCount
        self.duration = duration
        self.width = width
        self.height = height
        self.frameRate = frameRate
        self.sampleRate = sampleRate
        self.channels = channels
    }
}

/// Reads the headers of `path`. Throws .io for a path that is not a readable
/// file, .format for a file that is not media.
public func probeMedia(path: String) throws -> MediaProbe {
    guard try checkMediaFile(path) > 0 else { throw ERIError(.format, "\(path): empty file") }
    let demuxer: Demuxer
    do {
        demuxer = try Demuxer(path: path)
    } catch let error as ERIError {
        guard let reader = SndFileReader(path: path) else { throw error }
        return MediaProbe(hasVideo: false, hasAudio: true, frameCount: nil,
                          duration: reader.sampleRate > 0 ? Double(reader.frameCount) / Double(reader.sampleRate) : nil,
                          width: 0, height: 0, frameRate: nil, sampleRate: reader.sampleRate, channels: reader.channels)
    }
    let video = demuxer.bestVideoStream()
    let audio = demuxer.bestAudioStream(relatedTo: video)
    var probe = MediaProbe(hasVideo: video != nil, hasAudio: audio != nil, frameCount: nil, duration: demuxer.duration,
                           width: 0, height: 0, frameRate: nil, sampleRate: nil, channels: nil)
    if let video {
        let stream = demuxer.stream(video)
        let parameters = stream.pointee.codecpar.pointee
        let upright = !Orientation(displayMatrix: streamDisplayMatrix(stream)).swapsSides
        probe.width = Int(upright ? parameters.width : parameters.height)
        probe.height = Int(upright ? parameters.height : parameters.width)
        if stream.pointee.nb_frames > 0 { probe.frameCount = Int(stream.pointee.nb_frames) }
        let rate = stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate
        if rate.num > 0 && rate.den > 0 { probe.frameRate = Double(rate.num) / Double(rate.den) }
        if probe.duration == nil { probe.duration = seconds(stream.pointee.duration, stream.pointee.time_base) }
    }
    if let audio {
        let stream = demuxer.stream(audio)
        let parameters = stream.pointee.codecpar.pointee
        probe.sampleRate = parameters.sample_rate > 0 ? Int(parameters.sample_rate) : nil
        probe.channels = parameters.ch_layout.nb_channels > 0 ? Int(parameters.ch_layout.nb_channels) : nil
        if probe.duration == nil { probe.duration = seconds(stream.pointee.duration, stream.pointee.time_base) }
    }
    return probe
}

/// Decodes what a model needs from `path`: `frames` video frames sampled at
/// the SPEC §4.1 indices over all N frames the decoder outputs (nil: no
/// video), and the whole audio at `audioRate` Hz with its channels kept (nil:
/// no audio). Returns the F frames in order (j = 0…F−1) and the audio.
///
/// A file lacking one of the requested kinds returns the other: video without
/// audio gives frames and nil audio, audio without video gives no frames. It
/// throws when none of the requested kinds is in the file (.format) or none
/// yields anything (.decode: a WAV with no samples, a video with no frame).
///
/// N comes from a first, demux-only pass that counts the video packets (the
/// container's frame count is not trusted: edit lists, damaged indices).
/// Should the decoder output a different number of frames, the indices are
/// recomputed from that number and the frames that changed are decoded again
/// in a third pass. When N < F frames repeat (same `index`, storage shared).
/// The audio comes from libsndfile when the file has no video stream and
/// libsndfile reads it, else from FFmpeg, in the same pass as the frames.
///
/// Only the selected frames are converted and kept; at 1080p each is 6 MB, so
/// for many frames of a large video prefer the `eachFrame` form, which keeps
/// none.
public func decodeMedia(path: String, frames: Int?, audioRate: Int?, mono: Bool = false) throws -> (frames: [DecodedFrame], audio: DecodedAudio?) {
    var slots = [DecodedFrame?](repeating: nil, count: frames ?? 0)
    let decoded = try decodeMedia(path: path, frames: frames, audioRate: audioRate, mono: mono) { frame, positions in
        for j in positions { slots[j] = frame }
    }
    return (slots.compactMap { $0 }, decoded.audio)
}

/// What `decodeMedia(path:frames:audioRate:eachFrame:)` found besides the frames it handed over.
public struct MediaDecoding: Sendable {
    /// The whole audio at the asked rate, nil when none was asked for or the file has none.
    public var audio: DecodedAudio?
    /// N, the frames the video stream decodes to (the sampling's denominator); 0 without video.
    public var videoFrames: Int
}

/// `decodeMedia` that hands each selected frame to `body` as soon as it is
/// converted, with the sample positions j (0…F−1) it fills, instead of
/// returning the frames: memory holds one full-size frame at a time however
/// many are asked for. Frames come in decoding order. In the rare case that
/// the packet count was not the frame count, positions whose frame changes
/// are delivered again (after all the others): the last delivery of a
/// position is the right one. Returns the audio and the frame count N.
/// An error `body` throws stops the decoding and is rethrown as it is.
///
/// `mono`: the audio is the channels' mean (SPEC §4.2 step 1), mixed as it is
/// decoded, so that memory holds one channel; at most `Limits.maxAudioSamples`
/// of it (.unsupported beyond, refused before decoding when the header says
/// so). Without, the channels are kept (at most `MediaLimits.maxAudioValues`
/// values). Either way the audio's rate must be in `Limits.sampleRates`
/// (.unsupported) and every decoded sample finite and within
/// ±`Limits.sampleMagnitude` (.decode: a damaged or misread file).
@discardableResult
public func decodeMedia(path: String, frames: Int?, audioRate: Int?, mono: Bool = false,
                        eachFrame body: (_ frame: DecodedFrame, _ positions: [Int]) throws -> Void) throws -> MediaDecoding {
    if let frames, frames < 1 {
        throw ERIError(.invalidArgument, "\(path): frames must be at least 1 (got \(frames))")
    }
    if let audioRate, !(1...1_000_000).contains(audioRate) {
        throw ERIError(.invalidArgument, "\(path): audio rate \(audioRate) Hz is outside 1…1000000")
    }
    guard frames != nil || audioRate != nil else {
        throw ERIError(.invalidArgument, "\(path): nothing to decode: neither frames nor an audio rate was asked for")
    }
    guard try checkMediaFile(path) > 0 else { throw ERIError(.format, "\(path): empty file") }

    let demuxer: Demuxer
    do {
        demuxer = try Demuxer(path: path)
    } catch let error as ERIError {
        // libsndfile reads a few formats FFmpeg does not.
        guard let audioRate, let reader = SndFileReader(path: path) else { throw error }
        guard let audio = try reader.read(rate: audioRate, mono: mono) else {
            throw ERIError(.decode, "\(path): decoded no audio sample")
        }
        return MediaDecoding(audio: audio, videoFrames: 0)
    }

    let fileHasVideo = demuxer.bestVideoStream() != nil
    let video = frames != nil ? demuxer.bestVideoStream() : nil
    var audioStream = audioRate != nil ? demuxer.bestAudioStream(relatedTo: video) : nil
    var audio: DecodedAudio? = nil
    var audioFromSndFile = false
    if let audioRate, !fileHasVideo, let reader = SndFileReader(path: path) {
        audio = try reader.read(rate: audioRate, mono: mono)
        audioStream = nil
        audioFromSndFile = true
    }
    guard video != nil || audioStream != nil || audioFromSndFile else {
        let missing = [frames != nil ? "video" : nil, audioRate != nil ? "audio" : nil].compactMap { $0 }
        throw ERIError(.format, "\(path): no \(missing.joined(separator: " or ")) stream")
    }

    var delivered = 0, videoFrames = 0
    if let video, let frames {
        let estimate = try demuxer.countPackets(of: video)
        let guessed = frameIndices(available: estimate, frames: frames)
        let pass = try decodePass(demuxer: Demuxer(path: path), video: video, wanted: Set(guessed),
                                  audio: audioStream, audioRate: audioRate, mono: mono) { frame in
            delivered += 1
            try body(frame, guessed.indices.filter { guessed[$0] == frame.index })
        }
        if audioStream != nil { audio = pass.audio }
        videoFrames = pass.decodedFrames
        let exact = frameIndices(available: pass.decodedFrames, frames: frames)
        // Positions whose frame the first count got wrong (all of them if it was 0).
        let changed = exact.indices.filter { guessed.isEmpty || guessed[$0] != exact[$0] }
        if !changed.isEmpty {
            // The packet count was not the frame count: decode again, knowing N.
            let again = try decodePass(demuxer: Demuxer(path: path), video: video, wanted: Set(changed.map { exact[$0] }),
                                       audio: nil, audioRate: nil) { frame in
                delivered += 1
                try body(frame, changed.filter { exact[$0] == frame.index })
            }
            guard again.decodedFrames == pass.decodedFrames else {
                throw ERIError(.decode, "\(path): the video gave \(pass.decodedFrames) frames, then \(again.decodedFrames)")
            }
        }
    } else if let audioStream {
        audio = try decodePass(demuxer: demuxer, video: nil, wanted: [], audio: audioStream, audioRate: audioRate, mono: mono).audio
    }

    if delivered == 0 && audio == nil {
        let empty = [video != nil ? "no video frame" : nil,
                     audioStream != nil || audioFromSndFile ? "no audio sample" : nil].compactMap { $0 }
        throw ERIError(.decode, "\(path): decoded \(empty.joined(separator: " and "))")
    }
    return MediaDecoding(audio: audio, videoFrames: videoFrames)
}

/// Decodes and converts the first `maxFrames` frames of the video, in
/// presentation order (every frame if the video is shorter), all held in
/// memory. For tests and tools; `decodeMedia` is the model's path.
public func decodeAllFrames(path: String, maxFrames: Int) throws -> [DecodedFrame] {
    guard maxFrames >= 1 else {
        throw ERIError(.invalidArgument, "\(path): maxFrames must be at least 1 (got \(maxFrames))")
    }
    guard try checkMediaFile(path) > 0 else { throw ERIError(.format, "\(path): empty file") }
    let demuxer = try Demuxer(path: path)
    guard let video = demuxer.bestVideoStream() else { throw ERIError(.format, "\(path): no video stream") }
    var frames: [DecodedFrame] = []
    _ = try decodePass(demuxer: demuxer, video: video, wanted: nil, stopAfter: maxFrames - 1,
                       audio: nil, audioRate: nil) { frames.append($0) }
    guard !frames.isEmpty else { throw ERIError(.decode, "\(path): decoded no video frame") }
    return frames
}

/// Decodes a file as a live source would deliver it: the audio first (all of
/// it, resampled to `audioRate` and mixed to mono, within the limits of
/// `decodeMedia(…, mono: true)`; nil without an audio track or when
/// `audioRate` is nil), then every video frame in presentation order, each
/// handed to `eachFrame` and dropped (one full-size frame in memory at a
/// time). A frame without a timestamp gets index / frame rate (25 fps if the
/// rate is unknown). For tools that replay media into a stream
/// (`eri stream`, `eri timeline`).
public func replayMedia(path: String, audioRate: Int?, video wantVideo: Bool = true,
                        eachFrame body: (DecodedFrame) throws -> Void) throws -> DecodedAudio? {
    let probe = try probeMedia(path: path)
    var audio: DecodedAudio? = nil
    if let audioRate, probe.hasAudio {
        audio = try decodeMedia(path: path, frames: nil, audioRate: audioRate, mono: true) { _, _ in }.audio
    }
    if wantVideo && probe.hasVideo {
        let demuxer = try Demuxer(path: path)
        guard let video = demuxer.bestVideoStream() else { throw ERIError(.format, "\(path): no video stream") }
        let rate = probe.frameRate.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? 25
        _ = try decodePass(demuxer: demuxer, video: video, wanted: nil, audio: nil, audioRate: nil) { frame in
            var f = frame
            if f.timestamp == nil { f.timestamp = Double(f.index) / rate }
            try body(f)
        }
    }
    return audio
}
