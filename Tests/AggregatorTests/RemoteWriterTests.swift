import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing
import TestSupport
import Wire
@testable import Aggregator

/// Remote write on the wire, against a local receiver that scripts its answers: the body is
/// what `protoc` decodes as remote write's `WriteRequest` (sorted labels, exact values, the
/// agents' timestamps), the three headers and the credentials are sent, 5xx and 429 are
/// retried until accepted, another 4xx is dropped at once, and nothing else is held back.
@Suite("Remote writer")
struct RemoteWriterTests {
    /// remote write 1.0's messages, from the spec (prometheus/docs remote_write_spec.md).
    static let proto = """
        syntax = "proto3";
        package prometheus;
        message WriteRequest { repeated TimeSeries timeseries = 1; }
        message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
        message Label { string name = 1; string value = 2; }
        message Sample { double value = 1; int64 timestamp = 2; }
        """

    /// `protoc --decode=prometheus.WriteRequest` of a snappy body.
    static func decode(_ body: [UInt8]) throws -> String {
        let raw = try #require(WriteRequestEncoder.unsnappy(body), "not snappy block format")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-prompb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try proto.write(to: directory.appendingPathComponent("remote.proto"), atomically: true, encoding: .utf8)
        let result = try runCommand("protoc", ["--decode=prometheus.WriteRequest", "--proto_path=\(directory.path)", "remote.proto"], input: Data(raw))
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdoutText
    }

