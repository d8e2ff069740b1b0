// ERISynth: a procedural reaction corpus in the Hume-Reaction layout, for
// tests, demos and training without the real data set (`eri synth`).
//
//     let summary = try synthesizeCorpus(outputDirectory: "corpus", clips: 300, seed: 7)
//     // corpus/data_info.csv
//     // corpus/raw/{train,val,test}/mp4/00017.mp4   H.264, 25 fps, 64–112 px, 2–6 s, no audio
//     // corpus/raw/{train,val,test}/wav/00017.wav   16 kHz mono 16-bit, same duration
//
// Each clip shows one synthetic person (a procedural face and a source-filter
// voice) reacting with the seven SPEC §1 emotions at the intensities of its
// labels. Which cue carries which emotion, in which modality:
//
// | emotion       | face (mp4)                                                  | voice (wav)                                        |
// |---------------|-------------------------------------------------------------|----------------------------------------------------|
// | Adoration     | soft closed smile (+0.5a), head tilt (0.22a rad), softer eyes | none: VIDEO ONLY                                 |
// | Amusement     | smile (+0.9a), squint; mouth opens with each laugh pulse    | laughter (label ≥ 0.25): "ha" pulses at 4.6–5.4 Hz, pitch ×1.4, "h" aspiration |
// | Anxiety       | none: AUDIO ONLY                                            | vibrato 6–9 Hz (+4.5 %·a of f0), breathiness (+0.35a), faster louder breathing, more murmurs (×(1+1.5a)), pitch +12 %·a |
// | Disgust       | one-sided upper-lip raise, brows lowered and knitted, eyes narrowed (−35 %·a), nose wrinkle | none: VIDEO ONLY |
// | Empathic-Pain | inner brows up (+0.14a), mouth corners down (−0.7a)         | falling "aww" (pitch ×1.1 → ×0.72, label ≥ 0.25), quieter (−45 %·a), pitch −8 %·a |
// | Fear          | inner brows up, brows raised, eyes wide (+50 %·a), mouth ajar, corners down a little, head retreats (−8 %·a size, moves up) | pitch +25 %·a, breathiness (+0.2a), tremor (+1.5 %·a), inhaled gasp at onset (label ≥ 0.35) |
// | Surprise      | brows raised (+0.2a), eyes wide (+75 %·a), round open mouth | "oh!" at onset (label ≥ 0.25): pitch glide ×1 → ×1.45–1.7, loudness jump |
//
// a = label × clip gain (0.65–1) × subject expressiveness (0.6–1.3), so equal
// labels can look strong or mild (labels are max-normalised per clip). In
// time, each emotion with a label > 0.02 is a tonic level 0.35a plus 1–2
// episodes (rise 0.25–0.6 s, hold 0.5–1.6 s, fall 0.5–1.2 s) peaking at a.
// Subject-level confounds, independent of the labels: resting mouth curve
// (−0.25…+0.45: looks amused or pained), brow height (0…0.08: looks
// surprised), eye openness (0.38…0.62: looks surprised or afraid), base pitch
// 90–250 Hz (a high voice sounds afraid), natural vibrato in 30 % of subjects
// (sounds anxious), breathiness, talkativeness, expressiveness. Nuisance: frame
// size, framing, skin, hair, background, lighting, head sway/nod/roll, blinks,
// gaze, sensor noise, background pink noise at 8–30 dB SNR.
// Labels: a dominant emotion per clip (odds biased per subject), emotions
// coupled to it pulled up (fear ↔ anxiety ↔ pain, amusement ↔ adoration,
// surprise ↔ fear/amusement), sometimes an unrelated second one, small values
// for the rest; max-normalised so the largest is 1, then 4 decimals.
// Splits: about 70/15/15 % of the clips, by subject (no one is in two splits).

