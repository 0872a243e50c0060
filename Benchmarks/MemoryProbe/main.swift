import Aggregator
import BenchmarkCluster
import Foundation
import Logging
import MallocInfo
import Messaging
import NodeAgent
import Wire

// Where the aggregator's memory goes at Kubernetes' limits: allocator bytes held (glibc's
// mallinfo2, not the resident set) after each part has taken two rounds of every node's
// snapshot, as the aggregator would. Not a benchmark: a probe, printed as a table.
//   cd Benchmarks && swift run -c release MemoryProbe [nodes] [pods per node] [history rounds] [connections per pod] [listed]
// (history rounds beyond the first two: each adds a row to every series, 10 s apart, as the
// head holds them until a seal; 30 is a 5-minute segment. listed 1: an API server lists
// every pod, as the informers do in the aggregator, and every part reads it; 0, the default:
// no API server.)
let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let nodes = arguments.first ?? 5000
let podsPerNode = arguments.dropFirst().first ?? 30
let pods = nodes * podsPerNode
let historyRounds = max(arguments.dropFirst(2).first ?? 2, 2)
let connectionsPerPod = arguments.dropFirst(3).first ?? 2
let listed = (arguments.dropFirst(4).first ?? 0) != 0
let logger = Logger(label: "probe")
let simulation = SimulatedNodes(configuration: .init(nodes: nodes, podsPerNode: podsPerNode, users: 100, connectionsPerPod: connectionsPerPod), bus: InProcessBus(), logger: logger)
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-memory-probe-\(getpid())")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }

func held() -> Int { Int(malloc_info_allocated_bytes()) }
func report(_ part: String, _ bytes: Int) {
    print(String(format: "%-44@ %8.1f MiB %8.0f bytes per pod", part as NSString, Double(bytes) / 1_048_576, Double(bytes) / Double(pods)))
}

let state = ClusterState()
let graph = ConnectionGraph()
let history = try HistoryStore(path: directory.appendingPathComponent("history.sqlite").path, logger: logger)
var parts: [(String, Int, Int)] = []
let start = 1_700_000_000.0
// The API server's pods (this probe's plain copy; the informers' cache is compact: see
// InformerBenchmarks), made before the parts are measured.
let cluster: (any ClusterView)? = listed ? ListedPods((0..<nodes).map { simulation.batch(node: $0, sequence: 1, time: start) }) : nil
// Each part takes every node's snapshot in a pass of its own (mallinfo2 walks the heap: once
// per pass, not per node).
for round in 1...2 {
    let time = start + Double(round * 10)
    func pass(_ name: String, _ body: (Agent_V1_Batch) -> Void) {
        let before = held()
        for node in 0..<nodes { body(simulation.batch(node: node, sequence: UInt64(round), time: time)) }
        parts.append((name, round, held() - before))
    }
    pass("state") { state.ingest($0, receivedAt: time) }
    pass("graph (connections and pod identities)") { graph.ingest($0, receivedAt: time) }
    pass("history (entities, index, head rows)") { history.record($0, cluster: cluster) }
    // The refresh after the first round builds the graph's resolution index (the second
    // round's connections resolve their remote ends to pods through it, as in the
    // aggregator, where a refresh runs every 5 s: without it every remote end was an
    // external vertex, 150,000 of them).
    if round == 1 {
        let before = held()
        _ = graph.refresh(now: time + 1, version: 0, cluster: cluster)
        parts.append(("graph, the first refresh (resolution index)", 1, held() - before))
    }
}
// The next maintenance (every 30 s) saves the new entities: their labels leave memory.
do {
    let before = held()
    try history.store.maintain(now: Int64(start + 25) * 1000)
    parts.append(("history, new entities saved at the next maintenance", 2, held() - before))
}
if historyRounds > 2 {
    let before = held()
    for round in 3...historyRounds {
        for node in 0..<nodes { history.record(simulation.batch(node: node, sequence: UInt64(round), time: start + Double(round * 10)), cluster: cluster) }
    }
    parts.append(("history, the head's further rows", 3, held() - before))
}
// Round 1 creates every part; round 2 replaces the state and the graph's tables and adds a
// row to each history series.
@MainActor func total(_ name: String, _ round: Int) -> Int { parts.filter { $0.0 == name && $0.1 == round }.reduce(0) { $0 + $1.2 } }
// A peak: the resident set's high-water mark, reset just before (clear_refs 5), over the
// resident set then.
func status(_ field: String) -> Int {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}
func seconds(since start: ContinuousClock.Instant) -> Double { Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000 }
func resetPeak() -> Int {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    return status("VmRSS")
}
var before = held()
var residentBefore = resetPeak()
let viewStarted = ContinuousClock.now
let view = LiveViewBuilder().build(version: 1, now: start + 21, nodes: state.snapshot(), cluster: cluster)
let viewSeconds = seconds(since: viewStarted)
report("live view (one; two are alive during a refresh)", held() - before)
print(String(format: "  live view, the build's time: %.2f s", viewSeconds))
report("live view, the build's resident peak over the resident set before it", status("VmHWM") - residentBefore)
before = held()
let graphView = graph.refresh(now: start + 21, version: 1, cluster: cluster)
report("graph refresh (view, history samples; the first round's unresolved edges freed)", held() - before)
print("  (\(graphView.view.nodes.count) vertices, \(graphView.view.edges.count) edges, \(graphView.history.count) edge histories)")
print("held in all: \(held() / 1_048_576) MiB. By part, first round (created) and second (growth):")
report("  graph, the first refresh (resolution index)", total("graph, the first refresh (resolution index)", 1))
for name in ["state", "graph (connections and pod identities)", "history (entities, index, head rows)"] {
    report("  " + name + ", round 1", total(name, 1))
    report("  " + name + ", round 2", total(name, 2))
}
report("  history, new entities saved at the next maintenance (change)", total("history, new entities saved at the next maintenance", 2))
if historyRounds > 2 { report("  history, rounds 3-\(historyRounds) (the head's rows)", total("history, the head's further rows", 3)) }
// Every row sealed into chunks: the history's floor between seals (entities, index, labels
// of entities not yet saved: none now).
before = held()
// The seal's peak, and its time (one thread, nothing else running).
residentBefore = resetPeak()
let sealStarted = ContinuousClock.now
try history.store.maintain(now: Int64(start + Double(historyRounds * 10) + 900) * 1000)
let sealSeconds = seconds(since: sealStarted)
report("  history, after a seal of every row (change)", held() - before)
report("  history, the seal's resident peak over the resident set before it", status("VmHWM") - residentBefore)
print(String(format: "  history, the seal's time: %.2f s", sealSeconds))
withExtendedLifetime((view, graphView, state, graph, history, cluster)) {}
