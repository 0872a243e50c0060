#if canImport(Glibc)
import Glibc
#endif
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Kubernetes
import PodResources

/// What went wrong asking the kubelet's pod-resources API.
public struct PodResourcesError: Error, CustomStringConvertible {
    public var socket: String
    public var detail: String
    public var description: String { "pod-resources \(socket): \(detail)" }
}

/// The kubelet's pod-resources API (gRPC `v1.PodResourcesLister/List` on its unix socket,
/// GA in Kubernetes 1.28): which devices the kubelet assigned to each container. That is how
/// a container's GPU is known by its UUID even before (or without) a process using it.
public final class PodResourcesClient: Sendable {
    /// A container of a pod, as the kubelet names them.
    public struct Key: Hashable, Sendable {
        public var namespace: String
        public var pod: String
        public var container: String
        public init(namespace: String, pod: String, container: String) {
            self.namespace = namespace
            self.pod = pod
            self.container = container
        }
    }

    public let socketPath: String
    private let timeout: Duration

    public init(socketPath: String, timeout: Duration = .seconds(5)) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// Whether the socket is there (a kubelet with the API, mounted into the agent's pod).
    public var isPresent: Bool { access(socketPath, F_OK) == 0 }

    /// The GPU devices (`GPUResource.isGPU`) assigned to each container, in the kubelet's order;
    /// containers without one are left out.
    public func gpuAssignments() async throws -> [Key: [String]] {
        let response: PodResources_ListPodResourcesResponse
        do {
            let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
            response = try await withGRPCClient(transport: transport) { client in
                var options = CallOptions.defaults
                options.timeout = timeout
                return try await PodResources_PodResourcesLister.Client(wrapping: client).list(PodResources_ListPodResourcesRequest(), options: options)
            }
        } catch let error as RPCError {
            throw PodResourcesError(socket: socketPath, detail: "\(error.code): \(error.message)")
        } catch {
            throw PodResourcesError(socket: socketPath, detail: "\(error)")
        }
        var result: [Key: [String]] = [:]
        for pod in response.podResources {
            for container in pod.containers {
                let ids = container.devices.filter { GPUResource.isGPU($0.resourceName) }.flatMap(\.deviceIds)
                if !ids.isEmpty { result[Key(namespace: pod.namespace, pod: pod.name, container: container.name)] = ids }
            }
        }
        return result
    }
}
