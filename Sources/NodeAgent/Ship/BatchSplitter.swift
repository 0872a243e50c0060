import Wire

/// A pod (or the node header) that cannot fit one message on its own.
public struct BatchTooLarge: Error, CustomStringConvertible {
    public var what: String
    public var bytes: Int
    public var limit: Int
    public var description: String { "\(what) is \(bytes) bytes, over the \(limit)-byte message limit" }
}

/// Splits a snapshot into parts that each fit the server's max_payload. Part 0 carries the
/// node stats and collector statuses; pods and connections are packed greedily into as
/// few parts as they need. Every part repeats the header (node, instance, sequence, time).
public enum BatchSplitter {
    /// Room left for the part's own header fields and the length prefixes of its items.
    static let headerMargin = 512

    public static func split(_ batch: Agent_V1_Batch, maxBytes: Int) throws -> [[UInt8]] {
        let whole = try ProtobufEncoding.serializedBytes(batch)
        if whole.count <= maxBytes { return [whole] }

        var header = batch
        header.clearNode()
        header.collectors = []
        header.pods = []
        header.connections = []
        header.hostListening = []
        header.partCount = 0
        header.partIndex = 0

        var first = header
        first.node = batch.node
        first.collectors = batch.collectors
        first.hostListening = batch.hostListening

        let budget = maxBytes - headerMargin
        var parts: [Agent_V1_Batch] = [first]
        var sizes: [Int] = [try ProtobufEncoding.serializedSize(first)]
        guard sizes[0] <= budget else { throw BatchTooLarge(what: "the node header of \(batch.nodeName)", bytes: sizes[0], limit: maxBytes) }

        func place(_ itemSize: Int, _ describe: @autoclosure () -> String, _ add: (inout Agent_V1_Batch) -> Void) throws {
            let cost = itemSize + 6  // field tag and length varint
            guard cost + headerMargin <= budget else { throw BatchTooLarge(what: describe(), bytes: itemSize, limit: maxBytes) }
            if sizes[sizes.count - 1] + cost > budget {
                parts.append(header)
                sizes.append(try ProtobufEncoding.serializedSize(header))
            }
            add(&parts[parts.count - 1])
            sizes[sizes.count - 1] += cost
        }
        for pod in batch.pods {
            try place(try ProtobufEncoding.serializedSize(pod), "pod \(pod.namespace)/\(pod.name)") { $0.pods.append(pod) }
        }
        for connection in batch.connections {
            try place(try ProtobufEncoding.serializedSize(connection), "a connection") { $0.connections.append(connection) }
        }
        return try parts.enumerated().map { index, part in
            var part = part
            part.partIndex = UInt32(index)
            part.partCount = UInt32(parts.count)
            let bytes = try ProtobufEncoding.serializedBytes(part)
            guard bytes.count <= maxBytes else { throw BatchTooLarge(what: "part \(index) of \(batch.nodeName)", bytes: bytes.count, limit: maxBytes) }
            return bytes
        }
    }
}