    /// Each series of a decoded request: its labels in order, and its one sample.
    static func series(_ text: String) -> [(labels: [(String, String)], value: String, timestamp: String)] {
        var result: [(labels: [(String, String)], value: String, timestamp: String)] = []
        var labels: [(String, String)] = [], name = "", value = "", timestamp = ""
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            func quoted() -> String { String(line.split(separator: "\"", maxSplits: 1).last?.dropLast() ?? "") }
            if line.hasPrefix("timeseries {") { labels = [] }
            else if line.hasPrefix("name:") { name = quoted() }
            else if line.hasPrefix("value: \"") { labels.append((name, quoted())) }
            else if line.hasPrefix("value:") { value = String(line.dropFirst(7)) }
            else if line.hasPrefix("timestamp:") { timestamp = String(line.dropFirst(11)); result.append((labels, value, timestamp)) }
        }
        return result
    }

    final class Receiver: Sendable {
        struct Received: Sendable {
            var path: String
            var headers: [String: String]
            var body: [UInt8]
        }
        let received = Mutex<[Received]>([])
        func count(_ path: String) -> Int { received.withLock { $0.filter { $0.path == path }.count } }

        var router: Router<BasicRequestContext> {
            let router = Router()
            router.post("/:answer") { request, context -> Response in
                let path = request.uri.path
                var headers: [String: String] = [:]
                for field in request.headers { headers[field.name.canonicalName] = field.value }
                let body = try await request.body.collect(upTo: 1 << 24)
                let previous = self.count(path)
                self.received.withLock { $0.append(Received(path: path, headers: headers, body: Array(body.readableBytesView))) }
                switch path {
                case "/flaky" where previous == 0: return Response(status: .serviceUnavailable)
                case "/flaky" where previous == 1: return Response(status: .tooManyRequests, headers: [.retryAfter: "0"])
                case "/bad": return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "out of order sample")))
                default: return Response(status: .noContent)
                }
            }
            return router
        }
    }

    @Test func onTheWireRetriedWhereTheSpecSaysAndDroppedWhereItSaysNot() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-rw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let tokenFile = directory.appendingPathComponent("token"), passwordFile = directory.appendingPathComponent("password")
        try "s3cret-token\n".write(to: tokenFile, atomically: true, encoding: .utf8)
        try "pa55".write(to: passwordFile, atomically: true, encoding: .utf8)
        let receiver = Receiver()
        try await withLocalServer(receiver.router) { endpoint in
            var configuration = RemoteWriteConfiguration(targets: [
                RemoteWriteTarget(url: "\(endpoint.baseURL)/ok", bearerTokenFile: tokenFile.path, headers: [("X-Scope-OrgID", "team-a")]),
                RemoteWriteTarget(url: "\(endpoint.baseURL)/flaky", username: "writer", passwordFile: passwordFile.path),
                RemoteWriteTarget(url: "\(endpoint.baseURL)/bad"),
            ])
            configuration.cluster = "prod"
            configuration.replica = "aggregator-0"
            configuration.minBackoff = .milliseconds(10)
            let writer = RemoteWriter(configuration: configuration, logger: Logger(label: "test"))
            let sending = Task { try await writer.run() }

            let state = ClusterState()
            var batch = snapshotBatch(time: 1_796_000_010_250, pods: [
                PodSnapshot(namespace: "shop", name: "web-0", uid: "w0", containers: [ContainerSnapshot(name: "main", id: "c1", cpu: 12_345_678_901, memory: 1 << 20)]),
            ])
            batch.node.usage.cpuUsageCoreNanoseconds = 1_000_000_000_001
            state.ingest(batch, receivedAt: 1_796_000_010)
            writer.enqueue(nodes: state.snapshot(), edges: [], time: 1_796_000_011)
            // The same snapshot again (a refresh without news): nothing new is sent.
            writer.enqueue(nodes: state.snapshot(), edges: [], time: 1_796_000_012)

            // A bound, not a pace: on a loaded two-core CI machine a 10 ms retry once took 7 s.
            try await withTimeout(.seconds(90), "every receiver answered") {
                while receiver.count("/ok") < 1 || receiver.count("/flaky") < 3 || receiver.count("/bad") < 1 || writer.queuedSamples != [0, 0, 0] {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            #expect(receiver.count("/ok") == 1, "one request for one snapshot, the repeat not sent")
            #expect(receiver.count("/flaky") == 3, "503, then 429, then accepted")
            #expect(receiver.count("/bad") == 1, "a 400 is never retried")

            let all = receiver.received.withLock { $0 }
            let ok = try #require(all.first { $0.path == "/ok" })
            #expect(ok.headers["content-encoding"] == "snappy" && ok.headers["content-type"] == "application/x-protobuf")
            #expect(ok.headers["x-prometheus-remote-write-version"] == "0.1.0")
            #expect(ok.headers["authorization"] == "Bearer s3cret-token" && ok.headers["x-scope-orgid"] == "team-a")
            #expect(all.first { $0.path == "/flaky" }?.headers["authorization"] == "Basic \(Data("writer:pa55".utf8).base64EncodedString())")
            #expect(all.filter { $0.path == "/flaky" }.map(\.body).allSatisfy { $0 == ok.body }, "a retry sends the same body")

            let series = Self.series(try Self.decode(ok.body))
            for one in series {
                #expect(one.labels.map(\.0) == one.labels.map(\.0).sorted(), "labels sorted by name: \(one.labels)")
                #expect(one.labels.first?.0 == "__name__")
                #expect(one.timestamp == "1796000010250")
                #expect(one.labels.contains { $0 == ("cluster", "prod") } && one.labels.contains { $0 == ("replica", "aggregator-0") })
            }
            func value(_ name: String) -> String? { series.first { $0.labels.first?.1 == name }?.value }
            #expect(value("node_cpu_usage_seconds_total") == "1000.000000001")
            #expect(value("container_cpu_usage_seconds_total") == "12.345678901")
            #expect(value("container_memory_working_set_bytes") == "1048576")
            let container = try #require(series.first { $0.labels.first?.1 == "container_cpu_usage_seconds_total" })
            #expect(container.labels.map(\.0) == ["__name__", "cluster", "container", "namespace", "node", "pod", "replica"])
            // The writer stops (and lets go of its connections) before the receiver does.
            sending.cancel()
            _ = try? await sending.value
        }
    }

    @Test func requestsAreCutAtTheirSampleLimitAndSnappyRoundTrips() throws {
        var encoder = WriteRequestEncoder(maxSamples: 3)
        for i in 0..<7 { encoder.append(labels: [("__name__", "m"), ("i", String(i)), ("empty", "")], value: Double(i) + 0.5, timestampMs: Int64(i)) }
        let requests = encoder.finish()
        #expect(requests.map(\.samples) == [3, 3, 1])
        let decoded = Self.series(try Self.decode(requests[2].body))
        #expect(decoded.count == 1 && decoded[0].value == "6.5" && decoded[0].timestamp == "6")
        #expect(decoded[0].labels.map(\.0) == ["__name__", "i"], "a label without a value is left out")
        let text = Array(String(repeating: "clustermon ", count: 1000).utf8)
        #expect(WriteRequestEncoder.unsnappy(WriteRequestEncoder.snappy(text)) == text)
        #expect(WriteRequestEncoder.snappy(text).count < text.count / 5)
        #expect(WriteRequestEncoder.unsnappy([0xFF, 0xFF, 0xFF]) == nil)
    }
}
