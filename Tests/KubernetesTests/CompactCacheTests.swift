import Foundation
import Logging
import NIOCore
import Testing
import TestSupport
@testable import Kubernetes

/// The informer's compact cache: raw objects deflated against a dictionary of their kind,
/// repeated values shared through an interner. Nothing a reader sees may change.
@Suite("Compact informer cache")
struct CompactCacheTests {
    /// A PodList fixture as an API server list page.
    static func page(_ fixture: String) throws -> (page: [UInt8], items: [String]) {
        let items = try Fixtures.listItems(fixture)
        let body = #"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":["# + items.joined(separator: ",") + "]}"
        return (Array(body.utf8), items)
    }

    static func storagePointer(_ string: String) -> UnsafePointer<UInt8>? {
        var copy = string
        return copy.withUTF8 { $0.baseAddress }
    }

    @Test("every kubelet pod fixture: deflated objects inflate to the stripped JSON, decoded objects are unchanged",
          arguments: try Fixtures.files(in: "kubelet-pods"))
    func roundTrip(fixture: String) throws {
        let (body, items) = try Self.page(fixture)
        var codec = InformerCodec()
        let page = try Informer<Pod>.decodePage(body, codec: &codec)
        #expect(page.items.count == items.count)
        #expect(page.resourceVersion == "7")
        var json = 0, stored = 0
        for (entry, item) in zip(page.items, items) {
            let stripped = try RawObject.stripped(Array(item.utf8))
            #expect(entry.raw.bytes() == stripped)
            #expect(entry.raw.count == stripped.count)
            let plain = try JSONScanner.decode(Array(item.utf8)) { try Pod.decode(&$0) }
            #expect(entry.object == plain)
            json += stripped.count
            stored += entry.raw.storedCount
        }
        // Against a dictionary of the list's own pods, deflate keeps well under half.
        if items.count > 1 { #expect(stored * 2 < json, "\(stored) of \(json) bytes") }
    }

    @Test("pods of one template share their strings, containers and labels; pods decoded without an interner do not")
    func sharing() throws {
        func pod(_ name: String) -> String {
            #"{"metadata":{"name":"\#(name)","namespace":"team-payments-production","uid":"uid-\#(name)","labels":{"app.kubernetes.io/name":"payments-api-gateway"},"ownerReferences":[{"kind":"ReplicaSet","name":"payments-api-7d9f8c6b5d","uid":"0f6a1c2e-4b1d-4e8f-9a3c-2d7e5f6a8b9c","controller":true}]},"spec":{"nodeName":"ip-10-0-12-34.eu-west-1.compute.internal","containers":[{"name":"payments-api-gateway","image":"registry.example.com/payments/api:1.42.0","resources":{"requests":{"cpu":"250m"}}}]},"status":{"phase":"Running","podIP":"10.0.0.1","conditions":[{"type":"ContainersReady","status":"True"}]}}"#
        }
        let interner = Interner()
        let decode = { (json: String, interner: Interner?) throws -> Pod in
            try JSONScanner.decode(json) { s in
                s.interner = interner
                return try Pod.decode(&s)
            }
        }
        let a = try decode(pod("payments-api-7d9f8c6b5d-aaaaa"), interner)
        let b = try decode(pod("payments-api-7d9f8c6b5d-bbbbb"), interner)
        #expect(a.containers == b.containers)
        #expect(Self.storagePointer(a.namespace) == Self.storagePointer(b.namespace))
        #expect(Self.storagePointer(a.nodeName) == Self.storagePointer(b.nodeName))
        #expect(Self.storagePointer(a.containers[0].image) == Self.storagePointer(b.containers[0].image))
        #expect(Self.storagePointer(a.metadata.labels["app.kubernetes.io/name"]!) == Self.storagePointer(b.metadata.labels["app.kubernetes.io/name"]!))
        #expect(a.containers.withUnsafeBufferPointer { $0.baseAddress } == b.containers.withUnsafeBufferPointer { $0.baseAddress })
        #expect(a.metadata.ownerReferences.withUnsafeBufferPointer { $0.baseAddress } == b.metadata.ownerReferences.withUnsafeBufferPointer { $0.baseAddress })
        #expect(a.conditions.withUnsafeBufferPointer { $0.baseAddress } == b.conditions.withUnsafeBufferPointer { $0.baseAddress })
        // The pods' own names are not interned.
        #expect(Self.storagePointer(a.name) != Self.storagePointer(b.name))

        let c = try decode(pod("payments-api-7d9f8c6b5d-ccccc"), nil)
        let d = try decode(pod("payments-api-7d9f8c6b5d-ddddd"), nil)
        #expect(c.containers == d.containers)
        #expect(Self.storagePointer(c.containers[0].image) != Self.storagePointer(d.containers[0].image))
    }

    @Test("a watch event decoded with the informer's interner shares what the list decoded")
    func watchEventsShare() throws {
        let (body, items) = try Self.page("kubelet-pods/nri_k8s-1.34_containerd_pods.json")
        var codec = InformerCodec()
        let listed = try Informer<Pod>.decodePage(body, codec: &codec).items[0].object
        let line = #"{"type":"MODIFIED","object":"# + items[0] + "}"
        let event = try WatchEvent<Pod>.decode(Array(line.utf8), interner: codec.interner)
        let watched = try #require(event.object)
        #expect(watched == listed)
        let image = try #require(watched.containers.first?.image)
        #expect(image.utf8.count > 15)
        #expect(Self.storagePointer(image) == Self.storagePointer(listed.containers[0].image))
    }

    @Test("what does not deflate is kept as it is; one inflater serves objects of different dictionaries")
    func storedForms() throws {
        var plain = Deflater()
        let tiny = Array("{}".utf8)
        let kept = plain.compress(tiny)
        #expect(kept.storedCount == 2)
        #expect(kept.bytes() == tiny)

        let sample = Array(try Fixtures.listItems("kubelet-pods/nri_k8s-1.34_containerd_pods.json")[0].utf8)
        var withDictionary = Deflater(dictionary: DeflateDictionary(sample))
        var without = Deflater()
        let one = withDictionary.compress(sample)
        let two = without.compress(sample)
        #expect(one.storedCount < two.storedCount)
        #expect(one.storedCount < 100, "an object equal to its dictionary is a back-reference: \(one.storedCount) bytes")

        var buffer = ByteBuffer()
        var inflater = Inflater()
        for json in [one, kept, two, StoredJSON(Array("[1]".utf8))] { inflater.write(json, into: &buffer) }
        #expect(Array(buffer.readableBytesView) == sample + tiny + sample + Array("[1]".utf8))
    }

    @Test("an informer that saw no list compresses against its first watched object")
    func applyWithoutList() throws {
        let client = try APIClient(config: APIServerConfig(server: "https://127.0.0.1:1"))
        defer { Task { try? await client.shutdown() } }
        let informer = Informer<Pod>(client: client, logger: Logger(label: "test.compact"))
        for name in ["a", "b"] {
            let line = #"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","# + podJSON(name).dropFirst() + "}"
            try informer.apply(try WatchEvent<Pod>.decode(Array(line.utf8)))
        }
        let a = try #require(informer.get(namespace: "default", name: "a"))
        let b = try #require(informer.get(namespace: "default", name: "b"))
        #expect(String(decoding: a.raw.bytes(), as: UTF8.self) == String(decoding: try RawObject.stripped(Array(podJSON("a").utf8)), as: UTF8.self))
        #expect(b.raw.bytes() == (try RawObject.stripped(Array(podJSON("b").utf8))))
        // "b" differs from the dictionary ("a") in a few bytes.
        #expect(b.raw.storedCount < b.raw.count / 3)
    }
}
