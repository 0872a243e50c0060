import Aggregator
import Foundation
import Logging
import TimeSeries

// Times the phases of an accounting query over the benchmark's cached history
// (run AccountingBenchmarks once first). Not a benchmark: a probe for where time goes.
let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("clustermon-accounting-bench-v1")
var configuration = HistoryConfiguration()
configuration.gapLimit = .seconds(3600)
configuration.segment = .seconds(6 * 3600)
configuration.retention = .seconds(400 * 86400)
configuration.maxBytes = 64 << 30
let history = try HistoryStore(path: directory + "/history.sqlite", configuration: configuration, logger: Logger(label: "probe"))
let start: Int64 = 1_790_812_800_000
func time<T>(_ label: String, _ body: () throws -> T) rethrows -> T {
    let began = ContinuousClock.now
    let result = try body()
    print(label, ContinuousClock.now - began)
    return result
}
for _ in 0..<3 {
    let entities = time("accountedEntities(container)") { try! history.accountedEntities(.container, namespaces: { _ in true }) }
    _ = time("entities(container, all)") { history.entities(.container, .namespaces { _ in true }) }
    time("30 x summaryColumns(1 field)") {
        for day in 0..<30 { _ = try! history.store.summaryColumns(day: start / 86_400_000 + Int64(day), family: 3, fields: [(0, .increase)]) }
    }
    time("30 x summaryColumns(8 fields)") {
        for day in 0..<30 { _ = try! history.store.summaryColumns(day: start / 86_400_000 + Int64(day), family: 3, fields: (0..<8).map { _ in (0, .increase) }) }
    }
    var query = AllocationQuery(edges: stride(from: start, through: start + 30 * 86_400_000, by: 86_400_000).map { $0 })
    query.aggregate = [.namespace]
    _ = time("allocations(month, day, namespace)") { try! history.allocations(query) }
    _ = time("kubeAppSums") { try! history.kubeAppSums("cpu/usage_rate", grouping: .allNamespace, namespaces: { _ in true }, begin: start, end: start + 30 * 86_400_000) }
    print(entities.count)
}

// Profile target: the month query alone, warmed.
if ProcessInfo.processInfo.environment["REPEAT"] != nil {
    var query = AllocationQuery(edges: stride(from: start, through: start + 30 * 86_400_000, by: 86_400_000).map { $0 })
    query.aggregate = [.namespace]
    _ = time("10 x allocations") { for _ in 0..<10 { _ = try! history.allocations(query) } }
}
