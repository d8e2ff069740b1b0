import Testing
@testable import ERICore
@testable import ERITrain

/// `eri cache build --shard K/N`: the parsing, and that the N shards partition the clips.
/// (The byte-identical entries of 2 processes vs 1 are Tests/scale/test_cache.py.)
struct CacheShardTests {
    @Test func parsesKOverN() {
        #expect(CacheShard("1/1") == CacheShard(index: 1, count: 1))
        #expect(CacheShard("3/4") == CacheShard(index: 3, count: 4))
        for bad in ["0/2", "3/2", "1/0", "-1/2", "1", "1/2/3", "a/b", "", "/2", "1/"] {
            #expect(CacheShard(bad) == nil, "\(bad)")
        }
    }

    @Test func shardsPartitionTheClips() {
        for n in 1...5 {
            let shards = (1...n).map { CacheShard(index: $0, count: n) }
            for i in 0..<23 {
                let owners = shards.filter { $0.contains(position: i) }
                #expect(owners.count == 1 && owners[0].index == i % n + 1)
            }
        }
    }
}
