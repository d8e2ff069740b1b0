// The backbone row of the benchmark: liberi's ResNet backbone alone (SPEC §5
// video step 1). ERIModel keeps `ResNetBackbone` internal, so this needs the
// public hook `Model.backboneTokens(frames:)` (B × F × C × S × S frames →
// (B·F) × (h·w) × C_out tokens). Compiled in only with
// `-Xswiftc -DERI_BENCH_BACKBONE` (or `.define("ERI_BENCH_BACKBONE")` in the
// target's swiftSettings); without it the `backbone` command answers
// `unavailable` and bench.py prints n/a† for liberi's backbone.

import ERICore
import ERIModel
import ERIPipeline

#if ERI_BENCH_BACKBONE
/// One timed backbone pass over `frames`: the milliseconds and the tokens.
func timeBackbone(model: Model, frames: Tensor) throws -> (ms: Double, tokens: Tensor)? {
    let start = nowMilliseconds()
    let tokens = try model.backboneTokens(frames: frames)
    return (nowMilliseconds() - start, tokens)
}
#else
func timeBackbone(model: Model, frames: Tensor) throws -> (ms: Double, tokens: Tensor)? { nil }
#endif
