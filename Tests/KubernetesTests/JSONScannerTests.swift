import Testing
@testable import Kubernetes

@Suite("JSON scanner")
struct JSONScannerTests {
    @Test func readsKnownKeysAndSkipsEverythingElse() throws {
        let json = #"{"skip":{"a":[1,2,{"b":"}"}],"c":null},"n":42,"s":"x\"y\u00e9\ud83d\ude00","t":true,"f":-1.5e2,"z":null}"#
        var n: UInt64 = 0, s = "", t = false, f = 0.0, z: UInt64? = 7
        try JSONScanner.decode(json) { scanner in
            try scanner.forEachMember { scanner, key in
                if key == "n" { n = try scanner.uint64() }
                else if key == "s" { s = try scanner.string() }
                else if key == "t" { t = try scanner.bool() }
                else if key == "f" { f = try scanner.double() }
                else if key == "z" { z = try scanner.optionalUInt64() }
            }
        }
        #expect(n == 42)
        #expect(s == "x\"yé😀")
        #expect(t)
        #expect(f == -150)
        #expect(z == nil)
    }

    @Test func nullContainersAreEmpty() throws {
        let count = try JSONScanner.decode(#"{"connections":null}"#) { scanner in
            var count = -1
            try scanner.forEachMember { scanner, key in
                if key == "connections" { count = try scanner.array { try $0.uint64() }.count }
            }
            return count
        }
        #expect(count == 0)
    }

    @Test(arguments: [
        (#"{"a":1"#, "unexpected end of input"),
        (#"{"a":1}x"#, "expected end of input"),
        (#"{"a" 1}"#, "expected ':' after a member name"),
        (#"{"a":"unterminated}"#, "unterminated string"),
        (#"[1,2,,3]"#, "expected a value"),
        ("", "unexpected end of input"),
    ])
    func malformedInputIsAnErrorWithItsOffset(json: String, message: String) {
        /// Reads every value through the validating paths, as decoders do for known keys.
        func walk(_ s: inout JSONScanner) throws {
            switch try s.peek() {
            case UInt8(ascii: "{"): try s.forEachMember { s, _ in try walk(&s) }
            case UInt8(ascii: "["): try s.forEachElement { try walk(&$0) }
            default: try s.skipValue()
            }
        }
        do {
            try JSONScanner.decode(json) { try walk(&$0) }
            Issue.record("expected an error for \(json)")
        } catch let error as JSONError {
            #expect(error.description.contains(message), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func skippingATruncatedValueIsStillAnError() {
        #expect(throws: JSONError.self) { try JSONScanner.decode(#"{"a":[1,{"b":2}"#) { try $0.skipValue() } }
    }

    @Test func largeAndNegativeNumbers() throws {
        #expect(try JSONScanner.decode("18446744073709551615") { try $0.uint64() } == UInt64.max)
        #expect(throws: JSONError.self) { try JSONScanner.decode("18446744073709551616") { try $0.uint64() } }
        #expect(throws: JSONError.self) { try JSONScanner.decode("-1") { try $0.uint64() } }
        #expect(try JSONScanner.decode("-9223372036854775808") { try $0.int64() } == Int64.min)
        #expect(try JSONScanner.decode("1.5e3") { try $0.uint64() } == 1500)
    }

    @Test func rawValueKeepsTheBytesAsSent() throws {
        let json = #"{"a":{"x": [1, "2"]},"b":2}"#
        let range = try JSONScanner.decode(json) { scanner -> Range<Int> in
            var range = 0..<0
            try scanner.forEachMember { scanner, key in if key == "a" { range = try scanner.rawValue() } }
            return range
        }
        #expect(String(decoding: Array(json.utf8)[range], as: UTF8.self) == #"{"x": [1, "2"]}"#)
    }
}

@Suite("RFC 3339 timestamps and quantities")
struct TimeAndQuantityTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0), Int32(0)),
        ("2026-01-13T18:40:14Z", 1_768_329_614, 0),
        ("2018-02-13T16:10:45.5Z", 1_518_538_245, 500_000_000),
        ("2018-02-13T18:10:45+02:00", 1_518_538_245, 0),
        ("2000-02-29T00:00:00Z", 951_782_400, 0),
    ])
    func parses(text: String, seconds: Int64, nanos: Int32) {
        #expect(UnixTime(rfc3339: text) == UnixTime(seconds: seconds, nanoseconds: nanos))
    }

    @Test(arguments: ["", "2026-01-13", "2026-13-01T00:00:00Z", "2026-01-13T18:40:14", "2026-01-13T18:40:14Zjunk"])
    func rejects(text: String) {
        #expect(UnixTime(rfc3339: text) == nil)
    }

    @Test(arguments: [
        ("100m", Int64(100)), ("1", 1000), ("1.5", 1500), ("0.5", 500), ("2Gi", 2_147_483_648_000),
        ("128Mi", 134_217_728_000), ("1k", 1_000_000), ("1e3", 1_000_000), ("250000n", 1), ("1M", 1_000_000_000),
        ("16356452Ki", 16_749_006_848_000), ("474095688Ki", 485_473_984_512_000), ("1.5Gi", 1_610_612_736_000), ("-2", -2000),
    ])
    func quantities(text: String, milli: Int64) {
        #expect(Quantity(text)?.milliValue == milli)
    }

    @Test func quantityFormatting() {
        #expect(Quantity.formatCPU(millicores: 500) == "500m")
        #expect(Quantity.formatCPU(millicores: 4000) == "4")
        #expect(Quantity.formatCPU(millicores: 1500) == "1500m")
        #expect(Quantity.formatBytes(2 << 30) == "2Gi")
        #expect(Quantity.formatBytes(1_610_612_736) == "1.5Gi")
        #expect(Quantity.formatBytes(512 << 20) == "512Mi")
        #expect(Quantity.formatBytes(1000) == "1000")
        #expect(Quantity("12x") == nil)
        #expect(Quantity("") == nil)
    }
}
