import Foundation
import Testing
import TestSupport
@testable import API

/// The parameters' schemas are what both the document and the server use: these hold the
/// patterns to their meaning, at the edges a generator finds (calendars, offsets, ranges).
@Suite("API parameter schemas")
struct ParameterTests {
    @Test func dateTimesFollowRFC3339AndTheCalendar() {
        let schema = ParameterSchema.dateTime
        for good in ["2026-01-02T15:04:05Z", "2024-02-29T00:00:00Z", "2000-02-29T23:59:59+14:00", "0001-01-01T00:00:00.123456-23:59",
                     "9999-12-31T23:59:59z", "2026-04-30t00:00:00Z", "0000-02-29T00:00:00Z", "2400-02-29T00:00:00Z"] {
            #expect(schema.admits(good), "\(good)")
        }
        for bad in ["2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z",
                    "2026-01-01T00:00:00+24:00", "2026-01-01 00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z", "yesterday", ""] {
            #expect(!schema.admits(bad), "\(bad)")
        }
    }

    @Test func namesSelectorsAndDurations() {
        #expect(ParameterSchema.namespace.admits("compute-u1-web"))
        for bad in ["Compute", "-web", "web-", "a_b", String(repeating: "a", count: 64), ""] { #expect(!ParameterSchema.namespace.admits(bad), "\(bad)") }
        #expect(ParameterSchema.objectName.admits("web-0.shop"))
        #expect(!ParameterSchema.objectName.admits("web..shop"))
        let selector = OpenAPI.resourceFilters.first { $0.name == "label_selector" }!.schema
        for good in ["app=web", "app==web,tier!=db", "app.kubernetes.io/name=shop", "gpu", "!gpu", "app=", "a=b,c"] {
            #expect(selector.admits(good), "\(good)")
        }
        for bad in ["app = web", "app=web,", ",app", "=web", "app=we b", "app=-web"] { #expect(!selector.admits(bad), "\(bad)") }
        #expect(ParameterSchema.duration.admits("999999h") && ParameterSchema.duration.admits("30s"))
        for bad in ["0s", "1m30s", "1.5h", "500ms", "9999999h", "-1m"] { #expect(!ParameterSchema.duration.admits(bad), "\(bad)") }
        let depth = ParameterSchema.integer(1...10)
        #expect(depth.admits("10") && !depth.admits("11") && !depth.admits("+5") && !depth.admits("٥") && !depth.admits("1.0"))
    }

    @Test func allocationParameters() {
        func schema(_ name: String) -> ParameterSchema { OpenAPI.allocation.first { $0.name == name }!.schema }
        for good in ["today", "lastmonth", "7d", "2w", "90m", "1700000000,1700086400", "2026-01-01T00:00:00Z,2026-02-01T00:00:00+01:00"] {
            #expect(schema("window").admits(good), "\(good)")
        }
        for bad in ["", "1h30m", "90s", "2026-01-01T00:00:00Z", "2026-02-30T00:00:00Z,2026-03-01T00:00:00Z", "1,2,3"] {
            #expect(!schema("window").admits(bad), "\(bad)")
        }
        // Edges where regex dialects differ (NEL is white space to Python, not to ECMA-262).
        for good in [#"namespace:"a","b""#, #"label[app]:"web"+node!:n1"#, #"pod:"a\"b""#, "container:main,sidecar", "pod:a\u{85}b",
                     "pod:\"a\nb\"", #"pod:"\\""#, "pod:\u{3000}"] {
            #expect(schema("filter").admits(good), "\(good)")
            #expect((try? AllocationFilter(good)) != nil, "\(good) admitted but not parsed")
        }
        for bad in [#"namespace:"""#, "colour:red", "namespace:", #"namespace:"a"+"#, "namespace :a", "pod:a b", "pod:a\tb", #"pod:"a"b"#, #"pod:"a"#] {
            #expect(!schema("filter").admits(bad), "\(bad)")
            #expect((try? AllocationFilter(bad)) == nil || bad == "colour:red" || bad == "namespace :a", "\(bad) refused by the pattern but parsed")
        }
        #expect(schema("aggregate").admits("namespace,label:app.kubernetes.io/name"))
        #expect(!schema("aggregate").admits("namespace,") && !schema("aggregate").admits("colour"))
    }

    /// Kube-App's body is checked by hand (no regex engine in its fuzz target): exactly what
    /// the document's patterns admit.
    @Test func kubeAppHandCheckedFieldsEqualTheirPatterns() {
        var texts = ["1", "0", "01", "999999", "1000000", "1000001", "9999999", "+5", "", " 1", "10a", "2024-02-29", "2023-02-29", "1900-02-29",
                     "2000-02-29", "0000-02-29", "2026-04-31", "2026-04-30 23:59:59", "2026-04-30 24:00:00", "2026-04-30 1:00:00",
                     "2026-01-02T15:04:05Z", "2026-01-02t15:04:05z", "2026-01-02T15:04:05.5+23:59", "2026-01-02T15:04:05+24:00",
                     "2026-01-02T15:04:05.Z", "2026-01-02T15:04:05", "2026-01-02T15:04:60Z", "2026-13-02T15:04:05Z", "2026-01-02 15:04:05Z",
                     "2026-01-02T15:04:05-00:00", "2026-01-02T15:04:05.123456789Z", "2026-1-02", "20260102"]
        var random = SplitMix(seed: 7)
        let alphabet = Array("0123456789-:T .Z+tz")
        for _ in 0..<3000 {
            var text = "2026-02-28T12:30:45Z"
            for _ in 0..<Int(random.next() % 3) {
                var characters = Array(text)
                let at = Int(random.next() % UInt64(characters.count))
                characters[at] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                text = String(characters)
            }
            texts.append(text)
        }
        for text in texts {
            #expect(KubeAppController.Body.isTime(text) == ParameterPatterns.matches(ParameterPatterns.kubeAppTime, text), "\(text)")
            #expect(KubeAppController.Body.isLimit(text) == ParameterPatterns.matches(ParameterPatterns.kubeAppLimit, text), "\(text)")
        }
    }

    /// Every selector the document's pattern admits parses, as the one the server meant:
    /// mutated set-based and equality-based selectors.
    @Test func labelSelectorsThePatternAdmitsParse() {
        var texts = ["app in (web, api),tier notin (db)", "app in ()", "app in (,x)", "a.b/c notin ( x )", "app=web,!legacy,canary",
                     "app in (web", "app in web", "app  in (x)", "app in (x),", "x notin (a b)"]
        var random = SplitMix(seed: 11)
        let alphabet = Array("ab(), =!in/.")
        for _ in 0..<3000 {
            var characters = Array("app in (web, api),tier!=db")
            for _ in 0..<Int(random.next() % 3) {
                characters[Int(random.next() % UInt64(characters.count))] = alphabet[Int(random.next() % UInt64(alphabet.count))]
            }
            texts.append(String(characters))
        }
        var admitted = 0
        for text in texts where ParameterPatterns.matches(ParameterPatterns.labelSelector, text) {
            admitted += 1
            #expect((try? LabelSelector(parsing: text)) != nil, "the pattern admits \(text), the parser refuses it")
        }
        #expect(admitted > 100)
    }

    /// The document's patterns are the server's, JSON-escaped: each compiles as a regex a
    /// JSON Schema validator reads the same way.
    @Test func theDocumentCarriesTheServersPatterns() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPI.document())) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let get = try #require(paths["/api/v2/allocation"]?["get"] as? [String: Any])
        let parameters = try #require(get["parameters"] as? [[String: Any]])
        for parameter in OpenAPI.allocation {
            let documented = try #require(parameters.first { $0["name"] as? String == parameter.name }?["schema"] as? [String: Any])
            if case .text(let pattern, let maxLength, _) = parameter.schema {
                #expect(documented["pattern"] as? String == pattern)
                #expect(documented["maxLength"] as? Int == maxLength)
            }
        }
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let body = try #require(schemas["KubeAppRequest"] as? [String: Any])
        let begin = try #require((body["properties"] as? [String: Any])?["timeBeginInterval"] as? [String: Any])
        #expect(begin["pattern"] as? String == ParameterPatterns.kubeAppTime)
        #expect(schemas["AllocationRequest"] != nil)
    }
}