import ERICore
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The cue table of this file's header, as returned in `CorpusSummary.cueTable`.
public let corpusCueTable = """
    ERISynth cues (a = label x clip gain 0.65-1 x subject expressiveness 0.6-1.3)
    emotion        face (mp4)                                                   voice (wav)
    Adoration      soft closed smile +0.5a, head tilt 0.22a rad, softer eyes    none (video only)
    Amusement      smile +0.9a, squint, mouth opens with each laugh pulse       laughter if label >= 0.25: "ha" pulses at 4.6-5.4 Hz, pitch x1.4, "h" aspiration
    Anxiety        none (audio only)                                            vibrato 6-9 Hz +4.5%a, breathiness +0.35a, faster louder breathing, murmurs x(1+1.5a), pitch +12%a
    Disgust        one-sided upper-lip raise, brows lowered and knitted,        none (video only)
                   eyes narrowed -35%a, nose wrinkle
    Empathic-Pain  inner brows up +0.14a, mouth corners down -0.7a              falling "aww" (pitch x1.1 -> x0.72) if label >= 0.25, quieter -45%a, pitch -8%a
    Fear           inner brows up, brows raised, eyes wide +50%a, mouth ajar,   pitch +25%a, breathiness +0.2a, tremor +1.5%a, inhaled gasp at onset if label >= 0.35
                   corners down a little, head retreats (-8%a size, moves up)
    Surprise       brows raised +0.2a, eyes wide +75%a, round open mouth        "oh!" at onset if label >= 0.25: rising glide x1 -> x1.45-1.7, loudness jump
    time course    tonic 0.35a all clip long + 1-2 episodes (rise 0.25-0.6 s, hold 0.5-1.6 s, fall 0.5-1.2 s) peaking at a
    confounds      per subject, independent of labels: resting mouth curve -0.25..+0.45, brow height 0..0.08, eye openness 0.38..0.62,
                   base pitch 90-250 Hz, natural vibrato (30% of subjects), breathiness, talkativeness, expressiveness
    nuisance       frame size 64-112 px, framing, skin, hair, background, lighting, head sway/nod/roll, blinks, gaze,
                   sensor noise, pink background noise at 8-30 dB SNR
    labels         dominant emotion (subject-biased odds) + coupled ones (fear/anxiety/pain, amusement/adoration,
                   surprise/fear/amusement) + sometimes a second one + small rest; max-normalised to 1, 4 decimals
    splits         ~70/15/15 % of clips, by subject
    """

/// What `synthesizeCorpus` wrote.
public struct CorpusSummary: Sendable, Equatable {
    /// A count per Hume-Reaction split.
    public struct SplitCounts: Sendable, Equatable {
        public var train: Int
        public var val: Int
        public var test: Int
        public var total: Int { train + val + test }
    }

    public var outputDirectory: String
    /// Clips in each split.
    public var clips: SplitCounts
    /// Distinct subjects in each split (no subject is in two).
    public var subjects: SplitCounts
    /// Seconds of media over all clips.
    public var totalSeconds: Double
    /// Which cue carries which emotion, in which modality (`corpusCueTable`).
    public var cueTable: String
    /// Every file written, relative to `outputDirectory`: data_info.csv, then
    /// each clip's mp4 and wav in File_ID order.
    public var files: [String]
}

/// The header of data_info.csv: Hume-Reaction's columns, then Age, Country, Subject.
public let corpusCSVHeader = "File_ID,Split,Adoration,Amusement,Anxiety,Disgust,Empathic-Pain,Fear,Surprise,Age,Country,Subject"

