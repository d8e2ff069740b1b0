// Who is in the corpus and what each clip shows: subjects with their looks,
// voice and confounds, the subject-disjoint Train/Val/Test split, and the
// seven labels of every clip. Everything here is drawn before any pixel or
// sample is rendered, from the corpus seed alone.

import ERICore

/// SPEC §1: the seven emotions, in this order.
enum Emotion: Int, CaseIterable {
    case adoration, amusement, anxiety, disgust, empathicPain, fear, surprise
}

/// The three Hume-Reaction splits.
enum Split: Int, CaseIterable, Sendable {
    case train, val, test

    /// The `Split` column of data_info.csv.
    var label: String {
        switch self {
        case .train: return "Train"
        case .val: return "Val"
        case .test: return "Test"
        }
    }

    /// The folder under `raw/`.
    var folder: String {
        switch self {
        case .train: return "train"
        case .val: return "val"
        case .test: return "test"
        }
    }
}

/// A colour with channels in [0, 1].
struct RGB: Sendable, Equatable {
    var r: Float, g: Float, b: Float
    init(_ r: Float, _ g: Float, _ b: Float) { self.r = r; self.g = g; self.b = b }
    static func * (c: RGB, k: Float) -> RGB { RGB(c.r * k, c.g * k, c.b * k) }
    static func mix(_ a: RGB, _ b: RGB, _ t: Float) -> RGB {
        RGB(a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t)
    }
}

/// The independent random streams of a corpus. Each subject and each clip
/// has a generator of its own, so clips render in any order on any number
/// of threads and still come out the same.
enum RandomStream: UInt64 {
    case plan = 1, subject = 2, clip = 3, voice = 4
}

func derivedSeed(_ seed: UInt64, _ stream: RandomStream, _ index: Int) -> UInt64 {
    func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    return mix(mix(seed ^ (stream.rawValue &* 0xD1B5_4A32_D192_ED03)) &+ UInt64(index))
}

extension SeededGenerator {
    /// A uniform integer in 0..<count (the modulo bias of a 53-bit draw is negligible;
    /// the point is an algorithm that never changes with the standard library).
    mutating func index(_ count: Int) -> Int {
        Int((next() >> 11) % UInt64(count))
    }

    /// A uniform float in [0, 1).
    mutating func unit() -> Float { uniform(0, 1) }

    /// An index drawn with probability proportional to `weights`.
    mutating func categorical(_ weights: [Float]) -> Int {
        var total: Float = 0
        for w in weights { total += w }
        var target = unit() * total
        for (i, w) in weights.enumerated() {
            target -= w
            if target < 0 { return i }
        }
        return weights.count - 1
    }
}

/// One person of the corpus: appearance, camera, voice, habits. The fields
/// marked "confound" mimic an emotion cue at rest (a naturally upturned mouth
/// looks like a smile, a high voice like fear), independently of the labels.
struct SubjectProfile: Sendable {
    /// 1-based; the `Subject` column is `S` and five digits.
    var number: Int, age: Int, country: String

    // Camera.
    var width: Int, height: Int
    var background: RGB, shirt: RGB
    /// Where the key light comes from, −1 (viewer's left) … 1 (right).
    var lightSide: Float
    /// Strength of the frame-wide lighting gradient.
    var lightStrength: Float
    /// Standard deviation of the sensor noise, in 8-bit levels.
    var sensorNoise: Float

    // Face, in head units: the head's half-width is 1, v grows downwards.
    var skin: RGB, hair: RGB, lips: RGB, iris: RGB
    /// Head half-width as a fraction of the frame's shorter side.
    var headSize: Float
    /// Head half-height over half-width.
    var faceAspect: Float
    /// Head centre offset from the frame centre, as a fraction of the shorter side.
    var framingX: Float, framingY: Float
    var eyeSpacing: Float, eyeSize: Float
    /// Eye height over width at rest. Confound: wide eyes look surprised or afraid.
    var eyeOpenness: Float
    /// Brow height above the usual at rest. Confound: raised brows look surprised.
    var browHeight: Float
    var browThickness: Float, browArch: Float
    /// Mouth-corner lift at rest. Confound: > 0 looks amused, < 0 looks pained.
    var restingSmile: Float
    var mouthWidth: Float
    /// Blinks per second.
    var blinkRate: Float
    /// Head motion: sway (x) and nod (y) amplitudes as fractions of the frame, rates in Hz, roll in radians.
    var sway: Float, swayRate: Float, nod: Float, nodRate: Float, roll: Float
    /// How strongly this person shows what they feel (multiplies every cue).
    var expressiveness: Float
    /// Which side the disgust lip raise and the adoration tilt go to (±1).
    var lipRaiseSide: Float, tiltSide: Float

