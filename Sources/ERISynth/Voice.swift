// The synthetic voice: a glottal pulse train (raised-cosine pulses,
// differentiated for lip radiation) plus aspiration noise, through a cascade
// of three formant resonators (Klatt's two-pole sections), over pink
// background noise. What is said is a score at 200 Hz — murmured syllables,
// laughs, exclamations, breaths — built from the clip's expression timeline.

import ERICore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum Voice {
    static let sampleRate = 16000
    /// One video frame at 25 fps.
    static let samplesPerFrame = 640
    /// Score resolution: 200 Hz.
    static let controlStep = 80
    static let controlRate: Float = 200

    /// Vowel formants F1–F3 of an adult male, Hz (Peterson & Barney).
    enum Vowel: Int, CaseIterable {
        case a, e, i, o, u, schwa
        var formants: (Float, Float, Float) {
            switch self {
            case .a: return (730, 1090, 2440)
            case .e: return (530, 1840, 2480)
            case .i: return (270, 2290, 3010)
            case .o: return (570, 840, 2410)
            case .u: return (300, 870, 2240)
            case .schwa: return (500, 1500, 2500)
            }
        }
    }

    /// RMS of a held vowel at level 1 and loudness 1: the reference of the background-noise SNR.
    static let speechLevel: Float = 0.1

    /// The clip's audio: `frames × 640` samples of 16-bit PCM at 16 kHz.
    static func render(frames: Int, track: ExpressionTrack, subject: SubjectProfile, snr: Float,
                       generator g: inout SeededGenerator) -> [Int16] {
        var score = Score(frames: frames, subject: subject)
        score.compose(track: track, generator: &g)
        return synthesize(score: score, subject: subject, snr: snr, generator: &g)
    }

    /// The control tracks at 200 Hz, one value per 80 samples (plus one at the end).
    struct Score {
        var voiced: [Float], aspiration: [Float], pitch: [Float]
        var formant1: [Float], formant2: [Float], formant3: [Float]
        var tremor: [Float]
        let count: Int
        let subject: SubjectProfile

        init(frames: Int, subject: SubjectProfile) {
            count = frames * (Voice.samplesPerFrame / Voice.controlStep) + 1
            self.subject = subject
            voiced = [Float](repeating: 0, count: count)
            aspiration = voiced
            tremor = voiced
            pitch = [Float](repeating: 1, count: count)
            let rest = Vowel.schwa.formants
            formant1 = [Float](repeating: rest.0, count: count)
            formant2 = [Float](repeating: rest.1, count: count)
            formant3 = [Float](repeating: rest.2, count: count)
        }

        var duration: Float { Float(count - 1) / Voice.controlRate }

        /// Writes a voiced segment over [start, start + length): where it is
        /// louder than what is there, it sets loudness, pitch and vowel.
        mutating func voice(start: Float, length: Float, vowel: Vowel, to nextVowel: Vowel? = nil,
                            level: Float, pitchFrom: Float, pitchTo: Float, attack: Float = 0.2, release: Float = 0.35,
                            breath: Float = 0) {
            let first = max(0, Int(start * Voice.controlRate)), last = min(count - 1, Int((start + length) * Voice.controlRate))
            guard first <= last, length > 0 else { return }
            let a = vowel.formants, b = (nextVowel ?? vowel).formants
            for k in first...last {
                let tau = (Float(k) / Voice.controlRate - start) / length
                guard tau >= 0 && tau < 1 else { continue }
                let envelope = min(1, tau / attack, (1 - tau) / release)
                let loudness = level * smoothstep(envelope)
                if loudness >= voiced[k] {
                    voiced[k] = loudness
                    pitch[k] = pitchFrom + (pitchTo - pitchFrom) * tau
                    formant1[k] = a.0 + (b.0 - a.0) * tau
                    formant2[k] = a.1 + (b.1 - a.1) * tau
                    formant3[k] = a.2 + (b.2 - a.2) * tau
                }
                aspiration[k] = max(aspiration[k], breath * smoothstep(envelope))
            }
        }

        /// Noise only (a breath, a gasp, the "h" of a laugh).
        mutating func breathe(start: Float, length: Float, level: Float, vowel: Vowel) {
            let first = max(0, Int(start * Voice.controlRate)), last = min(count - 1, Int((start + length) * Voice.controlRate))
            guard first <= last, length > 0 else { return }
            let f = vowel.formants
            for k in first...last {
                let tau = (Float(k) / Voice.controlRate - start) / length
                guard tau >= 0 && tau < 1 else { continue }
                let loudness = level * smoothstep(min(1, tau / 0.3, (1 - tau) / 0.4))
                if loudness > aspiration[k] {
                    aspiration[k] = loudness
                    if voiced[k] < 0.05 { formant1[k] = f.0; formant2[k] = f.1; formant3[k] = f.2 }
                }
            }
        }

        /// The cue table's voice column. Random draws do not depend on the
        /// labels (see ExpressionTrack), so labels change cues, not timing.
        mutating func compose(track: ExpressionTrack, generator g: inout SeededGenerator) {
            let duration = self.duration
            let vowels = Vowel.allCases

            // Murmurs: short utterances at the subject's rate, more often when anxious
            // (thinning of a Poisson-like process: every candidate draws the same numbers).
            let peakRate = subject.talkativeness * 2.5
            var t = g.uniform(0, 1.5) / peakRate
            while t < duration {
                let accept = g.unit()
                let syllables = 1 + g.index(4)
                var lengths: [Float] = [], kinds: [Vowel] = [], accents: [Float] = []
                for _ in 0..<4 {
                    lengths.append(g.uniform(0.6, 1.4) / subject.speechRate)
                    kinds.append(vowels[g.index(vowels.count)])
                    accents.append(g.uniform(-1, 1))
                }
                let rate = subject.talkativeness * (1 + 1.5 * min(track.activation(.anxiety, t), 1))
                var position = t
                let total = lengths[0..<syllables].reduce(0, +)
                if accept < rate / peakRate {
                    for s in 0..<syllables {
                        let progress = (position - t) / total
                        let contour = 1.06 - 0.12 * progress + 0.05 * accents[s]
                        voice(start: position, length: lengths[s], vowel: kinds[s], level: 0.55 + 0.1 * accents[s],
                              pitchFrom: contour, pitchTo: contour - 0.03)
                        position += lengths[s]
                    }
                } else {
                    position += total
                }
                t = position + g.uniform(0.2, 2.5) / peakRate
            }

            // Breathing: a breath every few seconds, faster and louder with anxiety.
            t = g.uniform(0, 2)
            while t < duration {
                let accept = g.unit(), length = g.uniform(0.3, 0.45)
                let anxiety = min(track.activation(.anxiety, t), 1)
                if accept < (0.25 + 0.7 * anxiety) / 0.95 {
                    breathe(start: t, length: length, level: 0.04 + 0.3 * anxiety, vowel: .schwa)
                }
                t += length + g.uniform(0.3, 1.6) / 0.95
            }

            // Episode-bound vocal events; their shapes are drawn for every
            // emotion, whatever the labels.
            for e in Emotion.allCases {
                let label = track.amplitude[e.rawValue]
                let length = g.uniform(0.3, 0.45), glide = g.uniform(0.45, 0.7)
                for episode in track.episodes[e.rawValue] {
                    switch e {
                    case .surprise where label >= ExpressionTrack.vocalThreshold:
                        // "Oh!": a rising glide with a loudness jump at the onset.
                        voice(start: episode.onset + 0.05, length: length, vowel: .o, level: 1.1 + 0.5 * min(label, 1),
                              pitchFrom: 1, pitchTo: 1 + glide, attack: 0.08, release: 0.3)
                    case .empathicPain where label >= ExpressionTrack.vocalThreshold:
                        // "Aww": a falling glide.
                        voice(start: episode.onset + 0.8 * episode.attack, length: length + 0.3, vowel: .a, to: .o,
                              level: 0.6, pitchFrom: 1.1, pitchTo: 0.72, attack: 0.25, release: 0.4)
                    case .fear where label >= 0.35:
                        // A sharp inhalation at the onset.
                        breathe(start: episode.onset, length: 0.22, level: 0.5 * min(label, 1), vowel: .i)
                    default:
                        break
                    }
                }
            }

            // Laughter: "ha" pulses at the laugh rate, higher pitched, an "h" before each vowel.
            let amusement = min(track.amplitude[Emotion.amusement.rawValue], 1.2)
            for bout in track.laughBouts {
                let period = 1 / track.laughRate
                var pulse = 0
                var start = bout.start
                while start + 0.6 * period < bout.end {
                    let fade = min(1, Float(pulse + 1) / 2, (bout.end - start) / 0.3)
                    breathe(start: start, length: 0.3 * period, level: 0.45 * amusement * fade, vowel: .a)
                    voice(start: start + 0.18 * period, length: 0.4 * period, vowel: .a,
                          level: (0.5 + 0.6 * amusement) * fade, pitchFrom: 1.4 - 0.02 * Float(pulse),
                          pitchTo: 1.32 - 0.02 * Float(pulse), attack: 0.25, release: 0.35, breath: 0.2)
                    pulse += 1
                    start += period
                }
            }

            // Continuous cues on whatever is voiced.
            for k in 0..<count {
                let t = Float(k) / Voice.controlRate
                let fear = min(track.activation(.fear, t), 1)
                let anxiety = min(track.activation(.anxiety, t), 1)
                let pain = min(track.activation(.empathicPain, t), 1)
                pitch[k] *= 1 + 0.25 * fear + 0.12 * anxiety - 0.08 * pain
                voiced[k] *= 1 - 0.45 * pain
                aspiration[k] += voiced[k] * (subject.breathiness + 0.35 * anxiety + 0.2 * fear)
                tremor[k] = subject.naturalTremor + 0.045 * anxiety + 0.015 * fear
            }
        }
    }

    /// Runs the source-filter model over the score, adds the background noise and quantises.
    static func synthesize(score: Score, subject: SubjectProfile, snr: Float, generator g: inout SeededGenerator) -> [Int16] {
        let n = (score.count - 1) * controlStep
        var output = [Int16](repeating: 0, count: n)
        let fs = Float(sampleRate)
        let tremorRate = g.uniform(6, 9)
        let tremorPhase = g.uniform(0, 2 * Float.pi)
        let noiseLevel = speechLevel * powf(10, -snr / 20)
        let bandwidths: (Float, Float, Float) = (90, 110, 170)
        var resonators = (Resonator(), Resonator(), Resonator())
        var formants = (score.formant1[0], score.formant2[0], score.formant3[0])
        var pink = PinkNoise()
        var phase: Float = 0
        var previousPulse: Float = 0
        var jitter: Float = 0
        let openQuotient: Float = 0.6
        let gain = outputGain * subject.loudness

        output.withUnsafeMutableBufferPointer { samples in
            // The hot loop runs on the buffer: 16 000 samples a second of clip.
            for k in 0..<(score.count - 1) {
                // Formants glide (one-pole smoothing at 200 Hz) and set the resonators for this step.
                formants.0 += (score.formant1[k] * subject.formantScale - formants.0) * 0.35
                formants.1 += (score.formant2[k] * subject.formantScale - formants.1) * 0.35
                formants.2 += (score.formant3[k] * subject.formantScale - formants.2) * 0.35
                resonators.0.tune(frequency: formants.0, bandwidth: bandwidths.0)
                resonators.1.tune(frequency: formants.1, bandwidth: bandwidths.1)
                resonators.2.tune(frequency: formants.2, bandwidth: bandwidths.2)
                jitter += (g.uniform(-1, 1) - jitter) * 0.3
                for j in 0..<controlStep {
                    let i = k * controlStep + j
                    let alpha = Float(j) / Float(controlStep)
                    let voiced = score.voiced[k] + (score.voiced[k + 1] - score.voiced[k]) * alpha
                    let aspiration = score.aspiration[k] + (score.aspiration[k + 1] - score.aspiration[k]) * alpha
                    let pitch = score.pitch[k] + (score.pitch[k + 1] - score.pitch[k]) * alpha
                    let tremor = score.tremor[k] + (score.tremor[k + 1] - score.tremor[k]) * alpha
                    let t = Float(i) / fs
                    let f0 = subject.basePitch * pitch * (1 + tremor * sinf(2 * Float.pi * tremorRate * t + tremorPhase))
                        * (1 + 0.006 * jitter)

                    // Glottal flow: a raised-cosine pulse over the open phase; its
                    // difference is the radiated source, scaled to a peak near 1.
                    phase += f0 / fs
                    if phase >= 1 { phase -= 1 }
                    let pulse = phase < openQuotient ? 0.5 * (1 - cosf(2 * Float.pi * phase / openQuotient)) : 0
                    let source = (pulse - previousPulse) * (openQuotient * fs / (Float.pi * f0))
                    previousPulse = pulse

                    let white = g.uniform(-1, 1)
                    let excitation = voiced * source + aspiration * white * 0.6
                    let speech = resonators.2.process(resonators.1.process(resonators.0.process(excitation)))
                    let value = speech * gain + pink.next(g.uniform(-1, 1)) * noiseLevel
                    samples[i] = Int16(clamping: Int((min(max(value, -1), 1) * 32767).rounded()))
                }
            }
        }
        return output
    }

    /// Scales the cascade's output so that a held vowel at level 1 and
    /// loudness 1 has an RMS of about `speechLevel` (measured: 0.04–0.07 before
    /// scaling by 0.05, over vowels and pitches), peaks near 0.25.
    static let outputGain: Float = 0.1
}

