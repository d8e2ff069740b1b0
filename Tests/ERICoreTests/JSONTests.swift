import Testing
@testable import ERICore

@Suite struct JSONTests {
    @Test func parsesAndRoundTrips() throws {
        let text = #"{"a":[1,2.5,-3e2,true,false,null],"b":{"c":"d\n\"\u00e9\ud83d\ude00"},"e":[]}"#
        let v = try JSONValue.parse(text)
        #expect(v["a"]?.arrayValue?.count == 6)
        #expect(v["a"]?.arrayValue?[2].numberValue == -300)
        #expect(v["b"]?["c"]?.stringValue == "d\n\"é😀")
        #expect(try JSONValue.parse(v.serialized) == v)
        #expect(try JSONValue.parse(v.pretty()) == v)
    }

    @Test func keepsKeyOrder() throws {
        let v = try JSONValue.parse(#"{"z":1,"a":2,"m":3}"#)
        #expect(v.objectMembers?.map(\.0) == ["z", "a", "m"])
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "[1 2]", #"{"a":1,}"#, #"{"a" 1}"#, #"{a:1}"#, "01", "1.", ".5", "-", "1e", "+1",
        #""\x""#, #""\ud800""#, #""\udc00x""#, #""abc"#, "tru", "nul", "NaN", "Infinity", "1e999", "-1e999",
        "\"a\u{01}b\"", #"{"a":1,"a":2}"#, "[] []", "[1]x", "\u{FEFF}{}", #""\u12g4""#,
    ])
    func rejectsMalformed(_ text: String) {
        #expect(throws: ERIError.self) { try JSONValue.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: ERIError.self) { try JSONValue.parse(bytes: [0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: ERIError.self) { try JSONValue.parse(bytes: [0x22, 0xFF, 0x22]) }
    }

    @Test func rejectsDeepNestingWithoutCrashing() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: ERIError.self) { try JSONValue.parse(deep) }
        let ok = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(throws: Never.self) { try JSONValue.parse(ok) }
    }

    @Test func randomBytesNeverCrash() {
        var rng = SeededGenerator(seed: 7)
        let alphabet = Array(#"{}[]",:0123456789.eE+-tfnrul\ "abc"#.utf8)
        for _ in 0..<5000 {
            let n = Int(rng.next() % 24)
            let bytes = (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            _ = try? JSONValue.parse(bytes: bytes)
        }
    }

    @Test func numbersPrintAsIntegersWhenIntegral() {
        #expect(JSONValue.array([.number(3), .number(0.5), .number(-2)]).serialized == "[3,0.5,-2]")
    }
}