    // Voice.
    /// Fundamental frequency at rest, 90–250 Hz. Confound: a high voice sounds afraid or anxious.
    var basePitch: Float
    /// Formant frequencies relative to an adult male's (vocal-tract length).
    var formantScale: Float
    /// Pitch vibrato at rest, as a fraction of f0. Confound: sounds anxious.
    var naturalTremor: Float
    /// Aspiration noise mixed into voicing at rest. Confound: sounds afraid or anxious.
    var breathiness: Float
    /// Murmured utterances per second at rest.
    var talkativeness: Float
    /// Syllables per second.
    var speechRate: Float
    var loudness: Float

    /// Relative odds of each emotion being a clip's dominant one.
    var emotionBias: [Float]

    static let countries = ["United States", "South Africa", "Venezuela", "United Kingdom", "India", "Brazil"]
    /// Camera sizes: square or near-square, even sides, 64–112 px.
    static let frameSizes = [(96, 96), (96, 96), (80, 80), (80, 80), (64, 64), (112, 112), (96, 80), (80, 64), (112, 96)]

    /// The subject `number` of the corpus seeded by `seed`.
    static func random(seed: UInt64, index: Int, number: Int) -> SubjectProfile {
        var g = SeededGenerator(seed: derivedSeed(seed, .subject, index))
        let age = 18 + g.index(52)
        let country = countries[g.categorical([4, 3, 1, 1, 1, 1])]
        let size = frameSizes[g.index(frameSizes.count)]

        // Skin: light → medium → dark, with a little warmth jitter.
        let tone = g.unit()
        let light = RGB(0.96, 0.80, 0.68), medium = RGB(0.80, 0.58, 0.42), dark = RGB(0.42, 0.28, 0.19)
        var skin = tone < 0.5 ? RGB.mix(light, medium, tone * 2) : RGB.mix(medium, dark, tone * 2 - 1)
        skin.r *= g.uniform(0.97, 1.03)
        skin.b *= g.uniform(0.94, 1.04)
        let hairPalette = [RGB(0.08, 0.06, 0.05), RGB(0.24, 0.15, 0.09), RGB(0.42, 0.27, 0.15),
                           RGB(0.74, 0.60, 0.36), RGB(0.52, 0.21, 0.10), RGB(0.50, 0.50, 0.50)]
        let hairChoice = g.categorical([3, 3, 2, 1, 0.6, age > 50 ? 2 : 0.2])
        let irisPalette = [RGB(0.30, 0.18, 0.08), RGB(0.18, 0.32, 0.52), RGB(0.28, 0.40, 0.22), RGB(0.12, 0.08, 0.05)]

        // Backgrounds are saturated or dim, never a bright neutral (which
        // would read as the whites of the eyes).
        let background = hsv(g.unit(), g.uniform(0.25, 0.65), g.uniform(0.30, 0.70))
        let shirt = hsv(g.unit(), g.uniform(0.2, 0.8), g.uniform(0.2, 0.6))

        let basePitch = g.uniform(90, 250)
        let pitchPosition = (basePitch - 90) / 160
        return SubjectProfile(
            number: number, age: age, country: country,
            width: size.0, height: size.1,
            background: background, shirt: shirt,
            lightSide: g.uniform(-1, 1), lightStrength: g.uniform(0.1, 0.35), sensorNoise: g.uniform(1.5, 5),
            skin: skin, hair: hairPalette[hairChoice],
            lips: RGB.mix(skin, RGB(0.62, 0.22, 0.24), g.uniform(0.35, 0.6)),
            iris: irisPalette[g.index(irisPalette.count)],
            headSize: g.uniform(0.26, 0.31), faceAspect: g.uniform(1.18, 1.36),
            framingX: g.uniform(-0.04, 0.04), framingY: g.uniform(-0.03, 0.04),
            eyeSpacing: g.uniform(0.36, 0.45), eyeSize: g.uniform(0.17, 0.21),
            eyeOpenness: g.uniform(0.38, 0.62), browHeight: g.uniform(0, 0.08),
            browThickness: g.uniform(0.045, 0.075), browArch: g.uniform(0.02, 0.06),
            restingSmile: g.uniform(-0.25, 0.45), mouthWidth: g.uniform(0.34, 0.44),
            blinkRate: g.uniform(0.15, 0.5),
            sway: g.uniform(0.005, 0.025), swayRate: g.uniform(0.15, 0.45),
            nod: g.uniform(0.003, 0.015), nodRate: g.uniform(0.2, 0.5), roll: g.uniform(0.01, 0.06),
            expressiveness: g.uniform(0.6, 1.3),
            lipRaiseSide: g.unit() < 0.5 ? -1 : 1, tiltSide: g.unit() < 0.5 ? -1 : 1,
            basePitch: basePitch,
            formantScale: 0.9 + 0.22 * pitchPosition + g.uniform(-0.04, 0.04),
            naturalTremor: g.unit() < 0.3 ? g.uniform(0.005, 0.025) : 0,
            breathiness: g.uniform(0.03, 0.2),
            talkativeness: g.uniform(0.15, 0.5), speechRate: g.uniform(3, 5.5), loudness: g.uniform(0.6, 1),
            emotionBias: (0..<7).map { _ in g.uniform(0.5, 2) })
    }

