import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import PodResources
import Synchronization

/// The kubelet's pod-resources API as the tests serve it: the real gRPC protocol
/// (`v1.PodResourcesLister/List`, HTTP/2 on a unix socket, grpc-swift), with scripted
/// assignments and failures.
public final class FakePodResources: PodResources_PodResourcesLister.SimpleServiceProtocol, Sendable {
    public struct Assignment: Sendable {
        public var namespace: String
        public var pod: String
        public var container: String
        public var resource: String
        public var devices: [String]
        public init(namespace: String, pod: String, container: String, resource: String, devices: [String]) {
            self.namespace = namespace
            self.pod = pod
            self.container = container
            self.resource = resource
            self.devices = devices
        }
    }

    private let state: Mutex<(assignments: [Assignment], failure: RPCError?, calls: Int)>

    public init(_ assignments: [Assignment]) {
        state = Mutex((assignments, nil, 0))
    }

    /// Every `List` from now on fails with this (nil: answers again).
    public func fail(with error: RPCError?) { state.withLock { $0.failure = error } }
    public var calls: Int { state.withLock { $0.calls } }

    public func list(request: PodResources_ListPodResourcesRequest, context: ServerContext) async throws -> PodResources_ListPodResourcesResponse {
        let (assignments, failure) = state.withLock { state in
            state.calls += 1
            return (state.assignments, state.failure)
        }
        if let failure { throw failure }
        var pods: [PodResources_PodResources] = []
        for assignment in assignments {
            let container = PodResources_ContainerResources.with {
                $0.name = assignment.container
                $0.devices = [.with { $0.resourceName = assignment.resource; $0.deviceIds = assignment.devices }]
            }
            if let index = pods.firstIndex(where: { $0.namespace == assignment.namespace && $0.name == assignment.pod }) {
                pods[index].containers.append(container)
            } else {
                pods.append(.with { $0.namespace = assignment.namespace; $0.name = assignment.pod; $0.containers = [container] })
            }
        }
        return .with { $0.podResources = pods }
    }

    /// Serves on a new unix socket around `body(socketPath)`.
    public func serving<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-podres-\(UUID().uuidString.prefix(8)).sock").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = GRPCServer(transport: .http2NIOPosix(address: .unixDomainSocket(path: path), transportSecurity: .plaintext), services: [self])
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            guard try await server.listeningAddress != nil else { throw FakeNVMLError("the pod-resources server did not listen") }
            defer { server.beginGracefulShutdown() }
            let result = try await body(path)
            server.beginGracefulShutdown()
            try await group.waitForAll()
            return result
        }
    }
}