/// Writes a synthetic corpus of `clips` clips (1…100000) to `outputDirectory`
/// in the Hume-Reaction layout (see the top of this file) and returns what it
/// wrote. The same seed gives the same labels and the same media, byte for
/// byte, on any number of cores.
///
/// The folder is created if needed. An existing folder must be empty or hold a
/// data_info.csv (a corpus written before, which is then replaced: its clips
/// that the new corpus does not have are removed). data_info.csv is written
/// first with its header alone, so an interrupted run leaves a folder that the
/// next run may reuse, and its rows last (atomically), once every clip is
/// rendered: an interrupted or failed corpus lists no clips rather than
/// passing for a whole one.
/// Clips render in parallel, one per core; `progress(done, total)` is called
/// after each clip, from the worker threads, one call at a time.
/// Throws .invalidArgument for a bad count or a folder it must not touch,
/// .io when a file cannot be written, .internal when FFmpeg lacks libx264.
public func synthesizeCorpus(outputDirectory: String, clips: Int, seed: UInt64, style: CorpusStyle = CorpusStyle(),
                             progress: ((Int, Int) -> Void)? = nil) throws -> CorpusSummary {
    guard style.isValid else {
        throw ERIError(.invalidArgument, "style: frame scale 0.5–3, face scale 0.5–1.5, framing 0–6, confounds 0–2.5")
    }
    guard (1...100_000).contains(clips) else {
        throw ERIError(.invalidArgument, "clips must be between 1 and 100000 (got \(clips))")
    }
    guard !outputDirectory.isEmpty else { throw ERIError(.invalidArgument, "the output folder is an empty path") }
    let csvPath = Files.join(outputDirectory, "data_info.csv")
    var replacing = false
    switch Files.kind(outputDirectory) {
    case .other:
        throw ERIError(.io, "\(outputDirectory): exists and is not a folder")
    case .directory:
        let names = try Files.entries(outputDirectory)
        replacing = names.contains("data_info.csv")
        if !names.isEmpty && !replacing {
            throw ERIError(.invalidArgument, "\(outputDirectory): the folder is not empty and has no data_info.csv, "
                + "so it is not a corpus written before; refusing to write into it (choose an empty or new folder)")
        }
    case .missing:
        try Files.createDirectory(outputDirectory)
    }

    var plan = CorpusPlan.make(clips: clips, seed: seed)
    plan.subjects = plan.subjects.map(style.applied)
    for split in Split.allCases {
        for kind in ["mp4", "wav"] {
            try Files.createDirectory(Files.join(outputDirectory, "raw", split.folder, kind))
        }
    }
    if replacing { try removeStaleClips(outputDirectory, plan: plan) }

    var files = ["data_info.csv"]
    files.reserveCapacity(1 + 2 * clips)
    for clip in plan.clips {
        files.append(relativePath(clip, kind: "mp4"))
        files.append(relativePath(clip, kind: "wav"))
    }
    try Files.writeText(corpusCSVHeader + "\n", to: csvPath)
    try renderAll(plan, outputDirectory: outputDirectory, progress: progress)
    try Files.writeText(csv(plan), to: csvPath)

    var clipCounts = CorpusSummary.SplitCounts(train: 0, val: 0, test: 0)
    var subjectCounts = clipCounts
    var frames = 0
    for clip in plan.clips {
        frames += clip.frames
        switch clip.split {
        case .train: clipCounts.train += 1
        case .val: clipCounts.val += 1
        case .test: clipCounts.test += 1
        }
    }
    for split in plan.subjectSplits {
        switch split {
        case .train: subjectCounts.train += 1
        case .val: subjectCounts.val += 1
        case .test: subjectCounts.test += 1
        }
    }
    return CorpusSummary(outputDirectory: outputDirectory, clips: clipCounts, subjects: subjectCounts,
                         totalSeconds: Double(frames) / Double(FaceRenderer.framesPerSecond),
                         cueTable: corpusCueTable, files: files)
}

/// Renders one clip: its WAV, then its MP4, frame by frame. A failure
/// removes both files.
func renderClip(_ clip: ClipSpec, subject: SubjectProfile, videoPath: String, wavPath: String) throws {
    do {
        var generator = SeededGenerator(seed: clip.seed)
        let duration = Float(clip.frames) / Float(FaceRenderer.framesPerSecond)
        let track = ExpressionTrack(labels: clip.labelValues, gain: clip.gain * subject.expressiveness,
                                    duration: duration, blinkRate: subject.blinkRate, generator: &generator)
        let face = FaceRenderer(subject: subject, track: track, generator: &generator)
        // The voice has a stream of its own: face changes never shift it.
        var voiceGenerator = SeededGenerator(seed: derivedSeed(clip.seed, .voice, 0))
        let samples = Voice.render(frames: clip.frames, track: track, subject: subject, snr: clip.snr,
                                   generator: &voiceGenerator)
        try AudioWriter.writeWAV(path: wavPath, samples: samples, sampleRate: Voice.sampleRate)

        let writer = try H264Writer(path: videoPath, width: subject.width, height: subject.height,
                                    framesPerSecond: Int32(FaceRenderer.framesPerSecond))
        let pixels = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: subject.width * subject.height * 3)
        defer { pixels.deallocate() }
        for index in 0..<clip.frames {
            face.render(frame: index, into: pixels)
            try writer.append(rgb: UnsafeBufferPointer(pixels))
        }
        try writer.finish()
    } catch {
        Files.remove(videoPath)
        Files.remove(wavPath)
        throw error
    }
}

private func relativePath(_ clip: ClipSpec, kind: String) -> String {
    "raw/\(clip.split.folder)/\(kind)/\(clip.fileStem).\(kind)"
}

/// data_info.csv: one row per clip, labels with 4 decimals.
private func csv(_ plan: CorpusPlan) -> String {
    var text = corpusCSVHeader + "\n"
    text.reserveCapacity(plan.clips.count * 96)
    for clip in plan.clips {
        let subject = plan.subjects[clip.subject]
        var row = "[\(clip.fileStem)],\(clip.split.label)"
        for label in clip.labels { row += "," + fourDecimals(label) }
        let number = String(subject.number)
        row += ",\(subject.age),\(subject.country),S\(String(repeating: "0", count: max(0, 5 - number.count)))\(number)\n"
        text += row
    }
    return text
}

