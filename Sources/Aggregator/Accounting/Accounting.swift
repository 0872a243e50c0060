import Foundation
import TimeSeries

/// What a container instance is, from the labels the history recorded with it.
public struct InstanceProperties: Sendable, Equatable {
    public var namespace: String
    public var pod: String
    public var podUID: String
    public var container: String
    public var containerID: String
    public var node: String
    public var controllerKind: String
    public var controller: String
    public var image: String
    /// The pod's Kubernetes labels.
    public var labels: [String: String]

    public init(namespace: String, pod: String, podUID: String = "", container: String = "", containerID: String = "", node: String = "",
                controllerKind: String = "", controller: String = "", image: String = "", labels: [String: String] = [:]) {
        self.namespace = namespace
        self.pod = pod
        self.podUID = podUID
        self.container = container
        self.containerID = containerID
        self.node = node
        self.controllerKind = controllerKind
        self.controller = controller
        self.image = image
        self.labels = labels
    }

    /// From an entity's history labels (`label:<key>` entries are the pod's labels).
    init(history labels: [String: String]) {
        var podLabels: [String: String] = [:]
        for (key, value) in labels where key.hasPrefix(HistoryRows.labelPrefix) { podLabels[String(key.dropFirst(HistoryRows.labelPrefix.count))] = value }
        self.init(namespace: labels["namespace"] ?? "", pod: labels["pod"] ?? "", podUID: labels["pod_uid"] ?? "",
                  container: labels["container"] ?? "", containerID: labels["container_id"] ?? "", node: labels["node"] ?? "",
                  controllerKind: labels["workload_kind"] ?? "", controller: labels["workload_name"] ?? "", image: labels["image"] ?? "",
                  labels: podLabels)
    }
}

/// The history's entities of one family, with their properties, that a query reads.
public struct AccountedEntity: Sendable {
    public var id: EntityID
    public var properties: InstanceProperties
    /// Its first and last sample (Unix milliseconds).
    public var first: Int64
    public var last: Int64
}

extension HistoryStore {
    /// Entities of the pod or container family in the namespaces `admits` allows.
    public func accountedEntities(_ family: HistoryFamily, namespaces admits: @escaping @Sendable (String) -> Bool) -> [AccountedEntity] {
        let groups = entities(family, .namespaces(admits))
        var result: [AccountedEntity] = []
        result.reserveCapacity(groups.count)
        for ids in groups.values {
            for id in ids {
                guard let info = store.info(id) else { continue }
                result.append(AccountedEntity(id: id, properties: InstanceProperties(history: info.labels), first: info.first, last: info.last))
            }
        }
        return result.sorted { $0.id < $1.id }
    }

    /// Entities read per store call (bounds the memory of one call's figures).
    static let accountingBatch = 2048
    /// Pieces read per store call (a day of hours).
    static let accountingSpan = 24

    /// Visits `metrics` of `ids` over `windows`, window by window, a run of at most a day of
    /// pieces and a batch of entities at a time: `visit(pieceRange, figures)` where
    /// `figures[slot][id][i]` is piece `pieceRange.lowerBound + i`; `windowDone(w)` after
    /// window `w`'s last visit.
    public func scan(_ ids: [EntityID], metrics: [Int], windows: WindowPieces,
                     visit: (Range<Int>, [[EntityID: [BucketStats]]]) throws -> Void,
                     windowDone: (Int) throws -> Void) throws {
        var index = 0
        let pieces = windows.pieces
        while index < pieces.count {
            let window = pieces[index].window
            var end = index
            while end < pieces.count, pieces[end].window == window { end += 1 }
            var chunk = index
            while chunk < end {
                let upper = min(chunk + Self.accountingSpan, end)
                for batch in stride(from: 0, to: ids.count, by: Self.accountingBatch) {
                    let slice = Array(ids[batch..<min(batch + Self.accountingBatch, ids.count)])
                    try visit(chunk..<upper, try store.pieces(slice, metrics: metrics, pieces: pieces[chunk..<upper]))
                }
                chunk = upper
            }
            try windowDone(window)
            index = end
        }
    }
}