    private static func hsv(_ h: Float, _ s: Float, _ v: Float) -> RGB {
        let sector = h * 6
        let i = Int(sector) % 6
        let f = sector - Float(Int(sector))
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        switch i {
        case 0: return RGB(v, t, p)
        case 1: return RGB(q, v, p)
        case 2: return RGB(p, v, t)
        case 3: return RGB(p, q, v)
        case 4: return RGB(t, p, v)
        default: return RGB(v, p, q)
        }
    }
}

/// One clip to render: its row of data_info.csv plus what rendering needs.
struct ClipSpec: Sendable {
    var id: Int
    var split: Split
    /// Index into `CorpusPlan.subjects`.
    var subject: Int
    /// The seven labels in units of 1/10000: exactly the 4-decimal values of
    /// the CSV, which are also the values the clip is rendered from.
    var labels: [Int]
    /// Video frames at 25 fps; the WAV holds frames × 640 samples.
    var frames: Int
    /// This clip's expression strength (× the subject's expressiveness):
    /// labels are max-normalised, so the same labels can come out strong or mild.
    var gain: Float
    /// Voice-to-background-noise ratio in dB.
    var snr: Float
    /// Seed of the clip's nuisance (timing, motion, blinks, noise).
    var seed: UInt64

    var labelValues: [Float] { labels.map { Float($0) / 10000 } }

    /// `File_ID` without brackets: five digits.
    var fileStem: String {
        let digits = String(id)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    /// A clip with chosen labels (values in [0, 1]), for rendering on its own.
    init(labels: [Float], frames: Int, seed: UInt64, gain: Float = 1, snr: Float = 30,
         id: Int = 0, split: Split = .train, subject: Int = 0) {
        self.init(id: id, split: split, subject: subject,
                  labels: labels.map { Int(($0 * 10000).rounded()) }, frames: frames, gain: gain, snr: snr, seed: seed)
    }

    init(id: Int, split: Split, subject: Int, labels: [Int], frames: Int, gain: Float, snr: Float, seed: UInt64) {
        self.id = id
        self.split = split
        self.subject = subject
        self.labels = labels
        self.frames = frames
        self.gain = gain
        self.snr = snr
        self.seed = seed
    }
}

/// The whole corpus before rendering.
struct CorpusPlan: Sendable {
    var subjects: [SubjectProfile]
    var subjectSplits: [Split]
    var clips: [ClipSpec]

    /// Clips per subject on average (Hume-Reaction has about 11).
    static let clipsPerSubject = 8

