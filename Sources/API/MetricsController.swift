import Hummingbird
import Kubernetes
import Prometheus

/// `/metrics` in the Prometheus text format, from the process's collector registry.
struct MetricsController {
    let registry: PrometheusCollectorRegistry

    func addRoutes(to router: Router<APIContext>) {
        router.get("/metrics") { _, _ -> Response in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16 * 1024)
            registry.emit(into: &bytes)
            ProcessMetrics.append(to: &bytes)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
    }
}
