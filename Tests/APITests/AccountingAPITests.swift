import Foundation
import HTTPTypes
import Hummingbird
import Kubernetes
import Messaging
import HummingbirdTesting
import Logging
import Prometheus
import Testing
import TestSupport
@testable import API
@testable import Aggregator

private let secret = "accounting-secret-of-32-bytes-or-more"
private let verifier = JWTVerifier(secret: secret)
/// 2023-11-15T00:00:00Z, a Wednesday.
private let t0: Int64 = 1_700_006_400_000 / 86_400_000 * 86_400_000

/// Two hours of history in three tenants' namespaces and kube-system, a pod named `web` in
/// two of them; the clock fixed two hours after t0.
final class AccountingFixture: Sendable {
    let cluster = StaticClusterView()
    let history: HistoryStore
    let directory: String

    init() throws {
        try cluster.add(.namespaces, #"{"metadata":{"name":"compute-u1-web","labels":{"clustermon.io/owner":"u1"}}}"#)
        try cluster.add(.namespaces, #"{"metadata":{"name":"compute-u1-x-web","labels":{"clustermon.io/owner":"u1-x"}}}"#)
        try cluster.add(.namespaces, #"{"metadata":{"name":"kube-system"}}"#)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-accounting-api-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        history = try HistoryStore(path: directory + "/history.sqlite", logger: Logger(label: "test"))
        // web in u1 at half a core, web in u1-x at a quarter, dns in kube-system at a tenth;
        // 1 GiB each; every 10 s for two hours.
        let pods: [(String, String, UInt64)] = [("compute-u1-web", "web", 500_000), ("compute-u1-x-web", "web", 250_000), ("kube-system", "dns", 100_000)]
        var time = t0
        while time < t0 + 7_200_000 {
            let elapsed = UInt64(time - t0)
            let snapshot = pods.enumerated().map { index, pod in
                PodSnapshot(namespace: pod.0, name: pod.1, uid: "uid-\(index)",
                            containers: [ContainerSnapshot(id: String(repeating: String(index), count: 64), cpu: elapsed * pod.2, memory: 1 << 30,
                                                           cpuRequest: 1000, memoryRequest: 2 << 30)],
                            rx: elapsed, tx: elapsed, labels: ["app": pod.1])
            }
            history.record(snapshotBatch(time: time, pods: snapshot), cluster: cluster)
            time += 10_000
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func configuration(credentials: Bool = true, clusterName: String = "", prices: PriceTable? = nil) -> APIConfiguration {
        var configuration = APIConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0), registry: PrometheusCollectorRegistry(),
                                             cluster: cluster, jwtSecret: secret)
        configuration.history = history
        configuration.kubeAppCredentials = credentials ? KubeAppCredentials(username: "billing", password: "s3cret") : nil
        configuration.clusterName = clusterName
        configuration.prices = prices
        configuration.now = { t0 + 7_200_000 }
        return configuration
    }
}

private let kubeApp: HTTPFields = [HTTPField.Name("X-USERNAME")!: "billing", HTTPField.Name("X-PASSWORD")!: "s3cret"]

private func bearer(_ user: String, admin: Bool = false) throws -> HTTPFields {
    [.authorization: "Bearer " + (try verifier.sign(userID: user, isAdmin: admin, ttl: .seconds(600)))]
}

private func json(_ buffer: ByteBuffer) -> Any? { try? JSONSerialization.jsonObject(with: Data(buffer: buffer), options: [.fragmentsAllowed]) }

/// Kube-App's `{"code","message"}` as one text, `400 Bad request`.
private func message(_ response: TestResponse) -> String? {
    guard let object = json(response.body) as? [String: Any], object.count == 2, let code = object["code"] as? Int, let text = object["message"] as? String else { return nil }
    return "\(code) \(text)"
}

private func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

@Suite("Accounting API") struct AccountingAPITests {
    /// Kube-App's answers, message by message and code by code, in its order of checks:
    /// method, credentials, metric.
    @Test func kubeAppContract() async throws {
        let fixture = try AccountingFixture()
        let app = Application(router: buildRouter(fixture.configuration()))
        try await app.test(.router) { client in
            for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
                try await client.execute(uri: "/api/cpu/usage_rate", method: method) { response in
                    #expect(response.status == .badRequest)
                    #expect(message(response) == "400 Bad request")
                }
            }
            try await client.execute(uri: "/api/no/such/metric", method: .get) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/api/no/such/metric", method: .post) { response in
                #expect(message(response) == "401 You are not authorized")
            }
            try await client.execute(uri: "/api/cpu/usage_rate", method: .post, headers: [HTTPField.Name("X-USERNAME")!: "billing"]) { response in
                #expect(response.status == .unauthorized)
                #expect(message(response) == "401 You are not authorized")
            }
            try await client.execute(uri: "/api/cpu/usage_rate", method: .post,
                                     headers: [HTTPField.Name("X-USERNAME")!: "billing", HTTPField.Name("X-PASSWORD")!: "wrong"]) { response in
                #expect(message(response) == "401 Username and password is not recognized")
            }
            try await client.execute(uri: "/api/cpu/usage_rate", method: .post, headers: [.authorization: "Bearer not.a.token"]) { response in
                #expect(message(response) == "401 Username and password is not recognized")
            }
            try await client.execute(uri: "/api/no/such/metric", method: .post, headers: kubeApp) { response in
                #expect(response.status == .notFound)
                #expect(message(response) == "404 Request not found")
            }
            try await client.execute(uri: "/api", method: .get) { response in
                #expect(response.status == .movedPermanently)
                #expect(response.headers[.location] == "/api/")
            }
            try await client.execute(uri: "/api/", method: .post, headers: kubeApp) { response in
                #expect(message(response) == "404 Request not found")
            }
            // Malformed bodies are refused, never read as the defaults.
            for bad in [#"{"limit": true}"#, #"{"limit": "ten"}"#, #"{"limit": 0}"#, #"{"limit": 1.5}"#, "[1]", "{", #"{"page": 2}"#,
                        #"{"agg": "all"}"#, #"{"namespace": 3}"#, #"{"timeBeginInterval": "2023-02-30"}"#,
                        #"{"timeBeginInterval": "yesterday"}"#, #"{"limit": "0010"}"#, #"{"limit": "+5"}"#,
                        #"{"timeBeginInterval": "2023-11-15T01:00:00+24:00"}"#, #"{"timeEndInterval": "2023-11-15 1:00:00"}"#] {
                try await client.execute(uri: "/api/cpu/usage_rate", method: .post, headers: kubeApp, body: body(bad)) { response in
                    #expect(response.status == .badRequest, "\(bad)")
                    #expect(message(response)?.hasPrefix("400 Bad request: ") == true, "\(bad)")
                }
            }
            // The default namespace has nothing: Kube-App's empty answer.
            try await client.execute(uri: "/api/memory/usage", method: .post, headers: kubeApp) { response in
                #expect(response.status == .ok)
                #expect(message(response) == "200 Query returns empty set")
            }
            // Exclusive bounds, as Kube-App's query: a beginning at or after the end selects nothing.
            try await client.execute(uri: "/api/memory/usage", method: .post, headers: kubeApp,
                                     body: body(#"{"namespace":"compute-u1-web","timeBeginInterval":"2023-11-15 02:00:00","timeEndInterval":"2023-11-15 01:00:00"}"#)) { response in
                #expect(response.status == .ok)
                #expect(message(response) == "200 Query returns empty set")
            }
            // GPU memory is in the catalog, with nothing to say yet.
            try await client.execute(uri: "/api/gpu/usage", method: .post, headers: kubeApp, body: body(#"{"namespace":"compute-u1-web"}"#)) { response in
                #expect(message(response) == "200 Query returns empty set")
            }
        }
    }

    @Test func kubeAppRawRows() async throws {
        let fixture = try AccountingFixture()
        let app = Application(router: buildRouter(fixture.configuration(clusterName: "epfl")))
        try await app.test(.router) { client in
            // Default: the last 60 minutes, newest first, 100 rows at most.
            let rows = try await client.execute(uri: "/api/memory/usage", method: .post, headers: kubeApp,
                                                body: body(#"{"namespace":"compute-u1-web"}"#)) { json($0.body) as? [[String: Any]] }
            let list = try #require(rows)
            #expect(list.count == 100)
            let first = try #require(list.first)
            #expect(Set(first.keys) == ["time", "value", "type", "pod_name", "namespace_name", "container_name", "nodename", "labels",
                                        "container_base_image", "cluster_name"])
            #expect(first["time"] as? String == "2023-11-15T01:59:50Z")
            #expect(list[1]["time"] as? String == "2023-11-15T01:59:40Z")
            #expect(first["value"] as? Int == 1 << 30)
            #expect(first["type"] as? String == "pod_container" && first["pod_name"] as? String == "web" && first["container_name"] as? String == "main")
            #expect(first["nodename"] as? String == "n1" && first["labels"] as? String == "app:web" && first["cluster_name"] as? String == "epfl")
            #expect(first["container_base_image"] as? String == "registry/main:1")
            // limit as a number or a string; the window's bounds exclusive.
            for limit in ["3", #""3""#] {
                let rows = try await client.execute(uri: "/api/cpu/usage_rate", method: .post, headers: kubeApp,
                                                    body: body(#"{"namespace":"compute-u1-web","limit":\#(limit),"timeBeginInterval":"2023-11-15T01:00:00Z","timeEndInterval":"2023-11-15 01:00:40"}"#)) {
                    json($0.body) as? [[String: Any]]
                }
                #expect(rows?.map { $0["time"] as? String } == ["2023-11-15T01:00:30Z", "2023-11-15T01:00:20Z", "2023-11-15T01:00:10Z"])
                #expect(rows?.allSatisfy { $0["value"] as? Double == 500 } == true)
            }
            // The network is the pod's: rows of type pod, without container tags.
            let network = try await client.execute(uri: "/api/network/rx", method: .post, headers: kubeApp,
                                                   body: body(#"{"namespace":"compute-u1-web","limit":1}"#)) { json($0.body) as? [[String: Any]] }
            #expect(network?.first?["type"] as? String == "pod")
            #expect(network?.first?["container_name"] is NSNull)
        }
    }

    @Test func kubeAppSumsAreExactAndGrouped() async throws {
        let fixture = try AccountingFixture()
        let app = Application(router: buildRouter(fixture.configuration()))
        let hour = #""timeBeginInterval":"2023-11-15T00:00:00Z","timeEndInterval":"2023-11-15T01:00:00Z""#
        try await app.test(.router) { client in
            func sums(_ agg: String, namespace: String = "compute-u1-web", metric: String = "cpu/usage_rate", headers: HTTPFields = kubeApp) async throws -> [[String: Any]] {
                try await client.execute(uri: "/api/\(metric)", method: .post, headers: headers,
                                         body: body(#"{"namespace":"\#(namespace)","agg":"\#(agg)",\#(hour)}"#)) { response in
                    #expect(response.status == .ok)
                    return json(response.body) as? [[String: Any]] ?? []
                }
            }
            // All namespaces but kube-system; half a core for an hour = 30,000 millicore-minutes.
            let namespaces = try await sums("all-namespace")
            #expect(namespaces.map { $0["namespace_name"] as? String } == ["compute-u1-web", "compute-u1-x-web"])
            #expect(namespaces.map { $0["sum"] as? Double } == [30_000, 15_000])
            #expect(namespaces.allSatisfy { $0["time"] as? String == "2023-11-15T00:00:00Z" && $0["pod_name"] == nil })
            // Two pods named web stay two rows.
            let pods = try await sums("all-pod")
            #expect(pods.map { "\($0["namespace_name"]!)/\($0["pod_name"]!)" } == ["compute-u1-web/web", "compute-u1-x-web/web"])
            let one = try await sums("pod-by-namespace", namespace: "compute-u1-x-web")
            #expect(one.count == 1 && one[0]["sum"] as? Double == 15_000)
            // Memory in byte-minutes; a counter's increase, exact.
            let memory = try await sums("pod-by-namespace", metric: "memory/usage")
            #expect(memory[0]["sum"] as? Double == 60 * Double(1 << 30))
            let counter = try await sums("pod-by-namespace", metric: "cpu/usage")
            #expect(counter[0]["sum"] as? Int == 1_800_000_000_000)
            // An end alone: the hour before it (Kube-App ignored it; here it means what it says).
            let endOnly = try await client.execute(uri: "/api/cpu/usage_rate", method: .post, headers: kubeApp,
                                                   body: body(#"{"agg":"all-namespace","timeEndInterval":"2023-11-15T01:00:00Z"}"#)) { json($0.body) as? [[String: Any]] ?? [] }
            #expect(endOnly.map { $0["sum"] as? Double } == [30_000, 15_000])
            // A window of centuries costs what its data costs, and sums the same.
            let centuries = try await client.execute(uri: "/api/cpu/usage_rate", method: .post, headers: kubeApp,
                                                     body: body(#"{"agg":"all-namespace","timeBeginInterval":"0001-01-01","timeEndInterval":"2023-11-15T01:00:00Z"}"#)) { json($0.body) as? [[String: Any]] ?? [] }
            #expect(centuries.map { $0["sum"] as? Double } == namespaces.map { $0["sum"] as? Double })
            // A user's token: their namespaces only, others refused in Kube-App's shape.
            let u1 = try bearer("u1")
            let own = try await sums("all-namespace", headers: u1)
            #expect(own.map { $0["namespace_name"] as? String } == ["compute-u1-web"])
            for agg in ["pod-by-namespace", "none"] {
                let text = agg == "none" ? #"{"namespace":"compute-u1-x-web"}"# : #"{"namespace":"compute-u1-x-web","agg":"\#(agg)"}"#
                try await client.execute(uri: "/api/cpu/usage_rate", method: .post, headers: u1, body: body(text)) { response in
                    #expect(response.status == .forbidden)
                    #expect(message(response) == "403 Forbidden")
                }
            }
            // An admin's token sees everything, as Kube-App's credentials do.
            let all = try await sums("all-namespace", headers: bearer("root", admin: true))
            #expect(all.count == 2)
        }
    }

    /// Without API_USERNAME/API_PASSWORD the headers are never accepted.
    @Test func kubeAppWithoutCredentialsConfigured() async throws {
        let fixture = try AccountingFixture()
        let app = Application(router: buildRouter(fixture.configuration(credentials: false)))
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/cpu/usage_rate", method: .post, headers: kubeApp) { response in
                #expect(message(response) == "401 Username and password is not recognized")
            }
            try await client.execute(uri: "/api/v2/allocation", method: .get, headers: kubeApp) { #expect($0.status == .unauthorized) }
        }
    }

    /// Every window word and step against a fixed clock (Tuesday 2026-12-01 17:45:30 UTC).
    @Test func windowsAndSteps() throws {
        let now = UnixTime(rfc3339: "2026-12-01T17:45:30Z")!.seconds * 1000
        func window(_ text: String) throws -> [String] {
            try AllocationController.edges(window: text, step: nil, now: now).map(AllocationController.time)
        }
        #expect(try window("today") == ["2026-12-01T00:00:00Z", "2026-12-01T17:45:30Z"])
        #expect(try window("yesterday") == ["2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z"])
        #expect(try window("week") == ["2026-11-29T00:00:00Z", "2026-12-01T17:45:30Z"])
        #expect(try window("lastweek") == ["2026-11-22T00:00:00Z", "2026-11-29T00:00:00Z"])
        #expect(try window("month") == ["2026-12-01T00:00:00Z", "2026-12-01T17:45:30Z"])
        #expect(try window("lastmonth") == ["2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"])
        #expect(try window("15m") == ["2026-12-01T17:30:30Z", "2026-12-01T17:45:30Z"])
        #expect(try window("24h") == ["2026-11-30T17:45:30Z", "2026-12-01T17:45:30Z"])
        #expect(try window("7d") == ["2026-11-24T17:45:30Z", "2026-12-01T17:45:30Z"])
        #expect(try window("2w") == ["2026-11-17T17:45:30Z", "2026-12-01T17:45:30Z"])
        #expect(try window("2026-11-01T00:00:00Z,2026-11-02T12:00:00Z") == ["2026-11-01T00:00:00Z", "2026-11-02T12:00:00Z"])
        #expect(try window("1796083200,1796169600") == ["2026-12-01T00:00:00Z", "2026-12-01T17:45:30Z"])   // never past now
        for bad in ["", "tomorrow", "0m", "5x", "2026-12-02T00:00:00Z,2026-12-03T00:00:00Z", "2026-11-02T00:00:00Z,2026-11-01T00:00:00Z", "1,2,3"] {
            #expect(throws: APIFailure.self, "\(bad)") { try AllocationController.edges(window: bad, step: nil, now: now) }
        }
        let days = try AllocationController.edges(window: "lastweek", step: "day", now: now).map(AllocationController.time)
        #expect(days.count == 8 && days[1] == "2026-11-23T00:00:00Z")
        let months = try AllocationController.edges(window: "2026-10-15T00:00:00Z,2026-12-31T00:00:00Z", step: "month", now: now).map(AllocationController.time)
        #expect(months == ["2026-10-15T00:00:00Z", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-12-01T17:45:30Z"])
        let weeks = try AllocationController.edges(window: "month", step: "week", now: now).map(AllocationController.time)
        #expect(weeks == ["2026-12-01T00:00:00Z", "2026-12-01T17:45:30Z"])
        let hours = try AllocationController.edges(window: "today", step: "6h", now: now).map(AllocationController.time)
        #expect(hours == ["2026-12-01T00:00:00Z", "2026-12-01T06:00:00Z", "2026-12-01T12:00:00Z", "2026-12-01T17:45:30Z"])
        #expect(throws: APIFailure.self) { try AllocationController.edges(window: "lastmonth", step: "1m", now: now) }
        #expect(throws: APIFailure.self) { try AllocationController.edges(window: "today", step: "fortnight", now: now) }
    }

    @Test func allocationAnswersPerStepAndGroup() async throws {
        let fixture = try AccountingFixture()
        let prices = PriceTable(cpuCoreHour: 0.05, ramGiBHour: 0.01, gpuHour: 1, networkGiB: 0.02, currency: "CHF")
        let app = Application(router: buildRouter(fixture.configuration(clusterName: "epfl", prices: prices)))
        let window = "2023-11-15T00:00:00Z,2023-11-15T02:00:00Z"
        try await app.test(.router) { client in
            let answer = try await client.execute(uri: "/api/v2/allocation?window=\(window)&step=1h&aggregate=namespace", method: .get, headers: kubeApp) {
                #expect($0.status == .ok)
                return json($0.body) as? [String: Any]
            }
            let document = try #require(answer)
            #expect(document["code"] as? Int == 200 && document["status"] as? String == "success")
            let data = try #require(document["data"] as? [[String: [String: Any]]])
            #expect(data.count == 2 && Set(data[0].keys) == ["compute-u1-web", "compute-u1-x-web", "kube-system"])
            let web = try #require(data[1]["compute-u1-web"])
            #expect(web["cpuCoreNanoseconds"] as? Int == 1_800_000_000_000 - 500_000 * 10_000)   // the last 10 s are not sampled yet
            #expect(abs((web["cpuCoreUsageAverage"] as? Double ?? 0) - 0.5) < 1e-9)
            #expect(web["coverage"] as? Double == 1 && web["containerInstances"] as? Int == 1 && web["restarts"] as? Int == 0)
            #expect((web["properties"] as? [String: String]) == ["cluster": "epfl", "namespace": "compute-u1-web", "node": "n1", "pod": "web",
                                                                  "container": "main", "controllerKind": "ReplicaSet", "controller": "web-rs"])
            for field in ["name", "window", "start", "end", "minutes", "cpuCoreRequestAverage", "cpuCoreUsageMax", "cpuCoreHours", "cpuEfficiency",
                          "ramByteRequestAverage", "ramByteUsageAverage", "ramByteUsageMax", "ramByteHours", "ramEfficiency", "gpuCount", "gpuHours",
                          "networkReceiveBytes", "networkTransferBytes", "pvBytes", "pvByteHours", "totalEfficiency",
                          "cpuCost", "ramCost", "gpuCost", "networkCost", "totalCost"] {
                #expect(web[field] != nil, "\(field)")
            }
            // basis max: the 1-core request; 0.05 per core-hour.
            #expect(abs((web["cpuCost"] as? Double ?? 0) - (web["cpuCoreHours"] as? Double ?? 0) * 0.05) < 1e-12)
            let meta = try #require(document["meta"] as? [String: Any])
            #expect(meta["basis"] as? String == "max" && meta["step"] as? String == "1h")
            // The same as CSV, as POST with a JSON body.
            let csv = try await client.execute(uri: "/api/v2/allocation", method: .post, headers: kubeApp,
                                               body: body(#"{"window":"\#(window)","aggregate":"pod","accumulate":true,"format":"csv"}"#)) { response in
                #expect(response.headers[.contentType] == "text/csv; charset=utf-8")
                return String(buffer: response.body)
            }
            let lines = csv.split(separator: "\r\n").map(String.init)
            #expect(lines.first == (AllocationController.csvHeader + ["CPUCost", "RAMCost", "GPUCost", "NetworkCost", "TotalCost"]).joined(separator: ","))
            #expect(lines.count == 4)
            #expect(lines[1].hasPrefix("2023-11-15T00:00:00Z,compute-u1-web,ReplicaSet,web-rs,web,main,0.5,1,"))
            // Bad parameters: 400 naming the problem.
            for query in ["window=fortnight", "step=often", "aggregate=team", "basis=most", "format=xml", "accumulate=yes", "filter=namespace",
                          "filter=colour:\"red\"", "filter=namespace:\"a", "page=2"] {
                try await client.execute(uri: "/api/v2/allocation?\(query)", method: .get, headers: kubeApp) { response in
                    #expect(response.status == .badRequest, "\(query)")
                    #expect(response.headers[.contentType] == "application/json")
                }
            }
        }
    }

    /// A user's token gets only their namespaces: through every parameter, in every total.
    @Test func allocationTenants() async throws {
        let fixture = try AccountingFixture()
        let app = Application(router: buildRouter(fixture.configuration()))
        let window = "window=2023-11-15T00:00:00Z,2023-11-15T02:00:00Z"
        try await app.test(.router) { client in
            let u1 = try bearer("u1")
            for query in ["", "&aggregate=namespace", "&aggregate=cluster", "&aggregate=owner", "&aggregate=label:app", "&aggregate=pod&step=1h",
                          "&filter=label%5Bapp%5D:%22web%22", "&aggregate=node&format=csv"] {
                let text = try await client.execute(uri: "/api/v2/allocation?\(window)\(query)", method: .get, headers: u1) { response in
                    #expect(response.status == .ok, "\(query)")
                    return String(buffer: response.body)
                }
                #expect(text.contains("compute-u1-web") || query.contains("cluster") || query.contains("owner") || query.contains("label:app") || query.contains("node"), "\(query)")
                for other in ["compute-u1-x-web", "kube-system", "uid-1", "uid-2", "dns"] { #expect(!text.contains(other), "\(query) leaks \(other)") }
            }
            for filter in ["namespace:%22compute-u1-x-web%22", "namespace:%22kube-system%22", "namespace:%22compute-u1-web%22,%22compute-u1-x-web%22"] {
                try await client.execute(uri: "/api/v2/allocation?\(window)&filter=\(filter)", method: .get, headers: u1) { #expect($0.status == .forbidden, "\(filter)") }
            }
            // The cluster total a user sees is their own usage only.
            let cluster = try await client.execute(uri: "/api/v2/allocation?\(window)&aggregate=cluster", method: .get, headers: u1) {
                json($0.body) as? [String: Any]
            }
            let total = ((cluster?["data"] as? [[String: [String: Any]]])?.first?["__unallocated__"]?["cpuCoreNanoseconds"] as? Int)
            #expect(total == 3_595_000_000_000)
            // Owners, for an admin: the namespace's owner label; kube-system has none.
            let owners = try await client.execute(uri: "/api/v2/allocation?\(window)&aggregate=owner", method: .get, headers: try bearer("root", admin: true)) {
                json($0.body) as? [String: Any]
            }
            #expect(((owners?["data"] as? [[String: Any]])?.first?.keys).map(Set.init) == ["u1", "u1-x", "__unallocated__"])
            try await client.execute(uri: "/api/v2/allocation", method: .get) { #expect($0.status == .unauthorized) }
        }
    }
}
