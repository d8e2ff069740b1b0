import Foundation
import Testing
import ERICore
import ERIPipeline
@testable import ERIModel
import ERITestSupport

/// The network against the PyTorch reference on the reference's own
/// preprocessed inputs: outputs to 1e-4 absolute, intermediates to 1e-3
/// relative (SPEC §0 and the network issue's tolerances).
@Suite(.serialized) struct NetworkParityTests {
    static let cases: [(preset: String, mode: String, seed: Int)] = [
        ("dbn-tiny", "both", 1), ("dbn-tiny", "video", 2), ("dbn-tiny", "audio", 3),
        ("dbn-small", "both", 4), ("dbn-small", "video", 5), ("dbn-small", "audio", 6),
    ]

    @Test(arguments: 0..<cases.count)
    func matchesReference(_ index: Int) throws {
        let c = Self.cases[index]
        var args = ["--preset", c.preset, "--seed", String(c.seed), "--no-grads"]
        if c.mode == "video" { args.append("--video-only") }
        if c.mode == "audio" { args.append("--audio-only") }
        let dir = try Oracle.cachedCase("make_case.py", args)
        try compare(dir: dir, label: "\(c.preset) \(c.mode)")
    }

    @Test func baseMatchesReferenceOnce() throws {
        let dir = try Oracle.cachedCase("make_case.py", ["--preset", "dbn-base", "--seed", "9", "--no-grads"])
        try compare(dir: dir, label: "dbn-base both")
    }

    func compare(dir: String, label: String) throws {
        print("\(label):")
        let model = try Model(path: dir + "/model.eri")
        let ref = try SafetensorsFile(path: dir + "/case.safetensors")
        let hasVideo = model.config.video != nil, hasAudio = model.config.audio != nil
        var frames: Tensor? = nil, mfcc: Tensor? = nil
        if hasVideo {
            var f = try caseTensor(ref, "pre.frames")
            f.shape.insert(1, at: 0)
            frames = f
        }
        if hasAudio {
            var m = try caseTensor(ref, "pre.mfcc")
            m.shape.insert(1, at: 0)
            mfcc = m
        }
        let trace = ForwardTrace()
        let y = try model.predict(NetworkInput(frames: frames, mfcc: mfcc), trace: trace)
        check("y (all modalities)", y.data, try caseTensor(ref, "y").data, tolerance: 1e-4)
        if hasVideo && hasAudio {
            check("out.av", y.data, try caseTensor(ref, "out.av").data, tolerance: 1e-4)
        }
        for name in ["video.backbone_map", "video.spatial_alpha", "video.frame_vectors", "video.tcn", "video.temporal", "video.u",
                     "audio.tcn", "audio.temporal", "audio.u", "z"] where trace.tensors[name] != nil {
            let want = try caseTensor(ref, name)
            check(name, trace.tensors[name]!.data, want.data, tolerance: 1e-3, scale: .relative)
        }
        if hasVideo {
            let v = try model.predict(NetworkInput(frames: frames))
            check("out.video_only", v.data, try caseTensor(ref, "out.video_only").data, tolerance: 1e-4)
        }
        if hasAudio {
            let a = try model.predict(NetworkInput(mfcc: mfcc))
            check("out.audio_only", a.data, try caseTensor(ref, "out.audio_only").data, tolerance: 1e-4)
        }
    }
}
