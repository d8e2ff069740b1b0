import ArgumentParser
import ERICore
import ERISynth
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `eri synth`: a procedural reaction corpus in the Hume-Reaction layout.
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a synthetic reaction corpus (H.264 face videos + 16 kHz voices + data_info.csv).",
        discussion: """
        A test bed for the whole pipeline (decode, features, training, evaluation), NOT a claim about real \
        emotions: a drawn face and a synthetic voice express the 7 labels through documented cues, some only \
        visible, some only audible, some both, with subject-level confounds:

        \(corpusCueTable)
        """)

    @Option(name: .shortAndLong, help: "The output folder (new, or an earlier corpus).") var out: String
    @Option(help: "Number of clips.") var clips: Int = 320
    @Option(help: "Random seed: the same seed gives the same corpus.") var seed: UInt64 = 0
    @Option(help: "Frame sides × this (0.5–3; the default sizes are 64–112 px).") var frameScale: Float = 1
    @Option(help: "The face's size in the frame × this (0.5–1.5).") var faceScale: Float = 1
    @Option(help: "The face's offset from the frame centre × this (0–6; default within ±4 % of the shorter side).") var framing: Float = 1
    @Option(help: "The per-subject confounds' spread × this (0–2.5): resting mouth, brow height, eye openness.") var confounds: Float = 1

    func run() throws {
        try reportingErrors {
            let terminal = isatty(2) != 0
            let started = Date()
            let summary = try synthesizeCorpus(outputDirectory: out, clips: clips, seed: seed,
                                                 style: CorpusStyle(frameScale: frameScale, faceScale: faceScale, framing: framing, confounds: confounds)) { done, total in
                guard terminal else { return }
                fputs("\r\u{1B}[Ksynthesising \(done)/\(total)", stderr)
            }
            if terminal { fputs("\r\u{1B}[K", stderr) }
            let c = summary.clips, s = summary.subjects
            print("wrote \(c.total) clips (\(c.train) train, \(c.val) val, \(c.test) test; \(s.total) subjects) to \(out) "
                  + "in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        }
    }
}
