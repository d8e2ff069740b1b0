import ERICore
import ERIModel

extension Model {
    /// Runs the video backbone alone (SPEC §5 video step 1) on B × F × C × S × S
    /// normalised frames and returns its token maps, (B·F) × (h·w) × C_out with
    /// token n = y·w + x (step 2). For benchmarks and diagnostics: `predict`
    /// does not need it.
    public func backboneTokens(frames: Tensor) throws -> Tensor {
        try network.backboneTokens(frames: frames)
    }
}
