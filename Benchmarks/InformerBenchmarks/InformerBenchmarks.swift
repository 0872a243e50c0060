import Benchmark
import Foundation
import Kubernetes

/// Resident memory of this process, from /proc/self/statm.
func residentBytes() -> Int {
    let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
    return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], timeUnits: .milliseconds, maxDuration: .seconds(5))
    let page = [UInt8](try! Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".inputs/pods-page-500.json")))

    // One API server list page as the informer reads it: every item decoded and kept raw
    // (kind, apiVersion and managedFields stripped). 150,000 pods are 300 such pages.
    Benchmark("List page decode, 500 pods (\(page.count / 1024) KiB)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try Informer<Pod>.decodePage(page)) }
    }

    // Watch events as the informer applies them: decode the line, update the cache.
    let lines: [[UInt8]] = {
        let items = (try! JSONSerialization.jsonObject(with: Data(page)) as! [String: Any])["items"] as! [[String: Any]]
        return items.enumerated().map { index, item in
            var object = item
            var metadata = object["metadata"] as! [String: Any]
            metadata["resourceVersion"] = String(1000 + index)
            object["metadata"] = metadata
            object["kind"] = "Pod"
            object["apiVersion"] = "v1"
            return [UInt8](try! JSONSerialization.data(withJSONObject: ["type": "MODIFIED", "object": object]))
        }
    }()
    Benchmark("Watch events decoded and applied, 500 pods", configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal])) { benchmark in
        let client = try APIClient(config: APIServerConfig(server: "https://127.0.0.1:1"))
        let informer = Informer<Pod>(client: client, logger: .init(label: "bench"))
        for _ in benchmark.scaledIterations {
            for line in lines { try informer.apply(try WatchEvent<Pod>.decode(line)) }
        }
        try await client.shutdown()
    }

    // 150,000 cached pods: resident memory grown per pod, with the objects kept as the cache
    // keeps them (decoded fields + raw bytes).
    Benchmark("Cache of 150,000 pods", configuration: .init(
        metrics: [.wallClock, .peakMemoryResident, .custom("resident bytes per cached pod", useScalingFactor: false)],
        maxIterations: 1
    )) { benchmark in
        let before = residentBytes()
        var cache: [String: Informer<Pod>.Entry] = [:]
        cache.reserveCapacity(150_000)
        var n = 0
        for _ in 0..<300 {
            for entry in try Informer<Pod>.decodePage(page).items {
                cache["ns-\(n % 1000)/pod-\(n)"] = entry
                n += 1
            }
        }
        benchmark.measurement(.custom("resident bytes per cached pod", useScalingFactor: false), (residentBytes() - before) / n)
        blackHole(cache)
    }
}
