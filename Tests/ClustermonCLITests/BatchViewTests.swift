import Foundation
import Testing
import Wire
@testable import AgentCLI

/// `agent --once --output json|table`: what a person checking a node needs to read.
@Suite struct BatchViewTests {
    let batch = Agent_V1_Batch.with { batch in
        batch.nodeName = "node-1"
        batch.sequence = 7
        batch.collectedAt = .with { $0.seconds = 1_796_146_530; $0.nanos = 250_000_000 }
        batch.node = .with { $0.cpuCount = 8; $0.memoryTotalBytes = 32 << 30; $0.cpuBusyNanoseconds = 12_345_678_901_234 }
        batch.pods = [.with { pod in
            pod.uid = "uid-web"
            pod.namespace = "shop"
            pod.name = "web-0"
            pod.phase = "Running"
            pod.startTime = .with { $0.seconds = 1_796_140_000 }
            pod.listening = [.with { $0.address = Data([0, 0, 0, 0]); $0.port = 8080 }]
            pod.containers = [.with { $0.name = "main"; $0.id = String(repeating: "ab", count: 32); $0.state = "running"; $0.cpuRequestMillicores = 250 }]
        }]
        batch.connections = [
            .with {
                $0.protocol = .tcp; $0.family = .ipv4; $0.direction = .outgoing; $0.source = .tracer
                $0.localAddress = Data([10, 244, 1, 5]); $0.localPort = 41000
                $0.remoteAddress = Data([10, 96, 1, 30]); $0.remotePort = 5432
                $0.podUid = "uid-web"; $0.countersKnown = true; $0.sentBytes = 1 << 40
            },
            .with {
                $0.protocol = .udp; $0.family = .ipv6; $0.direction = .incoming
                $0.localAddress = Data([0xfd, 0] + [UInt8](repeating: 0, count: 13) + [1]); $0.localPort = 53
                $0.remoteAddress = Data([0xfd, 0] + [UInt8](repeating: 0, count: 13) + [2]); $0.remotePort = 40000
            },
        ]
        batch.collectors = [.with { $0.name = "tracer"; $0.ok = false; $0.error = "connection refused" }]
    }

    @Test func jsonIsReadable() throws {
        let text = try BatchView.json(batch)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["sequence"] as? Int == 7)
        #expect(object["collected_at"] as? String == "2026-12-01T17:35:30.250Z")
        let connections = try #require(object["connections"] as? [[String: Any]])
        #expect(connections[0]["local_address"] as? String == "10.244.1.5" && connections[0]["remote_address"] as? String == "10.96.1.30")
        #expect(connections[0]["pod"] as? String == "shop/web-0" && connections[0]["pod_uid"] as? String == "uid-web")
        #expect(connections[0]["protocol"] as? String == "tcp" && connections[0]["direction"] as? String == "outgoing" && connections[0]["source"] as? String == "tracer")
        #expect(connections[0]["sent_bytes"] as? Int == 1 << 40)
        #expect(connections[1]["local_address"] as? String == "fd00::1" && connections[1]["family"] as? String == "ipv6")
        let node = try #require(object["node"] as? [String: Any])
        #expect(node["cpu_busy_nanoseconds"] as? Int == 12_345_678_901_234)
        let pod = try #require((object["pods"] as? [[String: Any]])?.first)
        #expect(pod["start_time"] as? String == "2026-12-01T15:46:40Z")
        #expect((pod["listening"] as? [[String: Any]])?.first?["address"] as? String == "0.0.0.0")
        #expect(!text.contains("CmABHg"))
    }

    @Test func protoJSONIsTheWireMapping() throws {
        let text = try BatchView.protoJSON(batch)
        // 64-bit numbers as strings and bytes as base64, as proto3's JSON mapping says.
        #expect(text.contains(#""sequence":"7""#) && text.contains(#""local_address":"CvQBBQ==""#))
        var decoded = try Agent_V1_Batch(jsonString: text)
        decoded.unknownFields = .init()
        #expect(decoded == batch)
    }

    @Test func tableNamesPodsAndAddresses() {
        let text = BatchView.table(batch)
        #expect(text.contains("node node-1"))
        #expect(text.contains("10.244.1.5:41000") && text.contains("10.96.1.30:5432") && text.contains("[fd00::1]:53"))
        #expect(text.contains("shop/web-0") && text.contains("(host)"))
        #expect(text.contains("tracer") && text.contains("NO") && text.contains("connection refused"))
        #expect(text.contains("250m") && text.contains("abababababab"))
        #expect(text.contains("1.0 TiB"))
    }
}