/// Klatt's two-pole resonator, unity gain at 0 Hz:
/// y[n] = A·x[n] + B·y[n−1] + C·y[n−2].
struct Resonator {
    private var a: Float = 1, b: Float = 0, c: Float = 0
    private var y1: Float = 0, y2: Float = 0

    mutating func tune(frequency: Float, bandwidth: Float) {
        let period = 1 / Float(Voice.sampleRate)
        c = -expf(-2 * Float.pi * bandwidth * period)
        b = 2 * expf(-Float.pi * bandwidth * period) * cosf(2 * Float.pi * frequency * period)
        a = 1 - b - c
    }

    @inline(__always) mutating func process(_ x: Float) -> Float {
        let y = a * x + b * y1 + c * y2
        y2 = y1
        y1 = y
        return y
    }
}

/// Paul Kellet's economy pink-noise filter (−3 dB/octave within ±0.5 dB above 40 Hz).
struct PinkNoise {
    private var b0: Float = 0, b1: Float = 0, b2: Float = 0

    /// Filters one white sample; for uniform input in [−1, 1] the output's RMS is about 1.
    @inline(__always) mutating func next(_ white: Float) -> Float {
        b0 = 0.99765 * b0 + white * 0.0990460
        b1 = 0.96300 * b1 + white * 0.2965164
        b2 = 0.57000 * b2 + white * 1.0526913
        return (b0 + b1 + b2 + white * 0.1848) * 0.6
    }
}
