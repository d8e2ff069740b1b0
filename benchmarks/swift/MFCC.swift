// The MFCC rows of the benchmark (SPEC §4.2 step 2): liberi's ERIFeatures
// against librosa.

import ERICore
import ERIFeatures

/// One timed MFCC of `pcm` (mono, at the model's rate): the milliseconds and
/// the T_a × n_mfcc matrix. The extractor is built outside the timing (its
/// window, filter bank and DCT tables are made once per config).
func timeMFCC(config: ERIConfig.Audio, pcm: [Float]) throws -> (ms: Double, values: Tensor) {
    let extractor = try MFCCExtractor(config: config)
    return try pcm.withUnsafeBufferPointer { samples in
        let start = nowMilliseconds()
        let values = try extractor.compute(samples)
        return (nowMilliseconds() - start, values)
    }
}
