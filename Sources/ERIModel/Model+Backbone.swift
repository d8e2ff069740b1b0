import ERICore

extension Model {
    /// Runs the video backbone alone (SPEC §5 video step 1) on B × F × C × S × S
    /// normalised frames and returns its token maps, (B·F) × (h·w) × C_out with
    /// token n = y·w + x (step 2). For benchmarks and diagnostics: `predict`
    /// does not need it.
    public func backboneTokens(frames: Tensor) throws -> Tensor {
        try network.backboneTokens(frames)
    }
}

extension InferenceNetwork {
    func backboneTokens(_ frames: Tensor) throws -> Tensor {
        guard let v = video, let vc = config.video else {
            throw ERIError(.missingModality, "this model has no video branch")
        }
        let expected = [frames.shape.first ?? 0, vc.frames, vc.channels, vc.imageSize, vc.imageSize]
        guard frames.shape == expected, expected[0] > 0 else {
            throw ERIError.invalidArgument("frames tensor has shape \(frames.shape); the model needs \(expected)")
        }
        let images = expected[0] * vc.frames
        let side = v.backbone.outputSide
        var tokens = Tensor(zeros: [images, side * side, v.backbone.outputWidth])  // (B·F, h·w, C)
        arenas.withArena { arena in
            frames.data.withUnsafeBufferPointer { f in
                tokens.data.withUnsafeMutableBufferPointer { t in
                    v.backbone.forward(f.baseAddress!, images: images, arena: arena, tokens: t.baseAddress!)
                }
            }
        }
        return tokens
    }
}
