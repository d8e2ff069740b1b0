import Testing
@testable import ERICore

/// The arena a pass over many images takes its groups' buffers from: what it holds
/// is the peak in use at once, never the sum of the groups'.
@Suite struct ArenaTests {
    @Test func rewindFreesWhatOverflowedSinceTheMark() {
        let arena = Arena(bytes: 1 << 12)
        let kept = arena.floats(1024)               // fills the block
        kept.initialize(repeating: 7)
        let mark = arena.mark
        for group in 0..<5 {                         // five groups, each overflowing the block
            let a = arena.floats(1 << 16), b = arena.floats(1 << 15)
            a.initialize(repeating: Float(group))
            b.initialize(repeating: Float(group))
            #expect(a.allSatisfy { $0 == Float(group) } && b.allSatisfy { $0 == Float(group) })
            arena.rewind(to: mark)
        }
        // One group's buffers at a time: the block plus 384 KiB, not five times that.
        #expect(arena.peakBytes == (1 << 12) + 4 * ((1 << 16) + (1 << 15)))
        #expect(kept.allSatisfy { $0 == 7 })
        // reset grows the block to that peak: the next round overflows nothing and the peak stays.
        arena.reset()
        _ = arena.floats(1024)
        let again = arena.mark
        for _ in 0..<5 {
            _ = arena.floats(1 << 16); _ = arena.floats(1 << 15)
            arena.rewind(to: again)
        }
        #expect(arena.peakBytes == (1 << 12) + 4 * ((1 << 16) + (1 << 15)))
    }

    @Test func rewindKeepsWhatOverflowedBeforeTheMark() {
        let arena = Arena(bytes: 64)
        let early = arena.floats(1000)              // overflowed, before the mark
        early.initialize(repeating: 3)
        let mark = arena.mark
        _ = arena.floats(1000)
        arena.rewind(to: mark)
        let later = arena.floats(1000)
        later.initialize(repeating: 4)
        #expect(early.allSatisfy { $0 == 3 })
        #expect(arena.peakBytes == 2 * 4032)   // early and one later buffer at a time
    }
}
