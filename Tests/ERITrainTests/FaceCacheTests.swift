import Foundation
import Testing
@testable import ERICore

import ERIFaces
import ERIFeatures
import ERIMedia
@testable import ERITrain
import ERIModel
import ERIPipeline
import ERITestSupport

/// The MTCNN weights `make models` builds (`make test` builds them first).
let faceWeights: String = {
    let path = Oracle.repository + "/.build/models/face-mtcnn.safetensors"
    precondition(FileManager.default.fileExists(atPath: path), "\(path) is missing: run `make models`")
    return path
}()

/// A corpus made from a real photograph (scikit-image's astronaut): clips 00000 (Train) and
/// 00001 (Val) show her head small and off-centre in a 256×160 frame, drifting right and down;
/// clip 00002 (Train) is a grey gradient without a face. Video only, 1.2 s at 25 fps.
func makeFaceCorpus(in dir: String) throws -> String {
    let astronaut = try Oracle.runPython("import os, skimage.data; print(os.path.join(os.path.dirname(skimage.data.__file__), 'astronaut.png'))")
        .trimmingCharacters(in: .whitespacesAndNewlines)
    var csv = "File_ID,Split,Adoration,Amusement,Anxiety,Disgust,Empathic-Pain,Fear,Surprise\n"
    for (i, split) in ["Train", "Val", "Train"].enumerated() {
        let folder = "\(dir)/raw/\(split.lowercased())/mp4"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let out = String(format: "%@/%05d.mp4", folder, i)
        let encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "1", out]
        if i < 2 {
            try ffmpeg(["-f", "lavfi", "-i", "color=c=0x405060:s=256x160:r=25:d=1.2", "-i", astronaut, "-filter_complex",
                        "[1]scale=\(170 - 14 * i):-1[f];[0][f]overlay=x='\(2 + 20 * i)+20*t':y='\(-6 + 4 * i)+6*t'", "-frames:v", "30"] + encode)
        } else {
            try ffmpeg(["-f", "lavfi", "-i", "gradients=s=256x160:r=25:d=1.2:speed=0.01", "-frames:v", "30"] + encode)
        }
        csv += String(format: "[%05d],%@,", i, split) + (0..<7).map { String(format: "%.2f", Double(($0 + i) % 7) / 7) }.joined(separator: ",") + "\n"
    }
    try csv.write(toFile: dir + "/data_info.csv", atomically: true, encoding: .utf8)
    return dir
}

extension Oracle {
    /// Runs `code` with the oracle's Python and returns what it printed.
    static func runPython(_ code: String) throws -> String {
        let result = try Command.run(python, ["-c", code])
        guard result.succeeded else { throw OracleError("python -c failed: \(result.standardError.suffix(2000))") }
        return result.standardOutput
    }
}

/// `eri train`'s clip cache prepares faces as a prediction does (SPEC §4.1a).
@Suite(.serialized) struct FaceCacheTests {
    static let data = try! makeFaceCorpus(in: TemporaryFolder.untilExit("eri-face-data"))

    static func config(_ face: ERIConfig.FacePreparation) -> ERIConfig {
        var c = ERIConfig.tiny.videoOnly
        c.video!.face = face
        return c
    }

    static func records() throws -> [ClipRecord] { try readDataInfo(dataDirectory: data) }

    nonisolated(unsafe) static var detections: [String: [[DetectedFace]]] = [:]

    /// A clip's 2F training frames, prepared here step by step: each decoded frame searched by the
    /// detector (once per clip for both preparations), the subject tracked over the 2F frames,
    /// each frame placed and prepared.
    func expectedTrainingFrames(_ path: String, _ v: ERIConfig.Video) throws -> (Tensor, Int) {
        let (decoded, _) = try decodeMedia(path: path, frames: 2 * v.frames, audioRate: nil)
        #expect(decoded.count == 2 * v.frames)
        func view(_ f: DecodedFrame, _ body: (ImageView) throws -> Void) throws {
            try f.pixels.withUnsafeBytes { try body(try ImageView(data: $0.baseAddress!, width: f.width, height: f.height, stride: 3 * f.width, format: .rgb24)) }
        }
        if Self.detections[path] == nil {
            let detector = try FaceDetector(weights: faceWeights)
            var found: [[DetectedFace]] = []
            for f in decoded { try view(f) { found.append(detector.detect($0)) } }
            Self.detections[path] = found
        }
        let track = trackSubject(Self.detections[path]!)
        let per = v.channels * v.imageSize * v.imageSize
        var out = Tensor(zeros: [2 * v.frames, v.channels, v.imageSize, v.imageSize])
        try out.data.withUnsafeMutableBufferPointer { buffer in
            for (j, f) in decoded.enumerated() {
                try view(f) { try $0.preprocess(FacePlacement(track.faces[j], preparation: v.face), config: v,
                                                into: UnsafeMutableBufferPointer(rebasing: buffer[(j * per)..<((j + 1) * per)])) }
            }
        }
        return (out, track.detected.filter { $0 }.count)
    }

