/// What one model may cost, and what one call may read: the documented
/// maxima (include/eri.h, "Limits") in one place. A config is checked against
/// the model limits when it is parsed (so at `eri_model_open`), and every
/// input against the call limits before anything derived from it is
/// allocated, so that no input reaches an allocation Swift would trap on.
///
/// The limits are products, not only single values: each of frames, image
/// size and width may be reasonable while their product is not. They are
/// chosen far above what the presets need (dbn-base: 32 frames of 112², 16
/// spatial tokens, 512 audio steps) and low enough that the peak memory of a
/// call stays within the 1 GiB eri.h documents (measured at the limits: 560 MB).
public enum Limits {
    // MARK: The model (checked when its config is parsed)

    /// Frames F a video branch samples per clip (dbn-base: 32).
    public static let maxFrames = 256
    /// Side S of the square face image (dbn-base: 112).
    public static let maxImageSize = 512
    /// F · C · S² of one clip's preprocessed frames, in floats (128 MiB;
    /// dbn-base: 1,204,224). 256 RGB frames of 209², or 32 of 512².
    public static let maxClipValues = 1 << 25
    /// The largest activation map of one frame in the backbone, C · side², in
    /// floats (32 MiB; dbn-base: 200,704 in its stem).
    public static let maxFrameActivation = 1 << 23
    /// Tokens the spatial attention attends over (the backbone map's side²;
    /// dbn-base: 16).
    public static let maxSpatialTokens = 1024
    /// `audio.max_steps`, the audio attention's sequence length (dbn-base: 512).
    public static let maxAudioSteps = 4096
    /// Trainable parameters (256 MiB as float32; dbn-base: about 15 million).
    public static let maxParameters = 1 << 26
    /// Multiply-adds of one clip through the network, the MFCC of its audio
    /// included (about 2.7 · 10¹¹; dbn-base: about 1.6 · 10¹⁰).
    public static let maxMultiplyAdds = 1 << 38
    /// Smallest normalisation std (`video.std` in the config, the
    /// `audio.norm.std` tensor): a smaller one turns any input into overflow.
    public static let minStd: Float = 1e-4
    /// Largest |mean| of `video.mean` (pixels are read in [0, 1]).
    public static let maxMean: Float = 1000
    /// Largest |value| of any tensor of a model file. Trained weights, biases
    /// and BatchNorm statistics are orders of magnitude below it.
    public static let maxWeight: Float = 1e6

    // MARK: One call (checked before anything is allocated for it)

    /// Largest |sample| of float PCM, in memory or decoded from a file: [-1, 1]
    /// with room for the overshoot of resampling and mixing; a larger value is
    /// a misread (int16 passed as float) or a damaged file.
    public static let sampleMagnitude: Float = 1.5
    /// Mono audio samples one prediction reads, at the model's rate, after
    /// resampling: 2^26, 69.9 minutes at 16 kHz (256 MiB as float32).
    public static let maxAudioSamples = 1 << 26
    /// Sample rates of audio in memory or in a file, Hz. Below 4 kHz nothing
    /// of a voice is left to read; above 768 kHz no audio hardware records.
    public static let sampleRates = 4000...768_000
    /// Preprocessed frames of all windows of one prediction (k · F · C · S²),
    /// in floats (256 MiB; dbn-base: 55 windows). An input cut into more
    /// windows (ERI_LONG_INPUT_WINDOWS) gets fewer, longer ones.
    public static let maxBatchValues = 1 << 26

    /// `a · b`, or nil when it overflows.
    @inlinable public static func product(_ a: Int, _ b: Int) -> Int? {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : p
    }

    /// The product of `values`, or nil when it overflows.
    @inlinable public static func product(_ values: [Int]) -> Int? {
        var p = 1
        for v in values {
            guard let q = product(p, v) else { return nil }
            p = q
        }
        return p
    }

    /// A sample rate's check, in the words every caller uses.
    public static func checkSampleRate(_ rate: Int, what: String) throws {
        guard sampleRates.contains(rate) else {
            throw ERIError.invalidArgument("\(what): sample rate \(rate) Hz is outside \(sampleRates.lowerBound)…\(sampleRates.upperBound) Hz")
        }
    }

    /// The samples `count` samples at `from` Hz become at `to` Hz,
    /// round(count · to / from), computed without overflow; nil beyond `maxAudioSamples`.
    public static func resampledCount(_ count: Int, from: Int, to: Int) -> Int? {
        guard count >= 0, from > 0, to > 0 else { return nil }
        if from == to { return count <= maxAudioSamples ? count : nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: to)
        guard !overflow else { return nil }
        let n = (product + from / 2) / from
        return n <= maxAudioSamples ? n : nil
    }

    /// "69.9 min at 16000 Hz": what `maxAudioSamples` is at `rate`.
    public static func audioLimitText(rate: Int) -> String {
        let seconds = Double(maxAudioSamples) / Double(rate)
        let text = seconds >= 120 ? "\(Double(Int(seconds / 6)) / 10) min" : "\(Double(Int(seconds * 10)) / 10) s"
        return "\(text) at \(rate) Hz (\(maxAudioSamples) samples)"
    }
}
