// How a clip's labels unfold in time: each emotion has episodes with an
// onset, a peak and a decay on top of a tonic level, amusement has laughter
// bouts, and the person blinks. The face and the voice read the same
// timeline, so a laugh opens the mouth in the frames where it sounds.

import ERICore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One rise-hold-fall of an emotion, times in seconds.
struct Episode: Sendable {
    /// Start, then the durations of the rise, the plateau and the fall.
    var onset: Float, attack: Float, hold: Float, decay: Float
    /// The plateau's height.
    var strength: Float

    var end: Float { onset + attack + hold + decay }

    /// 0 before the onset, rising smoothly to `strength`, holding, falling back to 0.
    func envelope(_ t: Float) -> Float {
        let local = t - onset
        if local <= 0 { return 0 }
        if local < attack { return strength * smoothstep(local / attack) }
        if local < attack + hold { return strength }
        let fall = local - attack - hold
        if fall < decay { return strength * (1 - smoothstep(fall / decay)) }
        return 0
    }
}

@inline(__always) func smoothstep(_ x: Float) -> Float {
    let c = min(max(x, 0), 1)
    return c * c * (3 - 2 * c)
}

/// The activations of the seven emotions over a clip.
///
/// activation(e, t) = A_e · (0.35 + 0.65 · episode_e(t)), where
/// A_e = label_e · clip gain · subject expressiveness: a tonic level all
/// clip long plus phasic peaks, so that frames sampled anywhere in the clip
/// carry the label, and more so near the peaks.
///
/// Every random number is drawn whatever the labels are, so that two clips
/// with the same seed and different labels share all their nuisance (head
/// motion, blinks, timing): only the cues differ.
struct ExpressionTrack: Sendable {
    /// Seconds.
    let duration: Float
    /// A_e, the peak activation of each emotion.
    let amplitude: [Float]
    /// The episodes in use for each emotion (none when its label is ≈ 0).
    let episodes: [[Episode]]
    /// Laughter bouts (amusement ≥ 0.25): start and end, seconds.
    let laughBouts: [(start: Float, end: Float)]
    /// "Ha" pulses per second in a laugh, ~5 Hz.
    let laughRate: Float
    /// Blink start times, seconds.
    let blinks: [Float]

    static let tonicLevel: Float = 0.35
    static let blinkDuration: Float = 0.16
    /// Labels under this show no episode and no laughter or exclamation.
    static let episodeThreshold: Float = 0.02
    static let vocalThreshold: Float = 0.25

    init(labels: [Float], gain: Float, duration: Float, blinkRate: Float, generator g: inout SeededGenerator) {
        self.duration = duration
        amplitude = labels.map { $0 * gain }
        var episodes: [[Episode]] = []
        for e in 0..<7 {
            let first = Episode(onset: g.uniform(0, 0.45) * duration, attack: g.uniform(0.25, 0.6),
                                hold: g.uniform(0.6, 1.6), decay: g.uniform(0.5, 1.2), strength: g.uniform(0.75, 1))
            let gap = g.uniform(0.2, 1.0)
            let second = Episode(onset: first.end + gap, attack: g.uniform(0.25, 0.6),
                                 hold: g.uniform(0.5, 1.2), decay: g.uniform(0.5, 1.0), strength: g.uniform(0.6, 0.95))
            var used: [Episode] = []
            if labels[e] > Self.episodeThreshold { used.append(first) }
            if labels[e] > 0.4 && second.onset < duration - 0.5 { used.append(second) }
            episodes.append(used)
        }
        self.episodes = episodes
        laughRate = g.uniform(4.6, 5.4)
        var bouts: [(start: Float, end: Float)] = []
        if labels[Emotion.amusement.rawValue] >= Self.vocalThreshold {
            for episode in episodes[Emotion.amusement.rawValue] {
                bouts.append((episode.onset + 0.5 * episode.attack, episode.onset + episode.attack + episode.hold + 0.3 * episode.decay))
            }
        }
        laughBouts = bouts
        var blinks: [Float] = []
        var t = g.uniform(0, 1) / blinkRate
        while t < duration {
            blinks.append(t)
            t += g.uniform(0.3, 1.7) / blinkRate
        }
        self.blinks = blinks
    }

    /// The phasic part of emotion `e` at time `t`, 0…1.
    func episode(_ e: Emotion, _ t: Float) -> Float {
        var level: Float = 0
        for episode in episodes[e.rawValue] { level = max(level, episode.envelope(t)) }
        return level
    }

    func activation(_ e: Emotion, _ t: Float) -> Float {
        let a = amplitude[e.rawValue]
        if a <= 0 { return 0 }
        return a * (Self.tonicLevel + (1 - Self.tonicLevel) * episode(e, t))
    }

    /// The laughter pulse at `t`, 0…1: a sin² "ha" over the first 55 % of
    /// each 1/laughRate period, faded in and out at the bout's ends; 0
    /// outside bouts. Scaled by the amusement amplitude by the caller.
    func laughter(_ t: Float) -> Float {
        for bout in laughBouts where t >= bout.start && t < bout.end {
            let cycle = (t - bout.start) * laughRate
            let phase = cycle - Float(Int(cycle))
            guard phase < 0.55 else { return 0 }
            let s = sinf(Float.pi * phase / 0.55)
            let fade = min(1, (t - bout.start) / 0.15, (bout.end - t) / 0.15)
            return s * s * fade
        }
        return 0
    }

    /// How far the eyes are closed by a blink, 0…1 (a 160 ms triangle).
    func blinkClosure(_ t: Float) -> Float {
        for start in blinks where t >= start && t < start + Self.blinkDuration {
            let x = (t - start) / Self.blinkDuration
            return 1 - abs(2 * x - 1)
        }
        return 0
    }
}
