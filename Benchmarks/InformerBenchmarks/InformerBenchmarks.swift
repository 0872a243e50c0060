import Benchmark
import Foundation
import Kubernetes
import MallocInfo

/// Resident memory of this process, from /proc/self/statm.
func residentBytes() -> Int {
    let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
    return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], timeUnits: .milliseconds, maxDuration: .seconds(5))
    let page = [UInt8](try! Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".inputs/pods-page-500.json")))

    // One API server list page as the informer reads it: every item decoded (repeated
    // values shared) and kept raw (kind, apiVersion and managedFields stripped, deflated
    // against the list's dictionary). 150,000 pods are 300 such pages.
    Benchmark("List page decode, 500 pods (\(page.count / 1024) KiB)") { benchmark in
        var codec = InformerCodec()
        _ = try Informer<Pod>.decodePage(page, codec: &codec)  // the first page of a list sets the dictionary
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try Informer<Pod>.decodePage(page, codec: &codec)) }
        benchmark.stopMeasurement()
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

    // 150,000 distinct pods (the page's names and uids rewritten per page) listed into a
    // cache as the informer keeps it: one codec for the whole list, entries by namespace and
    // name. Bytes per cached pod are what the allocator holds after the list (the cache, the
    // interner and the dictionary) less what it held before; the wall clock is the list's
    // CPU time (one thread).
    Benchmark("Cache of 150,000 pods", configuration: .init(
        metrics: [.wallClock, .peakMemoryResident,
                  .custom("allocated bytes per cached pod", useScalingFactor: false),
                  .custom("stored raw bytes per pod", useScalingFactor: false),
                  .custom("list decode ms (300 pages)", useScalingFactor: false)],
        timeUnits: .seconds, maxIterations: 1
    )) { benchmark in
        let pages = 300
        func distinctPage(_ number: Int) -> [UInt8] {
            var bytes = page
            let uid = Array("00000000-0000-0000-0000-".utf8), name = Array("-p00000-".utf8)
            let uidMark = Array(String(format: "%08d-0000-0000-0000-", number).utf8)
            let nameMark = Array(String(format: "-p%05d-", number).utf8)
            var i = 0
            while i + uid.count <= bytes.count {
                if bytes[i] == uid[0], bytes[i..<i + uid.count].elementsEqual(uid) {
                    bytes.replaceSubrange(i..<i + uid.count, with: uidMark); i += uid.count
                } else if bytes[i] == name[0], bytes[i..<i + name.count].elementsEqual(name) {
                    bytes.replaceSubrange(i..<i + name.count, with: nameMark); i += name.count
                } else { i += 1 }
            }
            return bytes
        }
        malloc_info_trim()
        let before = malloc_info_allocated_bytes()
        var cache: [Informer<Pod>.Key: Informer<Pod>.Entry] = [:]
        var codec = InformerCodec()
        var stored = 0
        var decoding = Duration.zero
        let clock = ContinuousClock()
        for number in 0..<pages {
            let body = distinctPage(number)
            let start = clock.now
            for entry in try Informer<Pod>.decodePage(body, codec: &codec).items {
                cache[Informer<Pod>.Key(entry.object.metadata)] = entry
                stored += entry.raw.storedCount
            }
            decoding += clock.now - start
        }
        malloc_info_trim()
        let allocated = malloc_info_allocated_bytes() - before
        precondition(cache.count == pages * 500, "pods collided: \(cache.count)")
        benchmark.measurement(.custom("allocated bytes per cached pod", useScalingFactor: false), allocated / cache.count)
        benchmark.measurement(.custom("stored raw bytes per pod", useScalingFactor: false), stored / cache.count)
        benchmark.measurement(.custom("list decode ms (300 pages)", useScalingFactor: false), Int(decoding / .milliseconds(1)))
        blackHole(cache)
        blackHole(codec.interner.stringCount)
    }
}
