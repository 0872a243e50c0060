import Crypto
import Foundation
import SwiftProtobuf
import Wire

/// The Cluster Monitor's JetStream events (REFERENCE.md §1), built from one refresh.
///
/// Both events of a refresh carry a message id derived from the subject and the refresh
/// tick (the refresh boundary in Unix seconds): replicas publishing the same tick, or a
/// restarted aggregator publishing it again, are deduplicated by the stream's window. The
/// `event_id` is derived the same way, so the stored event is the same whoever published it.
public enum ClusterEvents {
    public static let metricsSubject = "cluster.metrics"
    public static let podsSubject = "cluster.pods"

    public static func metadata(subject: String, tick: Int64, source: String) -> Common_EventMetadata {
        .with {
            $0.eventID = eventID(subject: subject, tick: tick)
            $0.entityID = "cluster"
            $0.timestamp = .with { $0.seconds = tick }
            $0.source = source
            $0.version = tick
        }
    }

    public static func messageID(subject: String, tick: Int64) -> String { "\(subject):\(tick)" }

    /// 8-4-4-4-12 hex, from SHA-256 of subject and tick (version nibble 4, RFC 4122 variant).
    public static func eventID(subject: String, tick: Int64) -> String {
        var bytes = Array(SHA256.hash(data: Array("\(subject):\(tick)".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let c = Array(hex)
        return "\(String(c[0..<8]))-\(String(c[8..<12]))-\(String(c[12..<16]))-\(String(c[16..<20]))-\(String(c[20..<32]))"
    }

    public static func clusterMetrics(_ view: LiveView, tick: Int64, source: String) -> Cluster_ClusterMetrics {
        .with { event in
            event.metadata = metadata(subject: metricsSubject, tick: tick, source: source)
            event.nodes = view.nodes.map { node in
                .with {
                    $0.name = node.name
                    $0.cpuPercent = node.cpuPercent
                    $0.memoryPercent = node.memoryPercent
                    $0.diskPercent = node.diskPercent
                    $0.conditions = node.conditions.map { condition in .with { $0.type = condition.type; $0.status = condition.status } }
                }
            }
        }
    }

    /// The `cluster.pods` messages of one refresh, each within `maxBytes`: one
    /// `PodStatusSnapshot` when it fits, else consecutive parts of the pod list (each a
    /// valid snapshot of its pods, with its own event id and message id
    /// `cluster.pods:<tick>:<part>`). Returns (message id, payload) pairs.
    public static func podStatusMessages(_ view: LiveView, tick: Int64, source: String, maxBytes: Int) throws -> [(id: String, payload: [UInt8])] {
        let whole = podStatusSnapshot(view, tick: tick, source: source)
        let bytes = try ProtobufEncoding.serializedBytes(whole)
        if bytes.count <= maxBytes { return [(messageID(subject: podsSubject, tick: tick), bytes)] }
        // Parts of at most 90% of the limit, by the average entry size.
        let perEntry = max(1, bytes.count / max(whole.pods.count, 1))
        let perPart = max(1, (maxBytes * 9 / 10 - 256) / perEntry)
        var messages: [(id: String, payload: [UInt8])] = []
        var start = 0
        while start < whole.pods.count {
            let end = min(start + perPart, whole.pods.count)
            let subject = "\(podsSubject):part\(messages.count)"
            var part = Cluster_PodStatusSnapshot()
            part.metadata = metadata(subject: subject, tick: tick, source: source)
            part.pods = Array(whole.pods[start..<end])
            messages.append(("\(messageID(subject: podsSubject, tick: tick)):\(messages.count)", try ProtobufEncoding.serializedBytes(part)))
            start = end
        }
        return messages
    }

    /// One `PodStatus` per (non-init) container status.
    public static func podStatusSnapshot(_ view: LiveView, tick: Int64, source: String) -> Cluster_PodStatusSnapshot {
        .with { event in
            event.metadata = metadata(subject: podsSubject, tick: tick, source: source)
            event.pods = view.podStatuses.map { status in
                .with {
                    $0.name = status.name
                    $0.namespace = status.namespace
                    $0.restartCount = Int32(clamping: status.restartCount)
                    $0.oomKilled = status.oomKilled
                }
            }
        }
    }
}