    /// Each of a clip's cached frames as the centred square (SPEC §4.1 step 2 without a box).
    func centredSquares(_ path: String, count: Int, _ v: ERIConfig.Video) throws -> Tensor {
        let (decoded, _) = try decodeMedia(path: path, frames: count, audioRate: nil)
        let per = v.channels * v.imageSize * v.imageSize
        var out = Tensor(zeros: [count, v.channels, v.imageSize, v.imageSize])
        try out.data.withUnsafeMutableBufferPointer { buffer in
            for (j, f) in decoded.enumerated() {
                try f.pixels.withUnsafeBytes {
                    try preprocessFrame(try ImageView(data: $0.baseAddress!, width: f.width, height: f.height, stride: 3 * f.width, format: .rgb24),
                                        config: v, into: UnsafeMutableBufferPointer(rebasing: buffer[(j * per)..<((j + 1) * per)]))
                }
            }
        }
        return out
    }

    @Test(arguments: [ERIConfig.FacePreparation.box, .aligned])
    func cachedFramesAreThePipelinesFaces(_ face: ERIConfig.FacePreparation) throws {
        // The detector's numbers depend on OpenBLAS's thread count (by float rounding): one count throughout.
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        setComputeThreads(1)
        let c = Self.config(face), v = c.video!
        let cache = TemporaryFolder("eri-face-cache")
        let loader = try ClipLoader(config: c, cacheDirectory: cache.path, faces: .detect, faceModel: faceWeights)
        #expect(loader.searchesFaces && loader.noDetector == nil)
        let records = try Self.records()
        let model = try Model(file: ModelFile.randomlyInitialised(config: c, seed: 1), threads: 1, faceModel: faceWeights)

        // Aligned: the astronaut and the faceless clip (the detections are the same as for box).
        for record in records where face == .box || record.id != "00001" {
            let path = try #require(record.video)
            // Evaluation (F frames): exactly what a file prediction feeds the network.
            let eval = try loader.load(record, training: false)
            let (input, prediction, _) = try model.prepare(file: path, options: PredictOptions(faces: .detect))
            let cached = try #require(eval.frames), predicted = try #require(input.frames)
            #expect(cached.shape == [v.frames, v.channels, v.imageSize, v.imageSize])
            check("clip \(record.id) eval frames vs predict (\(face))", cached.data, predicted.data, tolerance: 1e-6)
            let report = try #require(prediction.faces)
            let faces = try #require(eval.faces)
            #expect(faces.frames == v.frames && faces.source == "detector")
            #expect(Float(faces.detected) / Float(v.frames) == report.coverage)

            // Training (2F frames, the subject tracked over all of them).
            let train = try loader.load(record, training: true)
            let (expected, detected) = try expectedTrainingFrames(path, v)
            check("clip \(record.id) training frames (\(face))", try #require(train.frames).data, expected.data, tolerance: 1e-6)
            #expect(train.faces == ClipFaces(frames: 2 * v.frames, detected: detected, source: "detector"))

            let squares = try centredSquares(path, count: 2 * v.frames, v)
            let difference = zip(expected.data, squares.data).map { abs($0 - $1) }.max() ?? 0
            if record.id == "00002" {
                // No face anywhere: the centred square, and training goes on.
                #expect(detected == 0)
                if face == .box { check("faceless clip: centred square", try #require(train.frames).data, squares.data, tolerance: 1e-6) }
            } else {
                // The astronaut is found in every frame, and the face is not the centred square.
                #expect(detected == 2 * v.frames, "clip \(record.id): detected in \(detected) of \(2 * v.frames) frames")
                #expect(difference > 0.5, "clip \(record.id): the face crop is the centred square")
            }
            // A second load comes from the cache, faces counted.
            let again = try loader.load(record, training: true)
            #expect(again.frames == train.frames && again.faces == train.faces)
        }
    }

    /// `--faces none`: the centred square of every frame, in a cache entry of its own.
    @Test func noneGivesTheCentredSquare() throws {
        let c = Self.config(.box), v = c.video!
        let cache = TemporaryFolder("eri-face-cache")
        let detect = try ClipLoader(config: c, cacheDirectory: cache.path, faces: .detect, faceModel: faceWeights)
        let none = try ClipLoader(config: c, cacheDirectory: cache.path, faces: .none, faceModel: faceWeights)
        #expect(!none.searchesFaces && none.noDetector == nil)
        let record = try Self.records()[0]
        let searched = try detect.load(record, training: true)
        let plain = try none.load(record, training: true)
        let squares = try centredSquares(record.video!, count: 2 * v.frames, v)
        check("faces none: centred square", try #require(plain.frames).data, squares.data, tolerance: 1e-6)
        #expect(plain.faces == ClipFaces(frames: 2 * v.frames, detected: 0, source: "none"))
        #expect(searched.frames != plain.frames)
        // Aligned faces need landmarks: none is refused, as for a prediction.
        #expect(throws: ERIError.self) { try ClipLoader(config: Self.config(.aligned), cacheDirectory: nil, faces: .none) }
    }

    /// `--faces detect` without weights is a clear error; `auto` without them says so and takes the centred
    /// square. (Checked where no weights can be found: a missing explicit path falls back to
    /// $ERI_FACE_MODEL and the installed ones, as for a `Model`; `make test` sets neither.)
    @Test func missingDetector() throws {
        let c = Self.config(.box)
        let missing = TemporaryFolder("eri-no-weights").file("face-mtcnn.safetensors")
        let nowhere = ProcessInfo.processInfo.environment["ERI_FACE_MODEL"] == nil
            && installedFaceModels().allSatisfy { !FileManager.default.fileExists(atPath: $0) }
        guard nowhere else {
            // Weights found elsewhere: the missing explicit path falls back to them.
            #expect(try ClipLoader(config: c, cacheDirectory: nil, faces: .detect, faceModel: missing).searchesFaces)
            return
        }
        do {
            _ = try ClipLoader(config: c, cacheDirectory: nil, faces: .detect, faceModel: missing)
            Issue.record("--faces detect without weights was accepted")
        } catch let e as ERIError {
            #expect(e.message.contains("no face detector") && e.message.contains("make models"), "\(e.message)")
        }
        let auto = try ClipLoader(config: c, cacheDirectory: nil, faces: .auto, faceModel: missing)
        #expect(!auto.searchesFaces && auto.noDetector != nil)
        let clip = try auto.load(try Self.records()[0], training: false)
        #expect(clip.faces == ClipFaces(frames: c.video!.frames, detected: 0, source: "none"))
        // An audio-only run never looks for a detector.
        let audio = try ClipLoader(config: ERIConfig.tiny.audioOnly, cacheDirectory: nil, faces: .detect, faceModel: missing)
        #expect(!audio.searchesFaces && audio.noDetector == nil)
    }

    /// A training run logs the detection rate and records it in the model's provenance and metrics.
    @Test func trainingRecordsTheDetectionRate() throws {
        ComputeThreads.take()
        defer { ComputeThreads.giveBack() }
        let folder = TemporaryFolder("eri-face-train")
        var o = TrainOptions(dataDirectory: Self.data, config: Self.config(.box), output: folder.file("m.eri"))
        o.epochs = 1
        o.batchSize = 2
        o.threads = 1
        o.cacheDirectory = folder.file("cache")
        o.faces = .detect
        o.faceModel = faceWeights
        let trainer = Trainer(options: o)
        var lines: [String] = []
        trainer.log = { lines.append($0) }
        _ = try trainer.run()
        // Train: two clips, one with the astronaut in all 16 frames, one without a face.
        #expect(trainer.faceCounts.train == { var f = FaceCounts(); f.frames = 32; f.detected = 16; f.clips = 2; f.clipsWithoutFace = 1; return f }())
        #expect(trainer.faceCounts.val.rate == 1)
        #expect(lines.contains { $0.hasPrefix("faces: detected in 50.0 % of 32 train frames (1 of 2 clips without any") }, "\(lines)")
        let model = try ModelFile.load(path: o.output)
        let faces = try #require(model.provenance.flatMap { try? JSONValue.parse($0) }?["faces"])
        #expect(faces["mode"]?.stringValue == "detector" && faces["preparation"]?.stringValue == "box")
        #expect(faces["detection_rate"]?.numberValue == 0.5 && faces["frames"]?.numberValue == 32)
        #expect(faces["clips_without_face"]?.numberValue == 1 && faces["val_detection_rate"]?.numberValue == 1)
        #expect(model.metrics.flatMap { try? JSONValue.parse($0) }?["face_detection_rate"]?.numberValue == 1)
    }
}

