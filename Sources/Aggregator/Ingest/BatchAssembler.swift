import Wire

/// What became of one received batch part.
public enum BatchVerdict: Sendable, Equatable {
    /// The part completed a snapshot (a single-part batch completes at once).
    case complete(Agent_V1_Batch)
    /// A part of a split snapshot; waiting for the others.
    case pending
    /// A duplicate, or older than what the node already sent: dropped.
    case stale
    /// Not a valid batch; the reason is for a person.
    case rejected(String)
}

/// Reassembles split batches and orders snapshots per node (proto/agent/v1/batch.proto):
/// the parts of one snapshot share (node, agent_instance, sequence); within one agent
/// instance a sequence must grow; a restarted agent (new instance) is accepted when its
/// snapshot was collected after the last one accepted. One snapshot per node is assembled at
/// a time: a part of a newer snapshot discards an incomplete older one (a lost part costs
/// that snapshot, never state).
public struct BatchAssembler: Sendable {
    public var maxParts: Int

    struct Accepted { var instance: String; var sequence: UInt64; var collectedNanos: Int64 }
    struct Assembly { var instance: String; var sequence: UInt64; var collectedNanos: Int64; var parts: [Agent_V1_Batch?]; var received: Int }

    private var accepted: [String: Accepted] = [:]
    private var assembling: [String: Assembly] = [:]
    /// Incomplete snapshots given up because a newer one started.
    public private(set) var abandoned = 0

    public init(maxParts: Int = 256) { self.maxParts = maxParts }

    /// - Parameter subjectNode: the node named by the subject (`agent.v1.<node>`); a batch
    ///   naming another node is refused (credentials may limit an agent to its own subject).
    public mutating func accept(_ batch: Agent_V1_Batch, subjectNode: String) -> BatchVerdict {
        if batch.nodeName.isEmpty { return .rejected("batch without node_name") }
        if batch.nodeName != subjectNode { return .rejected("batch for node \"\(batch.nodeName)\" on the subject of node \"\(subjectNode)\"") }
        if batch.agentInstance.isEmpty { return .rejected("batch without agent_instance") }
        if batch.sequence == 0 { return .rejected("batch with sequence 0") }
        let count = Int(max(batch.partCount, 1))
        if count > maxParts { return .rejected("batch split into \(count) parts (at most \(maxParts))") }
        if Int(batch.partIndex) >= count { return .rejected("part \(batch.partIndex) of \(count)") }
        if batch.partIndex == 0, !batch.hasNode { return .rejected("part 0 without node stats") }
        let collected = batch.collectedAt.seconds * 1_000_000_000 + Int64(batch.collectedAt.nanos)
        let node = batch.nodeName
        if let last = accepted[node], !Self.isNewer(batch.agentInstance, batch.sequence, collected, than: last) { return .stale }

        if count == 1 {
            assembling[node] = nil
            accepted[node] = Accepted(instance: batch.agentInstance, sequence: batch.sequence, collectedNanos: collected)
            return .complete(batch)
        }
        if var assembly = assembling[node] {
            if assembly.instance == batch.agentInstance, assembly.sequence == batch.sequence {
                if assembly.parts.count != count { return .rejected("part count changed from \(assembly.parts.count) to \(count) within one snapshot") }
                if assembly.parts[Int(batch.partIndex)] != nil { return .stale }
                assembly.parts[Int(batch.partIndex)] = batch
                assembly.received += 1
                if assembly.received < count { assembling[node] = assembly; return .pending }
                assembling[node] = nil
                accepted[node] = Accepted(instance: assembly.instance, sequence: assembly.sequence, collectedNanos: assembly.collectedNanos)
                return .complete(Self.merge(assembly.parts.map { $0! }))
            }
            let current = Accepted(instance: assembly.instance, sequence: assembly.sequence, collectedNanos: assembly.collectedNanos)
            if !Self.isNewer(batch.agentInstance, batch.sequence, collected, than: current) { return .stale }
            abandoned += 1
        }
        var parts = [Agent_V1_Batch?](repeating: nil, count: count)
        parts[Int(batch.partIndex)] = batch
        assembling[node] = Assembly(instance: batch.agentInstance, sequence: batch.sequence, collectedNanos: collected, parts: parts, received: 1)
        return .pending
    }

    /// Forgets a node (its state was dropped).
    public mutating func forget(node: String) {
        accepted[node] = nil
        assembling[node] = nil
    }

    static func isNewer(_ instance: String, _ sequence: UInt64, _ collectedNanos: Int64, than last: Accepted) -> Bool {
        instance == last.instance ? sequence > last.sequence : collectedNanos > last.collectedNanos
    }

    /// One snapshot from its parts: part 0's header and node stats, everyone's lists (every
    /// part carries the same header, `connections_dropped` included).
    static func merge(_ parts: [Agent_V1_Batch]) -> Agent_V1_Batch {
        var whole = parts[0]
        for part in parts.dropFirst() {
            whole.pods.append(contentsOf: part.pods)
            whole.connections.append(contentsOf: part.connections)
            whole.hostListening.append(contentsOf: part.hostListening)
            whole.collectors.append(contentsOf: part.collectors)
        }
        whole.partIndex = 0
        whole.partCount = 1
        return whole
    }
}