/// 12345 (units of 1/10000) → "1.2345".
private func fourDecimals(_ value: Int) -> String {
    let fraction = String(value % 10000)
    return "\(value / 10000)." + String(repeating: "0", count: 4 - fraction.count) + fraction
}

/// When a corpus is replaced, removes its clip files (five digits + .mp4/.wav)
/// that the new plan does not write; other files are left alone.
private func removeStaleClips(_ directory: String, plan: CorpusPlan) throws {
    var keep = Set<String>()
    for clip in plan.clips {
        keep.insert(relativePath(clip, kind: "mp4"))
        keep.insert(relativePath(clip, kind: "wav"))
    }
    for split in Split.allCases {
        for kind in ["mp4", "wav"] {
            let folder = "raw/\(split.folder)/\(kind)"
            for name in try Files.entries(Files.join(directory, folder)) {
                let stem = name.dropLast(kind.count + 1)
                guard name.hasSuffix("." + kind), stem.count == 5, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { continue }
                if !keep.contains(folder + "/" + name) { Files.remove(Files.join(directory, folder, name)) }
            }
        }
    }
}

/// The clips, one per worker thread; the first failure stops the others and is rethrown.
private func renderAll(_ plan: CorpusPlan, outputDirectory: String, progress: ((Int, Int) -> Void)?) throws {
    final class Queue: @unchecked Sendable {
        let lock = Lock()
        var next = 0
        var done = 0
        var failure: Error? = nil
    }
    let queue = Queue()
    let total = plan.clips.count
    let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    let workers = min(total, cores)
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while true {
            let index: Int? = queue.lock.withLock {
                guard queue.failure == nil, queue.next < total else { return nil }
                queue.next += 1
                return queue.next - 1
            }
            guard let index else { return }
            let clip = plan.clips[index]
            do {
                try renderClip(clip, subject: plan.subjects[clip.subject],
                               videoPath: Files.join(outputDirectory, relativePath(clip, kind: "mp4")),
                               wavPath: Files.join(outputDirectory, relativePath(clip, kind: "wav")))
                queue.lock.withLock {
                    queue.done += 1
                    progress?(queue.done, total)
                }
            } catch {
                queue.lock.withLock { if queue.failure == nil { queue.failure = error } }
            }
        }
    }
    if let failure = queue.failure { throw failure }
}

/// Render settings a corpus can vary beyond its seed, for held-out studies (a learner tuned
/// on the default corpora meets faces it never saw). Each is applied to a subject after it is
/// drawn, so the same seed draws the same people and labels; the defaults change nothing.
/// The cues (what each emotion does to the face and the voice) and the noise are not settings.
public struct CorpusStyle: Equatable, Sendable {
    /// Frame sides × this (rounded to even; default sizes 64–112 px).
    public var frameScale: Float = 1
    /// The head's size in the frame × this.
    public var faceScale: Float = 1
    /// The head's offset from the frame centre × this (default within ±4 % of the shorter side).
    public var framing: Float = 1
    /// The per-subject confounds (resting mouth curve, brow height, eye openness) spread × this
    /// about their middle: more look like an emotion they do not have.
    public var confounds: Float = 1
    public init(frameScale: Float = 1, faceScale: Float = 1, framing: Float = 1, confounds: Float = 1) {
        self.frameScale = frameScale; self.faceScale = faceScale; self.framing = framing; self.confounds = confounds
    }

    var isValid: Bool {
        (0.5...3).contains(frameScale) && (0.5...1.5).contains(faceScale) && (0...6).contains(framing) && (0...2.5).contains(confounds)
    }

    func applied(_ subject: SubjectProfile) -> SubjectProfile {
        guard self != CorpusStyle() else { return subject }
        var s = subject
        func even(_ x: Int) -> Int { max(16, 2 * Int((Float(x) * frameScale / 2).rounded())) }
        s.width = even(s.width); s.height = even(s.height)
        s.headSize *= faceScale
        s.framingX *= framing; s.framingY *= framing
        s.restingSmile = 0.1 + (s.restingSmile - 0.1) * confounds
        s.browHeight = max(0, 0.04 + (s.browHeight - 0.04) * confounds)
        s.eyeOpenness = 0.5 + (s.eyeOpenness - 0.5) * confounds
        return s
    }
}