    /// How a dominant emotion pulls the others up (row: dominant, column:
    /// co-activated), after the correlations one sees in reaction data:
    /// fear with anxiety and surprise, amusement with adoration, pain with
    /// anxiety and disgust.
    static let coupling: [[Float]] = [
        //  Ado   Amu   Anx   Dis   Pain  Fear  Sur
        [0.00, 0.50, 0.00, 0.00, 0.15, 0.00, 0.10],   // Adoration
        [0.40, 0.00, 0.00, 0.00, 0.00, 0.00, 0.25],   // Amusement
        [0.00, 0.00, 0.00, 0.10, 0.30, 0.60, 0.15],   // Anxiety
        [0.00, 0.00, 0.20, 0.00, 0.30, 0.15, 0.20],   // Disgust
        [0.10, 0.00, 0.40, 0.25, 0.00, 0.30, 0.00],   // Empathic-Pain
        [0.00, 0.00, 0.60, 0.10, 0.25, 0.00, 0.40],   // Fear
        [0.10, 0.30, 0.15, 0.00, 0.00, 0.30, 0.00],   // Surprise
    ]

    static func make(clips count: Int, seed: UInt64) -> CorpusPlan {
        var g = SeededGenerator(seed: derivedSeed(seed, .plan, 0))

        // About 70/15/15 % of the clips; the splits are made of whole subjects.
        let testCount = count >= 3 ? max(1, (count * 15 + 50) / 100) : 0
        let valCount = count >= 2 ? max(1, (count * 15 + 50) / 100) : 0
        let splitCounts = [count - valCount - testCount, valCount, testCount]

        var subjectSplits: [Split] = []
        var slots: [Int] = []        // one subject index per clip, before shuffling
        for split in Split.allCases {
            let clipsInSplit = splitCounts[split.rawValue]
            guard clipsInSplit > 0 else { continue }
            let subjectsInSplit = min(clipsInSplit, max(1, (clipsInSplit + clipsPerSubject / 2) / clipsPerSubject))
            var perSubject = [Int](repeating: 1, count: subjectsInSplit)
            for _ in subjectsInSplit..<clipsInSplit { perSubject[g.index(subjectsInSplit)] += 1 }
            for n in perSubject {
                slots += [Int](repeating: subjectSplits.count, count: n)
                subjectSplits.append(split)
            }
        }
        // Subject numbers and file IDs in random order, so neither reveals the split.
        var numbers = Array(1...subjectSplits.count)
        shuffle(&numbers, &g)
        shuffle(&slots, &g)
        let subjects = subjectSplits.indices.map { SubjectProfile.random(seed: seed, index: $0, number: numbers[$0]) }

        var clips: [ClipSpec] = []
        clips.reserveCapacity(count)
        for id in 0..<count {
            let subject = slots[id]
            let labels = drawLabels(bias: subjects[subject].emotionBias, &g)
            let u = g.unit()
            let frames = 50 + Int(100 * u * u)          // 2–6 s, 3.3 s on average
            clips.append(ClipSpec(id: id, split: subjectSplits[subject], subject: subject, labels: labels,
                                  frames: frames, gain: g.uniform(0.65, 1), snr: g.uniform(8, 30),
                                  seed: derivedSeed(seed, .clip, id)))
        }
        return CorpusPlan(subjects: subjects, subjectSplits: subjectSplits, clips: clips)
    }

    /// A dominant emotion (subject-biased) near the top, its coupled emotions
    /// partway up, sometimes an unrelated second emotion, small values for the
    /// rest; then max-normalised so that the largest is 1, as in
    /// Hume-Reaction, and rounded to 4 decimals (units of 1/10000).
    /// Only uniform draws and arithmetic: the same on every machine.
    static func drawLabels(bias: [Float], _ g: inout SeededGenerator) -> [Int] {
        var raw = [Float](repeating: 0, count: ERIConfig.emotionCount)
        for e in 0..<7 {
            let u = g.unit()
            raw[e] = 0.2 * u * u
        }
        let dominant = g.categorical(bias)
        raw[dominant] = 0.7 + 0.3 * g.unit()
        for e in 0..<7 where e != dominant {
            raw[e] += coupling[dominant][e] * (0.4 + 0.6 * g.unit()) * raw[dominant]
        }
        let secondChance = g.unit(), second = g.index(7), secondLevel = 0.3 + 0.5 * g.unit()
        if secondChance < 0.3 && second != dominant { raw[second] = max(raw[second], secondLevel) }
        var peak: Float = 0
        for value in raw { peak = max(peak, value) }
        return raw.map { Int(($0 / peak * 10000).rounded()) }
    }

    private static func shuffle(_ values: inout [Int], _ g: inout SeededGenerator) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            values.swapAt(i, g.index(i + 1))
        }
    }
}
