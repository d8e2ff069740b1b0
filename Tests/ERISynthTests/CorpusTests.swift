import Foundation
import Testing
import ERICore
import ERIMedia
@testable import ERISynth
import ERITestSupport

/// The corpus on disk: layout, CSV, media, against ERIMedia and the ffprobe CLI.
@Suite struct CorpusTests {
    @Test func twelveClipsHaveTheHumeReactionLayout() throws {
        let folder = TemporaryFolder()
        var calls: [(Int, Int)] = []
        let summary = try synthesizeCorpus(outputDirectory: folder.path, clips: 12, seed: 7) { calls.append(($0, $1)) }
        let (header, rows) = try readCorpusCSV(folder.file("data_info.csv"))

        // CSV.
        #expect(header == "File_ID,Split,Adoration,Amusement,Anxiety,Disgust,Empathic-Pain,Fear,Surprise,Age,Country,Subject")
        #expect(rows.count == 12)
        #expect(Set(rows.map(\.fileID)).count == 12)
        let fileID = try Regex("^\\[[0-9]{5}\\]$"), fourDecimals = try Regex("^[01]\\.[0-9]{4}$")
        for row in rows {
            #expect(row.fileID.wholeMatch(of: fileID) != nil, "File_ID \(row.fileID)")
            #expect(["Train", "Val", "Test"].contains(row.split))
            for text in row.labelTexts { #expect(text.wholeMatch(of: fourDecimals) != nil, "label \(text)") }
            #expect(row.labels.allSatisfy { $0 >= 0 && $0 <= 1 }, "labels \(row.labels)")
            #expect(row.labels.max() == 1, "row \(row.fileID) is not max-normalised: \(row.labels)")
            #expect((18...80).contains(row.age))
            #expect(!row.country.isEmpty && row.subject.hasPrefix("S"))
        }

        // Splits are made of whole subjects, and all three are there.
        var splitsOfSubject: [String: Set<String>] = [:]
        for row in rows { splitsOfSubject[row.subject, default: []].insert(row.split) }
        for (subject, splits) in splitsOfSubject { #expect(splits.count == 1, "subject \(subject) is in \(splits)") }
        let clipsPerSplit = Dictionary(grouping: rows, by: \.split).mapValues(\.count)
        #expect(clipsPerSplit["Train"] == 8 && clipsPerSplit["Val"] == 2 && clipsPerSplit["Test"] == 2)

        // The summary agrees with the files.
        #expect(summary.clips.train == 8 && summary.clips.val == 2 && summary.clips.test == 2)
        #expect(summary.subjects.total == splitsOfSubject.count)
        #expect(summary.cueTable == corpusCueTable && summary.cueTable.contains("Surprise"))
        #expect(summary.files.count == 1 + 2 * 12 && summary.files.first == "data_info.csv")
        for file in summary.files { #expect(FileManager.default.fileExists(atPath: folder.file(file)), "\(file)") }
        #expect(calls.count == 12 && calls.last! == (12, 12))

        // Media: what the plan intended, as ERIMedia decodes it.
        let plan = CorpusPlan.make(clips: 12, seed: 7)
        var totalSeconds = 0.0
        for row in rows {
            let id = Int(row.fileID.dropFirst().dropLast())!
            let clip = plan.clips[id]
            let subject = plan.subjects[clip.subject]
            let video = row.mediaPath(in: folder.path, kind: "mp4"), wav = row.mediaPath(in: folder.path, kind: "wav")

            let probe = try probeMedia(path: video)
            #expect(probe.hasVideo && !probe.hasAudio)
            #expect(probe.frameRate == 25)
            #expect(probe.frameCount == clip.frames)
            let duration = try #require(probe.duration)
            #expect(abs(duration * 25 - Double(clip.frames)) <= 1, "\(video): \(duration) s for \(clip.frames) frames")
            #expect((50...150).contains(clip.frames))
            #expect(probe.width == subject.width && probe.height == subject.height)
            #expect((64...112).contains(probe.width) && (64...112).contains(probe.height))
            #expect(probe.width % 2 == 0 && probe.height % 2 == 0 && max(probe.width, probe.height) * 4 <= min(probe.width, probe.height) * 5)

            let decoded = try decodeMedia(path: video, frames: clip.frames, audioRate: nil)
            #expect(decoded.frames.count == clip.frames)
            #expect(decoded.frames.map(\.index) == Array(0..<clip.frames), "every frame decodes once")
            #expect(decoded.frames.allSatisfy { $0.width == subject.width && $0.height == subject.height })
            #expect(decoded.audio == nil)

            let sound = try probeMedia(path: wav)
            #expect(!sound.hasVideo && sound.sampleRate == 16000 && sound.channels == 1)
            let samples = try wavSamples(wav)
            #expect(samples.count == clip.frames * 640)
            let soundSeconds = Double(samples.count) / 16000
            #expect(abs(soundSeconds - Double(clip.frames) / 25) <= 1.0 / 25)
            #expect(samples.contains { $0 != 0 } && samples.allSatisfy { abs($0) < 1 })
            totalSeconds += soundSeconds
        }
        #expect(abs(summary.totalSeconds - totalSeconds) < 1e-9)

        // An independent reader: the ffprobe command line, on the first clip.
        let first = rows[0]
        let clip = plan.clips[Int(first.fileID.dropFirst().dropLast())!]
        let videoInfo = keyValues(try Command.output("/usr/bin/ffprobe", [
            "-v", "error", "-select_streams", "v:0", "-count_frames",
            "-show_entries", "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames",
            "-of", "default=nw=1", first.mediaPath(in: folder.path, kind: "mp4")]))
        #expect(videoInfo["codec_name"] == "h264")
        #expect(videoInfo["pix_fmt"] == "yuv420p")
        #expect(videoInfo["r_frame_rate"] == "25/1")
        #expect(videoInfo["nb_read_frames"] == String(clip.frames))
        #expect(videoInfo["width"] == String(plan.subjects[clip.subject].width))
        #expect(videoInfo["height"] == String(plan.subjects[clip.subject].height))
        let audioInfo = keyValues(try Command.output("/usr/bin/ffprobe", [
            "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels,duration_ts",
            "-of", "default=nw=1", first.mediaPath(in: folder.path, kind: "wav")]))
        #expect(audioInfo["codec_name"] == "pcm_s16le")
        #expect(audioInfo["sample_rate"] == "16000")
        #expect(audioInfo["channels"] == "1")
        #expect(audioInfo["duration_ts"] == String(clip.frames * 640))
    }

    /// A style changes how subjects are filmed, never who they are or what they feel: the same
    /// labels and subjects, frames `frameScale` times the size (rounded to even); out-of-range
    /// settings are refused.
    @Test func aStyleReframesTheSameSubjects() throws {
        let plain = TemporaryFolder(), styled = TemporaryFolder()
        let style = CorpusStyle(frameScale: 1.5, faceScale: 0.8, framing: 4, confounds: 2)
        let a = try synthesizeCorpus(outputDirectory: plain.path, clips: 3, seed: 7)
        let b = try synthesizeCorpus(outputDirectory: styled.path, clips: 3, seed: 7, style: style)
        #expect(a.files == b.files)
        #expect(try Data(contentsOf: URL(fileURLWithPath: plain.file("data_info.csv")))
                == Data(contentsOf: URL(fileURLWithPath: styled.file("data_info.csv"))))
        let plan = CorpusPlan.make(clips: 3, seed: 7)
        for file in a.files where file.hasSuffix(".mp4") {
            let p = try probeMedia(path: plain.file(file)), q = try probeMedia(path: styled.file(file))
            #expect(q.width == 2 * Int((Float(p.width) * 1.5 / 2).rounded()) && q.height == 2 * Int((Float(p.height) * 1.5 / 2).rounded()), "\(file)")
        }
        for subject in plan.subjects {
            let s = style.applied(subject)
            #expect(abs(s.restingSmile - 0.1 - 2 * (subject.restingSmile - 0.1)) < 1e-6)
            #expect(s.framingX == 4 * subject.framingX && abs(s.headSize - 0.8 * subject.headSize) < 1e-6)
            #expect(CorpusStyle().applied(subject).width == subject.width)
        }
        for bad in [CorpusStyle(frameScale: 0.1), CorpusStyle(framing: 7), CorpusStyle(confounds: -1), CorpusStyle(faceScale: 2)] {
            #expect(throws: ERIError.self) { try synthesizeCorpus(outputDirectory: TemporaryFolder().path, clips: 1, seed: 1, style: bad) }
        }
    }

    @Test func theSameSeedGivesTheSameCorpus() throws {
        let a = TemporaryFolder(), b = TemporaryFolder(), c = TemporaryFolder()
        let summaryA = try synthesizeCorpus(outputDirectory: a.path, clips: 4, seed: 7)
        let summaryB = try synthesizeCorpus(outputDirectory: b.path, clips: 4, seed: 7)
        _ = try synthesizeCorpus(outputDirectory: c.path, clips: 4, seed: 8)
        #expect(summaryA.files == summaryB.files)

        let csvA = try Data(contentsOf: URL(fileURLWithPath: a.file("data_info.csv")))
        let csvB = try Data(contentsOf: URL(fileURLWithPath: b.file("data_info.csv")))
        let csvC = try Data(contentsOf: URL(fileURLWithPath: c.file("data_info.csv")))
        #expect(csvA == csvB)
        #expect(csvA != csvC)

        for file in summaryA.files where file.hasSuffix(".wav") {
            #expect(try wavSamples(a.file(file)) == wavSamples(b.file(file)), "\(file)")
        }
        // With single-threaded x264 the videos repeat byte for byte too.
        for file in summaryA.files where file.hasSuffix(".mp4") {
            #expect(try Data(contentsOf: URL(fileURLWithPath: a.file(file))) == Data(contentsOf: URL(fileURLWithPath: b.file(file))), "\(file)")
        }
        let (_, rowsC) = try readCorpusCSV(c.file("data_info.csv"))
        let wavC = rowsC[0].mediaPath(in: c.path, kind: "wav")
        let (_, rowsA) = try readCorpusCSV(a.file("data_info.csv"))
        #expect(try wavSamples(rowsA[0].mediaPath(in: a.path, kind: "wav")) != wavSamples(wavC))
    }

    @Test func badArgumentsAreRefusedWithAReason() throws {
        let folder = TemporaryFolder()
        for count in [0, -3, 100_001] {
            #expect(throws: ERIError(.invalidArgument, "clips must be between 1 and 100000 (got \(count))")) {
                try synthesizeCorpus(outputDirectory: folder.path, clips: count, seed: 1)
            }
        }
        // A folder with other things in it and no data_info.csv.
        try FileManager.default.createDirectory(atPath: folder.path, withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: URL(fileURLWithPath: folder.file("notes.txt")))
        do {
            _ = try synthesizeCorpus(outputDirectory: folder.path, clips: 1, seed: 1)
            Issue.record("wrote into a foreign folder")
        } catch let error as ERIError {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("not empty") && error.message.contains("data_info.csv"), "\(error.message)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["notes.txt"])
        // A file where the folder should be, and a folder that cannot be made.
        #expect(throws: ERIError.self) { try synthesizeCorpus(outputDirectory: folder.file("notes.txt"), clips: 1, seed: 1) }
        #expect(throws: ERIError.self) { try synthesizeCorpus(outputDirectory: folder.file("notes.txt/sub"), clips: 1, seed: 1) }
        #expect(throws: ERIError.self) { try synthesizeCorpus(outputDirectory: "", clips: 1, seed: 1) }
    }

    @Test func aCorpusFolderIsReplacedWithoutStaleClips() throws {
        let folder = TemporaryFolder()
        let nested = folder.file("a/b/corpus")       // parents are created
        _ = try synthesizeCorpus(outputDirectory: nested, clips: 5, seed: 3)
        let second = try synthesizeCorpus(outputDirectory: nested, clips: 2, seed: 4)
        let media = try FileManager.default.subpathsOfDirectory(atPath: nested)
            .filter { $0.hasSuffix(".mp4") || $0.hasSuffix(".wav") }.sorted()
        #expect(media == second.files.filter { $0 != "data_info.csv" }.sorted())
        let (_, rows) = try readCorpusCSV(nested + "/data_info.csv")
        #expect(rows.count == 2 && Set(rows.map(\.split)) == ["Train", "Val"])
    }

    /// data_info.csv lists the clips only once all are rendered: a run that fails (or is
    /// killed) part way leaves the header alone, never a corpus that looks whole; the next run
    /// reuses the folder.
    @Test func aFailedRunListsNoClips() throws {
        let folder = TemporaryFolder()
        _ = try synthesizeCorpus(outputDirectory: folder.path, clips: 3, seed: 2)
        let clip = CorpusPlan.make(clips: 3, seed: 2).clips[2]
        let blocked = folder.file("raw/\(clip.split.folder)/mp4/\(clip.fileStem).mp4")
        try FileManager.default.removeItem(atPath: blocked)
        try FileManager.default.createDirectory(atPath: blocked + "/in-the-way", withIntermediateDirectories: true)
        #expect(throws: ERIError.self) { try synthesizeCorpus(outputDirectory: folder.path, clips: 3, seed: 2) }
        let (header, rows) = try readCorpusCSV(folder.file("data_info.csv"))
        #expect(header.hasPrefix("File_ID,Split,") && rows.isEmpty)
        try FileManager.default.removeItem(atPath: blocked)
        _ = try synthesizeCorpus(outputDirectory: folder.path, clips: 3, seed: 2)
        #expect(try readCorpusCSV(folder.file("data_info.csv")).1.count == 3)
    }

    @Test func splitsAreAboutSeventyFifteenFifteenBySubject() {
        let plan = CorpusPlan.make(clips: 1000, seed: 11)
        var clips = [0, 0, 0]
        for clip in plan.clips {
            clips[clip.split.rawValue] += 1
            #expect(plan.subjectSplits[clip.subject] == clip.split)
        }
        #expect(clips == [700, 150, 150])
        #expect(plan.subjects.count >= 100 && plan.subjects.count <= 140)
        // Each emotion is somebody's dominant emotion, and no label column is constant.
        for e in 0..<7 {
            #expect(plan.clips.contains { $0.labels[e] == 10000 })
            #expect(Set(plan.clips.map { $0.labels[e] }).count > 100)
        }
        #expect(CorpusPlan.make(clips: 1, seed: 1).clips.map(\.split) == [.train])
        #expect(CorpusPlan.make(clips: 3, seed: 1).clips.map(\.split).sorted { $0.rawValue < $1.rawValue } == [.train, .val, .test])
    }
}
